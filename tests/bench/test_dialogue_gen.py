"""bench/dialogue.py without a model: the conversation generator on a tiny KB written
here (every turn's answers recomputed from the table the KB is written from, and tied to
the turn before it), the wording, the scoring, the summary and the table. A fake agent
stands in for kgagent's conversations."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import dialogue
from _complex_kb import read_metaqa, read_rdf
from _complex_words import DEMO_ITEM_CLASS, WORDING
from _dialogue_gen import KINDS, MAX_ANSWERS, generate
from _dialogue_words import DEMO_TALK, METAQA_TALK, SWITCH_OPENERS, TURNS

# -- a tiny MetaQA-style KB -----------------------------------------------------------------

RELATIONS = {
    "directed_by": "dir",
    "written_by": "wri",
    "starred_actors": "act",
    "release_year": "year",
    "has_genre": "genre",
    "in_language": "lang",
}
#: title -> facts; "Remake" is two films merged under one title (two years); "Xia" is a
#: film and a writer (one node, two natures)
FILMS = {
    "Alpha": {"year": ["1990"], "dir": ["Dana"], "wri": ["Wes"], "act": ["Ann", "Bob"],
              "genre": ["Drama"], "lang": ["English"]},
    "Beta": {"year": ["1995"], "dir": ["Dana"], "wri": ["Wes"], "act": ["Ann", "Cal"],
             "genre": ["Comedy"], "lang": ["English", "French"]},
    "Gamma": {"year": ["2000"], "dir": ["Dana"], "wri": ["Xia"], "act": ["Bob", "Cal"],
              "genre": ["Drama", "Crime"], "lang": ["English"]},
    "Delta": {"year": ["1995"], "dir": ["Eve"], "wri": ["Wes"], "act": ["Ann"],
              "genre": ["Comedy"], "lang": ["French"]},
    "Xia": {"year": ["2001"], "dir": ["Eve"], "wri": ["Gus"], "act": ["Cal"],
            "genre": ["Horror"], "lang": ["English"]},
    "Remake": {"year": ["1950", "2005"], "dir": ["Fay"], "wri": ["Gus"], "act": ["Bob"],
               "genre": ["Drama"], "lang": ["English"]},
    "Omega": {"year": ["2003"], "dir": ["Dana"], "wri": ["Gus"], "act": ["Ann", "Hal"],
              "genre": ["Comedy"], "lang": ["English"]},
    "Sigma": {"year": ["1985"], "dir": ["Hal"], "wri": ["Wes"], "act": ["Cal", "Ann"],
              "genre": ["Drama"], "lang": ["French"]},
    "Kappa": {"year": ["1995"], "dir": ["Ivy"], "wri": ["Ivy"], "act": ["Ann", "Jon"],
              "genre": ["Crime"], "lang": ["German"]},
    "Lambda": {"year": ["2003"], "dir": ["Ivy"], "wri": ["Wes"], "act": ["Jon"],
               "genre": ["Comedy"], "lang": ["English"]},
}  # fmt: skip
AMBIGUOUS = {"Xia"}
MERGED = {"Remake"}
N = 5


def _kb(tmp_path: Path) -> Path:
    lines = [f"{film}|{rel}|{x}" for film, f in FILMS.items()
             for rel, key in RELATIONS.items() for x in f[key]]  # fmt: skip
    path = tmp_path / "kb.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _objects(relation: str, node: str) -> set[str]:
    return set(FILMS[node][RELATIONS[relation]]) if node in FILMS else set()


def _subjects(relation: str, node: str) -> set[str]:
    return {f for f in FILMS if node in _objects(relation, f)}


def _recompute(spec: dict) -> set[str]:
    """A turn's answer from its spec, over the table (not the Graph the generator read)."""
    rel, subjects = spec["relation"], set(spec["subjects"])
    if "within" in spec:
        out = {f for f in spec["within"] if _objects(rel, f) & subjects}
    else:
        walk = _subjects if spec["inverse"] else _objects
        out = set().union(*(walk(rel, s) for s in subjects))
    return out - set(spec.get("exclude", []))


@pytest.fixture(scope="module")
def convs(tmp_path_factory) -> list[dict]:
    g = read_metaqa(_kb(tmp_path_factory.mktemp("kb")))
    return generate(g, METAQA_TALK, n=N, seed=3)


def _follow_ups(convs):
    """(turns before, previous turn, turn) for every follow-up."""
    return [(c["gold"][:i], c["gold"][i - 1], c["gold"][i])
            for c in convs for i in range(1, len(c["gold"]))]  # fmt: skip


# -- the conversations ----------------------------------------------------------------------


def test_kinds_are_balanced_and_shaped(convs):
    assert Counter(c["kind"] for c in convs) == {k: N for k in KINDS}
    for c in convs:
        kinds = [t["kind"] for t in c["gold"]]
        assert kinds[0] == "first" and kinds[1] == c["kind"], c
        assert len(kinds) in (2, 3) and set(kinds[1:]) <= set(KINDS)
        assert c["turns"] == [t["question"] for t in c["gold"]]
        assert all(isinstance(q, str) and q.strip() for q in c["turns"])
    assert Counter(len(c["turns"]) for c in convs)[3] >= len(KINDS) * (N // 2)
    turns = Counter(t["kind"] for c in convs for t in c["gold"][1:])
    assert set(turns) == set(KINDS) and max(turns.values()) - min(turns.values()) <= N


def test_every_answer_is_recomputed_from_the_table(convs):
    for c in convs:
        for t in c["gold"]:
            nodes = _recompute(t["spec"])
            assert set(t["spec"]["nodes"]) == nodes, t
            assert sorted(nodes) == t["answers"], t  # a MetaQA node is its name
            assert 0 < len(nodes) <= MAX_ANSWERS
            assert not nodes & MERGED, t


def test_follow_ups_take_what_the_state_holds(convs):
    for earlier, prev, t in _follow_ups(convs):
        spec, before = t["spec"], prev["spec"]
        if t["kind"] == "reference":  # the previous answer, all of it
            assert set(spec["subjects"]) == set(before["nodes"]) == set(t["uses"]), (prev, t)
            if t["form"] == "reference/else":  # the film the person was found in, left out
                assert spec["exclude"] == before["subjects"] and not before["inverse"]
                assert spec["relation"] == before["relation"]
        elif t["kind"] == "ellipsis":  # the previous topic, another relation
            assert len(before["subjects"]) == 1 and "within" not in before, prev
            assert spec["subjects"] == before["subjects"] == t["uses"], (prev, t)
            assert (spec["relation"], spec["inverse"]) != (before["relation"], before["inverse"])
            left_out = set(before.get("exclude", []))  # after "what else": both readings agree
            assert "exclude" not in spec and not left_out & set(spec["nodes"]), (prev, t)
        elif t["kind"] == "refinement":  # the previous films, strictly fewer
            assert set(spec["within"]) == set(before["nodes"]) == set(t["uses"]), (prev, t)
            assert 0 < len(spec["nodes"]) < len(before["nodes"]), (prev, t)
            assert all(f in FILMS for f in spec["within"])
        if t["kind"] in ("ellipsis", "switch"):  # the last answer repeated would not score
            assert t["answers"] != prev["answers"], (prev, t)
        if t["kind"] == "switch":  # a new topic: nothing named or answered before, nothing used
            assert t["uses"] == [] and len(t["topics"]) == 1
            named = {x for u in earlier for x in u["topics"] + u["answers"]}
            assert t["topics"][0] not in named, (earlier, t)


def test_every_follow_up_kind_and_several_forms_occur(convs):
    forms = {t["form"] for c in convs for t in c["gold"]}
    for kind in KINDS:
        assert len({f for f in forms if f.startswith(kind + "/")}) >= 2, (kind, forms)
    assert "reference/else" in forms


def test_singular_references_point_at_single_answers(convs):
    refs = [(p, t) for _, p, t in _follow_ups(convs) if t["kind"] == "reference"]
    assert {t["form"].endswith("+") for _, t in refs} == {True, False}
    # a reference conversation refers to one answer or to several, in pairs, in turn
    plural = [c["gold"][1]["form"].endswith("+") for c in convs if c["kind"] == "reference"]
    assert plural == [(i // 2) % 2 == 1 for i in range(N)]
    for prev, t in refs:
        words = set(re.findall(r"[a-z]+", t["question"].lower()))
        if t["form"].endswith("+"):
            assert len(prev["answers"]) >= 2 and len(t["uses"]) >= 2, t
            assert not words & {"it", "this", "that"}, t
        else:
            assert len(prev["answers"]) == 1 and len(t["uses"]) == 1, t
            assert not words & {"those", "these", "them"}, t


def test_no_topic_is_ambiguous_or_merged(convs):
    for c in convs:
        for t in c["gold"]:
            assert not (AMBIGUOUS | MERGED) & set(t["topics"]), t
            if t["kind"] in ("ellipsis", "refinement"):
                assert not MERGED & set(t["uses"])
    # the questions name their topics
    for c in convs:
        for t in c["gold"]:
            assert all(x in t["question"] for x in t["topics"]), t


def test_a_question_says_its_relation_and_its_constraint(convs):
    words = {r.relation: r for r in METAQA_TALK.schema.roles}
    for c in convs:
        for t in c["gold"]:
            role = words.get(t["spec"]["relation"])
            if role is not None:
                crew = METAQA_TALK.crew(role.relation)
                said = (role.base, role.past, role.perfect, role.by, role.title, crew.noun)
                assert any(w in t["question"] for w in said), t
            if t["kind"] == "refinement":
                assert t["spec"]["subjects"][0] in t["question"], t


def test_seeded_and_deterministic(tmp_path, convs):
    g = read_metaqa(_kb(tmp_path))
    assert generate(g, METAQA_TALK, n=N, seed=3) == convs
    assert generate(read_metaqa(_kb(tmp_path)), METAQA_TALK, n=N, seed=3) == convs
    assert generate(g, METAQA_TALK, n=N, seed=4) != convs
    # a kind's conversations do not depend on the other kinds'
    only = generate(g, METAQA_TALK, n=N, seed=3, kinds=("refinement",))
    assert only == [c for c in convs if c["kind"] == "refinement"]
    # within a kind, no first question is asked twice (in any wording)
    for kind in KINDS:
        firsts = [json.dumps(c["gold"][0]["spec"]) for c in convs if c["kind"] == kind]
        assert len(firsts) == len(set(firsts))


def test_a_switch_opener_keeps_the_question_readable(convs):
    switches = [t for c in convs for t in c["gold"] if t["kind"] == "switch"]
    assert switches
    for t in switches:
        assert t["question"][0].isupper() and t["question"].endswith(("?", ".")), t


# -- wording --------------------------------------------------------------------------------


def _keys(talk) -> set[str]:
    steps = ["films", "people"]
    steps += [f"value:{m}" for m in talk.measures] + [f"facet:{x.name}" for x in talk.facets]
    keys = {f"first:{s}" for s in steps} | {f"ell:{s}" for s in steps}
    keys |= {"ref:else", "ell:films:as", "refine:crew", f"refine:value:{talk.schema.year}"}
    keys |= {f"ref:{s}" for s in steps} | {f"ref:{s}+" for s in steps}
    keys |= {f"refine:facet:{x.name}" for x in talk.facets}
    return keys


@pytest.mark.parametrize("talk", [METAQA_TALK, DEMO_TALK])
def test_wording_covers_every_turn_and_fills(talk):
    keys = _keys(talk)
    missing = {k for k in keys if k not in TURNS}
    assert not missing, missing
    assert {c.relation for c in talk.crews} == {r.relation for r in talk.schema.roles}
    slots = (
        "p f v item items Items base past perfect by title crew crews a_crew crew_n crew0 crews0"
    )
    full = {slot: slot.upper() for slot in slots.split()}
    for key in keys:
        assert len(TURNS[key]) >= 2 or key.startswith("ell:films:"), key
        for template in TURNS[key]:
            assert template.format(**full).strip(), (key, template)


def test_wording_is_its_own():
    """Not complex_qa's phrasings, and no two keys share one."""
    mine = [x for v in TURNS.values() for x in v]
    assert len(mine) == len(set(mine))
    assert not set(mine) & {x for v in WORDING.values() for x in v}
    assert all(o == "" or o.endswith(" ") for o in SWITCH_OPENERS)


# -- RDF --------------------------------------------------------------------------------------

TTL = """
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix mo: <https://kgagent.dev/ontology/movies#> .
@prefix m: <https://kgagent.dev/data/movies/> .
m:a a mo:Film ; rdfs:label "Arrival"@en ; mo:releaseYear 2016 ; mo:runtimeMinutes 116 ;
    mo:directedBy m:dv ; mo:starring m:amy ; mo:hasGenre m:scifi ; mo:inLanguage m:en .
m:b a mo:Film ; rdfs:label "Sicario"@en ; mo:releaseYear 2015 ; mo:runtimeMinutes 121 ;
    mo:directedBy m:dv ; mo:starring m:emily ; mo:hasGenre m:crime ; mo:inLanguage m:en , m:es .
m:d a mo:Film ; rdfs:label "Dune"@en ; mo:releaseYear 2021 ; mo:runtimeMinutes 155 ;
    mo:directedBy m:dv ; mo:starring m:tim ; mo:hasGenre m:scifi ; mo:inLanguage m:en .
m:e a mo:Film ; rdfs:label "Enemy"@en ; mo:releaseYear 2013 ; mo:runtimeMinutes 91 ;
    mo:directedBy m:dv ; mo:starring m:jake ; mo:hasGenre m:thriller ; mo:inLanguage m:en .
m:n rdfs:label "Dune (novel)"@en ; skos:altLabel "dune"@en .
m:dv rdfs:label "Denis Villeneuve"@en ; mo:birthYear 1967 .
m:amy rdfs:label "Amy Adams"@en ; mo:birthYear 1974 .
m:emily rdfs:label "Emily Blunt"@en .
m:tim rdfs:label "Timothée Chalamet"@en .
m:jake rdfs:label "Jake Gyllenhaal"@en ; mo:birthYear 1980 .
m:scifi rdfs:label "Science fiction"@en .
m:crime rdfs:label "Crime"@en .
m:thriller rdfs:label "Thriller"@en .
m:en rdfs:label "English"@en .
m:es rdfs:label "Spanish"@en .
"""


def test_rdf_answers_are_names_and_shared_names_are_no_topic(tmp_path):
    path = tmp_path / "m.ttl"
    path.write_text(TTL, encoding="utf-8")
    convs = generate(read_rdf(path, item_class=DEMO_ITEM_CLASS), DEMO_TALK, n=4, seed=1)
    assert {c["kind"] for c in convs} == set(KINDS)
    turns = [t for c in convs for t in c["gold"]]
    assert not [a for t in turns for a in t["answers"] + t["uses"] if a.startswith("http")]
    assert not [t for t in turns if "Dune" in t["topics"]]
    births = {t["answers"][0] for t in turns if t["form"].endswith("value:birth")}
    assert births <= {"1967", "1974", "1980"}
    genres = [t for t in turns if t["form"].endswith("facet:genre") and t["kind"] != "refinement"]
    assert genres
    assert all(set(t["answers"]) <= {"Science fiction", "Crime", "Thriller"} for t in genres)


# -- scoring, asking, summary, table ------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "gold", "hits", "f1"),
    [
        (["Beta", "Alpha"], ["Alpha"], 0.0, 2 / 3),
        (["alpha "], ["Alpha"], 1.0, 1.0),
        (["1,995"], ["1995"], 1.0, 1.0),
        (["X", "Y"], ["Alpha", "Beta"], 0.0, 0.0),
        ([], ["Alpha"], 0.0, 0.0),
    ],
)
def test_score(predicted, gold, hits, f1):
    s = dialogue.score(predicted, gold)
    assert s["hits_at_1"] == hits and s["f1"] == pytest.approx(f1)
    assert s["abstained"] is (not predicted)


class FakeConversation:
    """Answers its turns from a script, in order."""

    def __init__(self, script, log):
        self.script, self.log = list(script), log

    def ask(self, q):
        self.log.append(("turn", q))
        d = {"answers": self.script.pop(0), "kind": "entities", "context": {"turn": 0}}
        return SimpleNamespace(to_dict=lambda: d)


class FakeAgent:
    """Each conversation answers with the next script; a single ``ask`` from a table."""

    def __init__(self, scripts, table):
        self.scripts, self.table, self.log = list(scripts), table, []

    def conversation(self):
        self.log.append(("conversation", None))
        return FakeConversation(self.scripts.pop(0), self.log)

    def ask(self, q):
        self.log.append(("single", q))
        d = {"answers": self.table.get(q, []), "kind": "entities"}
        return SimpleNamespace(to_dict=lambda: d)


def _fake(convs, wrong=()):
    """An agent that answers every turn right but those in ``wrong`` ((conv, turn))."""
    scripts = [[["nothing"] if (i, j) in wrong else t["answers"] for j, t in enumerate(c["gold"])]
               for i, c in enumerate(convs)]  # fmt: skip
    return FakeAgent(scripts, {c["turns"][0]: c["gold"][0]["answers"] for c in convs})


def test_converse_and_summarize(convs):
    agent = _fake(convs[:3])
    preds = dialogue.converse(agent, convs[:3])
    # single ask before the conversation, then after it, alternately
    assert agent.log[0] == ("single", convs[0]["turns"][0]) and agent.log[1][0] == "conversation"
    second = agent.log[len(convs[0]["turns"]) + 2 :]
    assert second[0][0] == "conversation" and second[len(convs[1]["turns"]) + 1][0] == "single"
    assert preds[0]["turns"][0]["context"] == {"turn": 0}
    wrong = next(i for i, c in enumerate(convs) if c["kind"] == "refinement")
    preds = dialogue.converse(_fake(convs, {(wrong, 1)}), convs)
    s = dialogue.summarize(convs, preds)
    turns = Counter(t["kind"] for c in convs for t in c["gold"])
    assert {k: m["turns"] for k, m in s["kinds"].items()} == dict(turns)
    assert s["kinds"]["first"]["hits_at_1"] == 1.0 and s["single"]["hits_at_1"] == 1.0
    assert s["kinds"]["refinement"]["hits_at_1"] == pytest.approx(1 - 1 / turns["refinement"])
    assert s["kinds"]["reference"]["f1"] == 1.0
    assert s["follow_up_hits_at_1"] == pytest.approx((3 + 1 - 1 / turns["refinement"]) / 4)
    assert s["cost_ratio_p50"] is not None and s["kinds"]["switch"]["latency_p50_ms"] >= 0


def test_a_kgagent_without_conversations_is_told_plainly():
    class Old:
        def ask(self, q):
            raise AssertionError("never asked")

    with pytest.raises(SystemExit, match="conversation"):
        dialogue.converse(Old(), [{"turns": ["Who directed Alpha?"]}])
    dialogue.require_conversations(FakeAgent([], {}))  # no error


def test_render_has_a_row_per_kind_and_both_passes(convs):
    preds = dialogue.converse(_fake(convs), convs)
    summary = dialogue.summarize(convs, preds)
    results = {"dataset": dialogue.sizes(convs), "passes": {"llm": summary, "no_llm": summary}}
    text = dialogue.render(results)
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + len(dialogue.TURN_KINDS) + 2
    assert len({ln.count("|") for ln in lines}) == 1
    assert "| single ask (first questions) |" in text and "(no_llm)" in text
    only = {**results, "passes": {"no_llm": summary}}
    assert "(llm)" not in dialogue.render(only)


def test_generate_only_writes_the_jsonl(tmp_path):
    out = tmp_path / "dev.jsonl"
    argv = ["--kb", "metaqa", "--kb-file", str(_kb(tmp_path)), "--generate-only", str(out)]
    assert dialogue.main([*argv, "-n", "2", "--seed", "1"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert Counter(r["kind"] for r in rows) == {k: 2 for k in KINDS}
    assert all(set(r) == {"kind", "turns", "gold"} for r in rows)
    sized = dialogue.sizes(rows)
    assert sized["conversations"] == {k: 2 for k in KINDS} and sized["turns"]["first"] == 8
    with pytest.raises(SystemExit):
        dialogue.main(["--kb", "metaqa", "-n", "0", "--generate-only", str(out)])


def test_the_generator_shares_no_code_with_kgagent():
    """Its answers are an independent check of the agent's: no kgagent import at all."""
    import ast

    bench = Path(dialogue.__file__).parent
    for name in ("_dialogue_gen.py", "_dialogue_words.py"):
        tree = ast.parse((bench / name).read_text(encoding="utf-8"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not [m for m in imported if m.split(".")[0] == "kgagent"], name
