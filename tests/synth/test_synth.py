"""Question synthesis: grammatical questions, complete answers checked against the
graph with SPARQL, type-consistent chains, kga:question, determinism, the report."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from kgagent.kg.terms import iri_of
from kgagent.qa import QAItem
from kgagent.retrieval.verbalize import format_literal
from kgagent.synth import SynthItem, synthesize, synthesize_items, synthesize_report

MO = "https://kgagent.dev/ontology/movies#"
_BROKEN = re.compile(
    r"[{}<>@|_]|\s\s|\b(\w+) \1\b|\bby of\b|\bof of\b|\bof by\b|\bthe the\b|\ba an?\b|\ban a\b"
    r"|\bthe (is|are|was|were|has|have)\b|\bis are\b|\bare is\b|\bwhat who\b"
)


@pytest.fixture(scope="module")
def movie_items(movies):
    return synthesize_report(movies, n=300, seed=0)


@pytest.fixture(scope="module")
def tiny_items(tiny):
    return synthesize_items(tiny, n=40, seed=0)


def _expected(kg, item: SynthItem) -> set[str]:
    """The chain's answers from the graph by SPARQL: simple paths from the topic (no
    entity twice, as the pipeline walks), labelled as the reader shows them."""
    nodes = [f"<{item.topic_iri}>"] + [f"?n{i}" for i in range(1, item.hops + 1)]
    patterns = [
        f"{nodes[i + 1]} <{p}> {nodes[i]} ." if inv else f"{nodes[i]} <{p}> {nodes[i + 1]} ."
        for i, (p, inv) in enumerate(zip(item.relations, item.inverse, strict=True))
    ]
    distinct = [f"{a} != {b}" for j, b in enumerate(nodes) for a in nodes[:j] if b != a]
    sparql = (
        f"SELECT DISTINCT {nodes[-1]} WHERE {{ {' '.join(patterns)} "
        f"FILTER({' && '.join(distinct)}) }}"
    )
    out = set()
    for (term,) in kg.select_rows(sparql):
        if type(term).__name__ == "Literal":
            out.add(format_literal(term.value, term.datatype.value))
        else:
            out.add(kg.ontology.label(term.value))
    return out


def _check_grammar(items: list[SynthItem], brackets: bool = False) -> None:
    for it in items:
        q = it.question
        assert not _BROKEN.search(re.sub(re.escape(it.topic_label), "X", q, flags=re.I)), q
        assert it.topic_label.lower() in q.lower(), q
        assert ("[" in q) == brackets, q
        assert q[0].isalnum() or q[0] == "[", q


# -- answers ------------------------------------------------------------------------------


def test_answers_are_complete_correct_and_leave_out_the_topic(movies, movie_items, tiny,
                                                               tiny_items):  # fmt: skip
    for agent, items in ((movies, movie_items[0]), (tiny, tiny_items)):
        assert items
        for it in items:
            assert 0 < len(it.answers) <= 30
            assert set(it.answers) == _expected(agent.kg, it), it
            assert it.topic_label not in it.answers, it


def test_multi_hop_questions_exist_at_every_hop(movie_items):
    report = movie_items[1]
    assert set(report.per_hop) == {1, 2, 3}
    assert report.per_hop[1] == 210 and report.per_hop[2] + report.per_hop[3] == 90


# -- phrasing -----------------------------------------------------------------------------


def test_questions_are_grammatical_and_name_their_topic(movie_items, tiny_items, tiny):
    _check_grammar(movie_items[0])
    _check_grammar(tiny_items)
    _check_grammar(synthesize_items(tiny, n=30, seed=1, brackets=True), brackets=True)
    # the tiny graph's relations are identifiers: directed_by is read as "directed by"
    assert not any("directed_by" in it.question or "has_" in it.question for it in tiny_items)


def test_the_answer_class_picks_the_question_word(movie_items):
    items = movie_items[0]
    directors = [it for it in items if it.relations == (MO + "directedBy",) and not it.inverse[0]]
    worded = [it.question.lower() for it in directors if "kga" not in it.template]
    assert any(re.search(r"\bwho(m)?\b", q) for q in worded), worded
    assert not any(re.match(r"what (is|was|are|were) the director", q) for q in worded)
    years = [it.question.lower() for it in items if it.relations[-1] == MO + "releaseYear"]
    assert years and all(re.match(r"^\d{4}$", a) for it in items
                         if it.relations[-1] == MO + "releaseYear" for a in it.answers)  # fmt: skip
    films = [it.question.lower() for it in items if it.relations == (MO + "directedBy",)
             and it.inverse[0]]  # fmt: skip
    assert not any(q.startswith("who ") for q in films), films


def test_a_years_question_can_ask_when(tiny):
    items = synthesize_items(tiny, n=200, seed=3, multi_hop=0.0)
    released = [it.question.lower() for it in items if it.relations[-1].endswith("release_year")
                and not it.inverse[-1]]  # fmt: skip
    assert any(q.startswith(("when was", "what year was", "in which year was")) for q in released)


def test_many_templates_per_chain_shape(movie_items):
    items, report = movie_items
    frames = {t.split(":")[0] for t in report.template_counts}
    assert {"q.subj", "q.front", "q.echo", "q.role", "cmd", "np"} <= frames
    assert report.templates >= 60
    one_hop = Counter(it.template for it in items if it.hops == 1)
    assert len(one_hop) >= 30


def test_kga_question_annotations_are_honoured(movies):
    items = synthesize_items(movies, n=400, seed=2)
    asked = [it for it in items if it.template.startswith("q.annotation")]
    assert asked
    for it in asked:
        q = it.question.lower()
        assert "sat in the director's chair for" in q or "name a picture" in q, q
        assert it.relations[-1] == MO + "directedBy"
    forward = [it for it in asked if not it.inverse[-1] and it.hops == 1]
    assert any(it.question.lower().rstrip("?") == "who sat in the director's chair for "
               + it.topic_label.lower() for it in forward)  # fmt: skip


# -- chains -------------------------------------------------------------------------------


def _root_classes(onto, classes):
    return {c for x in classes for c in [x, *onto.ancestors(x)] if not onto.classes[c].parents}


def test_chains_are_type_consistent(movies, movie_items):
    onto = movies.kg.ontology

    def declared(p, attr):
        for q in [p, *onto.super_properties(p)]:
            found = getattr(onto.properties[q], attr) if q in onto.properties else []
            if found:
                return found
        return []

    multi = [it for it in movie_items[0] if it.hops > 1]
    assert multi
    for it in multi:
        hops = list(zip(it.relations, it.inverse, strict=True))
        for (p, inv), (q, inv2) in itertools.pairwise(hops):
            answers = declared(p, "domains" if inv else "ranges")
            starts = declared(q, "ranges" if inv2 else "domains")
            assert _root_classes(onto, answers) & _root_classes(onto, starts), it
            assert onto.properties[p].kind == "object", it  # values only at the end
        for (p, inv), (q, inv2), (r, inv3) in zip(hops, hops[1:], hops[2:], strict=False):
            assert not (p == q == r and inv != inv2 != inv3), it  # no zigzag


def test_an_untyped_graph_keeps_homonyms_out_of_chains(homonyms):
    from kgagent.retrieval.verbalize import Verbalizer
    from kgagent.synth.chains import chain_graph
    from kgagent.synth.lexicon import Lexicon

    r = homonyms.retriever
    onto = homonyms.kg.ontology
    lex = Lexicon(chain_graph(r, onto), onto, Verbalizer(onto), list(r.relation_terms))
    R = lex.num_relations
    rel = {iri_of(t).rsplit("/", 1)[-1]: i for i, t in enumerate(r.relation_terms)}
    genre, directed, starred = rel["has_genre"], rel["directed_by"], rel["starred_actors"]
    shapes = set(lex.shapes(2)[2])
    assert (genre, directed) not in shapes  # a genre is not a film, though one is named so
    assert (directed + R, genre) in shapes  # the films of a director have genres
    assert (directed, starred + R) in shapes  # directors who also act
    items = synthesize_items(homonyms, n=60, seed=0)
    genre_then_director = ((r.relation_terms[genre][1:-1], r.relation_terms[directed][1:-1]),
                           (False, False))  # fmt: skip
    assert all((it.relations[:2], it.inverse[:2]) != genre_then_director for it in items)


def test_sampling_is_even_over_relations_not_proportional_to_facts(movie_items):
    items, report = movie_items
    one_hop = Counter((it.relations, it.inverse) for it in items if it.hops == 1)
    assert len(one_hop) >= 0.8 * report.shapes_available[1]
    # starring has ten times the facts of sequelOf, yet no chain is asked much more often
    assert max(one_hop.values()) <= 2 * 210 / report.shapes_available[1] + 1


# -- determinism, report, compatibility ---------------------------------------------------


def test_the_same_seed_gives_the_same_questions(tiny, movies):
    assert synthesize_items(tiny, n=25, seed=7) == synthesize_items(tiny, n=25, seed=7)
    a = synthesize(movies, n=50, seed=7)
    assert a == synthesize(movies, n=50, seed=7)
    assert a != synthesize(movies, n=50, seed=8)


def test_the_report_counts_what_was_generated(movie_items):
    items, report = movie_items
    assert report.questions == len(items) == 300
    assert report.templates == len({it.template for it in items})
    assert report.chains == len({(it.relations, it.inverse) for it in items}) >= 40
    assert sum(report.per_hop.values()) == 300
    assert sum(report.template_counts.values()) == sum(report.chain_counts.values()) == 300
    assert abs(sum(report.question_words.values()) - 1) < 0.01
    assert {"who", "what", "imperative"} <= set(report.question_words)
    assert report.shapes_available[1] >= 25 and report.shapes_available[2] > 50
    assert "300 questions" in report.summary() and report.to_dict()["questions"] == 300


def test_the_old_import_and_signature_still_work(tiny):
    from kgagent.llm.synth import synthesize as old

    qa = old(tiny, n=20, seed=0, multi_hop=0.3)
    assert len(qa) == 20 and all(isinstance(q, QAItem) and q.answers for q in qa)
    items = synthesize_items(tiny, n=20, seed=0, multi_hop=0.3)
    assert [it.qa for it in items] == qa
