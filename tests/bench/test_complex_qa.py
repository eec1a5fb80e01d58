"""bench/complex_qa.py without a model: the dev-set generator on a tiny KB written here
(every answer checked against the table the KB is written from), the readers' ambiguity
rules, the scoring of each type, the summary and the table. A fake agent stands in for
kgagent's."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import complex_qa
from _complex_gen import TYPES, generate
from _complex_kb import read_metaqa, read_rdf
from _complex_words import DEMO, DEMO_ITEM_CLASS, METAQA, WORDING

# -- a tiny MetaQA-style KB -----------------------------------------------------------------

ROLES = {"directed_by": "dir", "written_by": "wri", "starred_actors": "act"}
#: title -> facts; "Remake" is two films merged under one title (two years); "Xia" is a
#: film and a writer (one node, two natures); the tag "dana" repeats a name in lower case
FILMS = {
    "Alpha": {"year": ["1990"], "dir": ["Dana"], "wri": ["Wes"], "act": ["Ann", "Bob"],
              "rating": "good", "tags": ["dana"]},
    "Beta": {"year": ["1995"], "dir": ["Dana"], "wri": ["Wes"], "act": ["Ann", "Cal"]},
    "Gamma": {"year": ["2000"], "dir": ["Dana"], "wri": ["Xia"], "act": ["Bob", "Cal"],
              "rating": "bad"},
    "Delta": {"year": ["1995"], "dir": ["Eve"], "wri": ["Wes"], "act": ["Ann"]},
    "Xia": {"year": ["2001"], "dir": ["Eve"], "wri": ["Gus"], "act": ["Cal"]},
    "Remake": {"year": ["1950", "2005"], "dir": ["Fay"], "wri": ["Gus"], "act": ["Bob"]},
    "Omega": {"year": ["2003"], "dir": ["Dana"], "wri": ["Gus"], "act": ["Ann", "Hal"]},
    "Sigma": {"year": ["1985"], "dir": ["Hal"], "wri": ["Wes"], "act": ["Cal", "Ann"],
              "rating": "good"},
}  # fmt: skip
AMBIGUOUS = {"Xia", "Remake"}


def _kb(tmp_path: Path) -> Path:
    lines = []
    for film, f in FILMS.items():
        lines += [f"{film}|release_year|{y}" for y in f["year"]]
        for rel, key in ROLES.items():
            lines += [f"{film}|{rel}|{p}" for p in f[key]]
        if "rating" in f:
            lines.append(f"{film}|has_imdb_rating|{f['rating']}")
        lines += [f"{film}|has_tags|{t}" for t in f.get("tags", [])]
    path = tmp_path / "kb.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _films(rel: str, person: str) -> set[str]:
    return {t for t, f in FILMS.items() if person in f[ROLES[rel]]}


def _year(film: str) -> int:
    (y,) = FILMS[film]["year"]
    return int(y)


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[dict]:
    g = read_metaqa(_kb(tmp_path_factory.mktemp("kb")))
    return generate(g, METAQA, n=40, seed=3)


def test_read_metaqa_marks_two_natures_and_case_variants_not_tags(tmp_path):
    g = read_metaqa(_kb(tmp_path))
    assert "Xia" in g.ambiguous and "Dana" not in g.ambiguous  # the tag "dana" is not
    assert g.value("release_year", "Remake") is None and g.value("release_year", "Beta") == "1995"
    (tmp_path / "kb2.txt").write_text("A|directed_by|Greg McLean\nB|written_by|Greg Mclean\n")
    assert read_metaqa(tmp_path / "kb2.txt").ambiguous == {"Greg McLean", "Greg Mclean"}
    (tmp_path / "bad.txt").write_text("A|directed_by|X\nA|directed_by\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2"):
        read_metaqa(tmp_path / "bad.txt")


def test_every_type_is_generated_and_no_topic_is_ambiguous(rows):
    assert {r["type"] for r in rows} == set(TYPES)
    for r in rows:
        assert r["answers"] and r["question"].strip()
        assert not AMBIGUOUS & set(r["topics"]), r
        assert not AMBIGUOUS & set(r["spec"].get("people", [r["spec"].get("person")])), r
    assert len({r["question"] for r in rows}) == len(rows)
    # Bob starred in the merged "Remake": no question about Bob's films as an actor
    assert not [r for r in rows if r["spec"].get("person") == "Bob"
                and r["spec"].get("relation") == "starred_actors"]  # fmt: skip


def test_answers_are_those_of_the_table(rows):
    for r in rows:
        s, t, gold = r["spec"], r["type"], r["answers"]
        if t == "count":
            assert gold == [str(len(_films(s["relation"], s["person"])))]
            assert int(gold[0]) >= 2
        elif t == "yes_no" and "film" in s:
            truth = s["film"] in _films(s["relation"], s["person"])
            assert gold == ["yes" if truth else "no"], r
        elif t == "yes_no":
            a, b = _year(s["a"]), _year(s["b"])
            assert a != b and gold == ["yes" if (a < b) == (s["op"] == "<") else "no"], r
        elif t == "two_constraints":
            (r1, r2), (p1, p2) = s["relations"], s["people"]
            one, two = _films(r1, p1), _films(r2, p2)
            assert set(gold) == one & two and gold
            assert len(gold) < len(one) and len(gold) < len(two)
        elif t == "value_constraint":
            mine = _films(s["relation"], s["person"])
            assert set(gold) == {f for f in mine if _year(f) == int(s["value"])}
            assert 0 < len(gold) < len(mine)
        elif t == "superlative":
            years = {f: _year(f) for f in _films(s["relation"], s["person"])}
            best = (min if s["way"] == "min" else max)(years.values())
            assert [f for f, y in years.items() if y == best] == gold, r  # unique
        elif t == "comparison":
            ya, yb = _year(s["a"]), _year(s["b"])
            assert ya != yb
            assert gold == [s["a"] if (ya < yb) == (s["way"] == "min") else s["b"]]
        else:
            film = s["subject"]
            want = (
                FILMS[film]["year"] if s["measure"] == "release_year" else [FILMS[film]["rating"]]
            )
            assert gold == want


def test_yes_no_is_balanced_in_every_form(rows):
    yn = [r for r in rows if r["type"] == "yes_no"]
    assert len(yn) >= 8
    for form in {r["form"] for r in yn}:
        c = Counter(r["answers"][0] for r in yn if r["form"] == form)
        assert c["yes"] == c["no"], (form, c)


def test_a_no_names_a_film_close_to_the_person(rows):
    for r in rows:
        s = r["spec"]
        if r["form"] == "yes_no/member" and r["answers"] == ["no"]:
            theirs = {f for rel in ROLES for f in _films(rel, s["person"])}
            mates = {p for f in theirs for k in ROLES.values() for p in FILMS[f][k]}
            near = theirs | {f for m in mates for rel in ROLES for f in _films(rel, m)}
            assert s["film"] in near, r


def test_seeded_and_deterministic(tmp_path):
    g = read_metaqa(_kb(tmp_path))
    one = generate(g, METAQA, n=40, seed=3)
    assert one == generate(read_metaqa(_kb(tmp_path)), METAQA, n=40, seed=3)
    assert one != generate(g, METAQA, n=40, seed=4)
    # a type's draw does not depend on the others'
    assert generate(g, METAQA, n=40, seed=3, types=("superlative",)) == [
        r for r in one if r["type"] == "superlative"
    ]
    assert all(len([r for r in generate(g, METAQA, n=2, seed=1) if r["type"] == t]) <= 2
               for t in TYPES)  # fmt: skip


def test_chain_chance_is_the_share_of_the_chain_that_answers(rows):
    chance = complex_qa.sizes(rows)["chain_chance"]
    assert set(chance) == {"two_constraints", "value_constraint", "superlative"}
    sup = [r for r in rows if r["type"] == "superlative"]
    want = sum(1 / len(_films(r["spec"]["relation"], r["spec"]["person"])) for r in sup)
    assert chance["superlative"] == pytest.approx(want / len(sup))
    assert 0 < chance["two_constraints"] < 1


def test_wording_covers_every_form_and_fills():
    keys = {"count", "member", "two_constraints", "value_constraint"}
    for schema in (METAQA, DEMO):
        for m in schema.measures:
            keys.add(f"value:{m.name}")
            if m.ordered:
                keys |= {f"order:{m.name}:<", f"order:{m.name}:>"}
                keys |= {f"{k}:{m.name}:{w}" for k in ("superlative", "comparison")
                         for w in ("min", "max")}  # fmt: skip
    assert keys <= set(WORDING)
    assert all(len(WORDING[k]) >= 2 for k in keys)


# -- RDF ------------------------------------------------------------------------------------

TTL = """
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix mo: <https://kgagent.dev/ontology/movies#> .
@prefix m: <https://kgagent.dev/data/movies/> .
m:a a mo:Film ; rdfs:label "Arrival"@en , "Premier Contact"@fr ; mo:releaseYear 2016 ;
    mo:runtimeMinutes "116"^^xsd:integer ; mo:directedBy m:dv .
m:b a mo:Film ; rdfs:label "Sicario"@en ; mo:releaseYear 2015 ; mo:runtimeMinutes 121 ;
    mo:directedBy m:dv .
m:d a mo:Film ; rdfs:label "Dune"@en ; mo:releaseYear 2021 ; mo:runtimeMinutes 155 ;
    mo:directedBy m:dv .
m:n rdfs:label "Dune (novel)"@en ; skos:altLabel "dune"@en .
m:dv rdfs:label "Denis Villeneuve"@en ; mo:birthYear 1967 .
"""


def test_read_rdf_labels_literals_and_shared_names(tmp_path):
    path = tmp_path / "m.ttl"
    path.write_text(TTL, encoding="utf-8")
    g = read_rdf(path, item_class=DEMO_ITEM_CLASS)
    film = "https://kgagent.dev/data/movies/a"
    assert g.label(film) == "Arrival" and g.items == {film, film[:-1] + "b", film[:-1] + "d"}
    assert g.value("https://kgagent.dev/ontology/movies#runtimeMinutes", film) == "116"
    assert {g.label(x) for x in g.ambiguous} == {"Dune", "Dune (novel)"}
    rows = generate(g, DEMO, n=10, seed=0)
    assert not [r for r in rows if "Dune" in r["topics"]]
    values = {(r["topics"][0], r["form"]): r["answers"] for r in rows if r["type"] == "value"}
    assert values.get(("Denis Villeneuve", "value/birth")) == ["1967"]
    sup = [r for r in rows if r["form"] == "superlative/runtime:max"]
    assert sup and sup[0]["answers"] == ["Dune"]  # an answer may share its name


# -- scoring --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qtype", "predicted", "gold", "correct"),
    [
        ("count", ["7"], ["7"], True),
        ("count", ["7.0"], ["7"], True),
        ("count", ["Jaws", "Heat"], ["2"], False),
        ("count", [], ["2"], False),
        ("yes_no", ["Yes"], ["yes"], True),
        ("yes_no", ["no"], ["yes"], False),
        ("yes_no", ["Jaws"], ["no"], False),
        ("value", ["1,994"], ["1994"], True),
        ("value", ["1994.0", "2001"], ["1994"], True),
        ("value", ["2001", "1994"], ["1994"], False),
        ("value", ["Good"], ["good"], True),
        ("superlative", ["the  godfather"], ["The Godfather"], True),
        ("comparison", ["Heat"], ["Jaws"], False),
    ],
)
def test_score_by_type(qtype, predicted, gold, correct):
    assert complex_qa.score(qtype, predicted, gold)["correct"] is correct


def test_score_entities_hits_and_f1():
    s = complex_qa.score("two_constraints", ["A", "X", "B"], ["a", "b"])
    assert s["hits_at_1"] == 1.0 and s["f1"] == pytest.approx(2 * 2 / 5) and s["correct"]
    s = complex_qa.score("value_constraint", ["X", "A"], ["A"])
    assert s["hits_at_1"] == 0.0 and s["f1"] == pytest.approx(2 / 3) and not s["correct"]
    assert complex_qa.score("value_constraint", [], ["A"]) == {
        "abstained": True, "hits_at_1": 0.0, "f1": 0.0, "correct": False}  # fmt: skip
    assert "f1" not in complex_qa.score("count", ["1"], ["1"])
    with pytest.raises(ValueError, match="type"):
        complex_qa.score("ranking", ["1"], ["1"])


def test_normalize():
    assert complex_qa.normalize(" 1,994.50 ") == "1994.5"
    assert complex_qa.normalize("100") == "100" and complex_qa.normalize("1,2") == "1,2"
    assert complex_qa.normalize("Yes.") == "yes"


# -- asking, summary, table -------------------------------------------------------------------


class FakeAgent:
    """Answers every question with its first word, after 5 ms per question."""

    def __init__(self):
        self.batches, self.single = [], 0

    def _answer(self, q):
        d = {"answers": [q.split()[0]], "latency_ms": 5.0, "abstained": False, "text": q}
        return SimpleNamespace(to_dict=lambda: d)

    def ask_batch(self, qs):
        self.batches.append(len(qs))
        return [self._answer(q) for q in qs]

    def ask(self, q):
        self.single += 1
        return self._answer(q)


def test_ask_all_and_summarize():
    rows = [
        {"question": "7 films", "type": "count", "answers": ["7"]},
        {"question": "no way", "type": "yes_no", "answers": ["yes"]},
        {"question": "Heat or Jaws", "type": "comparison", "answers": ["Heat"]},
        {"question": "3 times", "type": "count", "answers": ["4"]},
    ]
    agent = FakeAgent()
    preds = complex_qa.ask_all(agent, rows, chunk=3, latency_n=1)
    assert agent.batches == [3, 1] and agent.single == 3  # one per type
    assert [p["answers"] for p in preds] == [["7"], ["no"], ["Heat"], ["3"]]
    s = complex_qa.summarize(rows, preds)
    assert s["types"]["count"]["accuracy"] == 0.5 and s["types"]["count"]["questions"] == 2
    assert s["types"]["yes_no"]["accuracy"] == 0.0
    assert s["types"]["comparison"]["hits_at_1"] == 1.0 and s["types"]["comparison"]["f1"] == 1
    assert s["macro_accuracy"] == pytest.approx((0.5 + 0 + 1) / 3)
    count = s["types"]["count"]
    assert count["batch_ms_per_question"] == 5.0 and count["latency_timed"] == 1
    assert count["latency_p50_ms"] == preds[0]["ask_ms"] and "ask_ms" not in preds[3]
    assert s["latency_p50_ms"] is not None


def test_render_has_a_row_per_type_and_both_passes():
    rows = [{"type": t} for t in TYPES]
    passes = {}
    for name, acc in (("llm", 0.5), ("no_llm", 0.25)):
        types = {t: {"questions": 1, "accuracy": acc, "abstention_rate": 0.0,
                     "latency_p50_ms": 12.0, "latency_p95_ms": 30.0} for t in TYPES}  # fmt: skip
        types["superlative"]["f1"] = acc
        passes[name] = {"types": types, "macro_accuracy": acc, "latency_p50_ms": 12.0,
                        "latency_p95_ms": 30.0}  # fmt: skip
    sized = [{**r, "form": "x", "answers": ["a"], "spec": {"chain": [4]}} for r in rows]
    results = {"passes": passes, "dataset": complex_qa.sizes(sized)}
    text = complex_qa.render(results)
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + len(TYPES) + 1 and len({ln.count("|") for ln in lines}) == 1
    assert "| superlative | 1 | 0.25 | 0.50 | 0.50 | 0.00 | 0.25 | 0.25 | 0.00 | 12 | 30 |" in text
    assert "| count | 1 | 0.25 | 0.50 | – | 0.00 | 0.25 | – |" in text
    only = {**results, "passes": {"no_llm": passes["no_llm"]}}
    assert "(llm)" not in complex_qa.render(only)


def test_generate_only_writes_the_jsonl(tmp_path, capsys):
    out = tmp_path / "dev.jsonl"
    argv = ["--kb", "metaqa", "--kb-file", str(_kb(tmp_path)), "--generate-only", str(out)]
    assert complex_qa.main([*argv, "-n", "3", "--seed", "1"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["type"] for r in rows} == set(TYPES)
    assert all(set(r) >= {"question", "type", "answers", "topics"} for r in rows)
    assert all(isinstance(a, str) for r in rows for a in r["answers"])
    with pytest.raises(SystemExit):
        complex_qa.main(["--kb", "metaqa", "-n", "0", "--generate-only", str(out)])


def test_main_measures_both_passes_and_dumps(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_pass(ws, rows, *, llm, chunk, latency_n):
        calls.append((ws, llm, chunk))
        preds = complex_qa.ask_all(FakeAgent(), rows, chunk=chunk, latency_n=latency_n)
        return complex_qa.summarize(rows, preds), preds

    monkeypatch.setattr(complex_qa, "run_pass", fake_pass)
    dump = tmp_path / "dump.jsonl"
    argv = ["--kb", "metaqa", "--kb-file", str(_kb(tmp_path)), "--ws", str(tmp_path / "ws"),
            "-n", "2", "--dry-run", "--dump", str(dump), "--chunk", "5"]  # fmt: skip
    assert complex_qa.main(argv) == 0
    assert [c[1] for c in calls] == [True, False] and calls[0][2] == 5
    out = capsys.readouterr().out
    assert "| type | questions | chance | accuracy (llm)" in out and "| count | 2 |" in out
    rows = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    assert set(rows[0]["predicted"]) == {"llm", "no_llm"}
    assert rows[0]["predicted"]["llm"] == [rows[0]["question"].split()[0]]


def test_merge_keeps_an_earlier_pass_on_the_same_questions(tmp_path, monkeypatch):
    monkeypatch.setattr(complex_qa, "RESULTS", tmp_path)
    passes = {"llm": {"macro_accuracy": 0.5}, "no_llm": {"macro_accuracy": 0.1}}
    old = {"kb": "demo", "workspace": "W", "dataset": {"sha256": "s"}, "passes": passes}
    (tmp_path / "complex_qa_demo.json").write_text(json.dumps(old))
    new = {**old, "passes": {"no_llm": {"macro_accuracy": 0.2}}}
    merged = complex_qa.merge_previous(json.loads(json.dumps(new)))
    assert merged["passes"] == {"llm": {"macro_accuracy": 0.5}, "no_llm": {"macro_accuracy": 0.2}}
    other = {**new, "dataset": {"sha256": "t"}}
    assert complex_qa.merge_previous(json.loads(json.dumps(other)))["passes"] == new["passes"]


def test_the_generator_shares_no_code_with_kgagent():
    """Its answers are an independent check of the agent's: no kgagent import at all."""
    import ast

    bench = Path(complex_qa.__file__).parent
    for name in ("_complex_gen.py", "_complex_kb.py", "_complex_words.py"):
        tree = ast.parse((bench / name).read_text(encoding="utf-8"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not [m for m in imported if m.split(".")[0] == "kgagent"], name
