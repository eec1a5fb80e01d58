"""assert_grounded / assert_cites / assert_abstains on real answers of the demo ontology
(the plugin's own ``kg_agent``) and on forged ones: each problem is caught and named."""

from __future__ import annotations

import dataclasses

import pytest

from kgagent.testing import assert_abstains, assert_cites, assert_grounded, checked_against
from kgagent.types import Answer, AnswerEntity, Fact

M = "https://kgagent.dev/data/movies/"
MO = "https://kgagent.dev/ontology/movies#"


def test_answers_of_every_kind_are_grounded(kg_agent):
    for question, kind in [
        ("Who directed Inception?", "entities"),
        ("When was Interstellar released?", "value"),  # an xsd:integer, by lexical form
        ("How many films did Christopher Nolan direct?", "number"),
        ("Did Denis Villeneuve direct Inception?", "boolean"),
        ("Which genres do the films directed by Denis Villeneuve have?", "entities"),
    ]:
        answer = kg_agent.ask(question)
        assert answer.kind == kind, question
        assert_grounded(answer)
        assert_grounded(answer, kg_agent.kg)  # a graph will do as well as its agent


def test_each_kind_of_ungrounded_answer_is_named(kg_agent):
    answer = kg_agent.ask("When was Interstellar released?")
    (fact,) = answer.facts
    (value,) = answer.entities
    forged = dataclasses.replace(
        answer,
        text="1999 [1] [3].",
        facts=(dataclasses.replace(fact, object="1999"),),
        entities=(
            dataclasses.replace(value, iri="1066", label="1066"),
            AnswerEntity(iri=M + "nowhere", label="Nowhere", score=1.0, facts=(7,)),
            AnswerEntity(iri=M + "memento", label="Memento", score=1.0, facts=()),
        ),
    )
    with pytest.raises(AssertionError) as failed:
        assert_grounded(forged)
    problems = [line.strip() for line in str(failed.value).splitlines() if "  - " in line]
    assert problems == [
        "- [3] in the text refers to no cited fact (the answer cites 1)",
        "- answer 'Nowhere' rests on fact ids missing from the cited facts: [7]",
        "- answer 'Memento' cites no fact",
        f'- cited fact [1] is not in the store: <{M}interstellar> <{MO}releaseYear> "1999"',
        "- answer '1066' is no value of the graph: \"1066\"",
        f"- answer 'Nowhere' is no entity of the graph: <{M}nowhere>",
    ]


def test_a_bracket_in_a_label_is_no_citation(kg_agent):
    answer = kg_agent.ask("Who directed Inception?")
    (nolan,) = answer.entities
    renamed = dataclasses.replace(nolan, label="Nolan [1970]")
    assert_grounded(dataclasses.replace(answer, text="Nolan [1970] [1].", entities=(renamed,)))


def test_an_abstention_is_grounded_only_when_allowed(kg_agent):
    answer = kg_agent.ask("What is the capital of Mongolia?")
    assert_abstains(answer)
    assert_grounded(answer, abstain_ok=True)
    with pytest.raises(AssertionError, match="abstained on 'What is the capital of Mongolia"):
        assert_grounded(answer)


def test_the_store_checked_is_the_one_given_or_in_scope(kg_agent):
    answer = kg_agent.ask("Who directed Inception?")
    with checked_against(None), pytest.raises(TypeError, match="no agent to check"):
        assert_grounded(answer)
    with pytest.raises(TypeError, match="got a object, which has no store"):
        assert_grounded(answer, object())
    with checked_against(None), checked_against(kg_agent):
        assert_grounded(answer)


def test_cites_matches_iris_labels_literals_and_any(kg_agent):
    answer = kg_agent.ask("Who directed Inception?")
    fact = assert_cites(answer, (M + "inception", f"<{MO}directedBy>", "christopher  NOLAN"))
    assert fact is answer.facts[0]
    assert assert_cites(answer, (None, None, None)) is fact
    year = kg_agent.ask("When was Interstellar released?")
    assert_cites(year, ("Interstellar", "release year", "2014"))
    with pytest.raises(AssertionError, match=r"does not cite \('Inception', None, 'Memento'\)"):
        assert_cites(answer, ("Inception", None, "Memento"))
    with pytest.raises(TypeError, match="subject, predicate, object"):
        assert_cites(answer, ("Inception", "directed by"))


def test_abstains_fails_on_an_answer_and_lists_what_it_cited(kg_agent):
    answer = kg_agent.ask("Which films did Christopher Nolan direct?")
    with pytest.raises(AssertionError) as failed:
        assert_abstains(answer)
    message = str(failed.value)
    assert message.startswith("assert_abstains: the agent answered 'Which films did")
    assert f"  answers ({len(answer.entities)}):" in message
    assert "    [8] " in message and "movies#directedBy" in message


def test_blank_nodes_and_typed_literals_are_matched_as_the_store_holds_them(tmp_path):
    from kgagent.kg.graph import KnowledgeGraph

    path = tmp_path / "award.ttl"
    path.write_text(
        "@prefix e: <http://example.org/e/> . @prefix r: <http://example.org/r/> .\n"
        "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n"
        'e:alien r:award [ r:year "1980"^^xsd:gYear ] ; r:rating "8.5"^^xsd:decimal .\n',
        encoding="utf-8",
    )
    kg = KnowledgeGraph()
    kg.load(path)

    def fact(s, p, o, literal):
        return Fact(1, s, p, o, "s", "p", o, "s p o", object_is_literal=literal)

    def answer(*facts):
        entity = AnswerEntity(iri="x", label="x", score=1.0, facts=(1,), is_literal=True)
        return Answer("q", "x [1].", (entity,), facts, (), 1.0, False, kind="number")

    e, r = "http://example.org/e/", "http://example.org/r/"
    assert_grounded(answer(fact("_:b1", r + "year", "1980", True)), kg)
    assert_grounded(answer(fact(e + "alien", r + "award", "_:b2", False)), kg)
    assert_grounded(answer(fact(e + "alien", r + "rating", "8.5", True)), kg)
    with pytest.raises(AssertionError, match="not in the store"):
        assert_grounded(answer(fact(e + "alien", r + "rating", "8.50", True)), kg)
    with pytest.raises(AssertionError, match="not in the store"):  # an IRI is no literal
        assert_grounded(answer(fact(e + "alien", r + "award", "8.5", True)), kg)
    kg.close()
