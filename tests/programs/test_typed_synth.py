"""Typed training questions synthesized from the graph: every kind a graph allows, each
answer its program's result on the graph and in the store, the same for the same seed."""

from __future__ import annotations

from collections import Counter

from kgagent.programs import execute, read_answer, to_sparql
from kgagent.synth.typed import TYPED_KINDS, synthesize_typed


def test_every_kind_with_answers_the_graph_and_the_store_agree_on(films):
    agent, graph = films
    items = synthesize_typed(agent, n=30, seed=0)
    kinds = Counter(it.kind for it in items)
    assert set(kinds) == set(TYPED_KINDS)  # the film graph holds every kind
    assert len({it.question.lower() for it in items}) == len(items)
    for it in items:
        result = execute(it.program, graph)
        assert tuple(result.answers) == it.answers, it.question
        assert it.program.kind == result.kind
        query, bindings = to_sparql(it.program)
        stored = read_answer(it.program, agent.kg.query(query, bindings=bindings))
        if result.kind == "number":
            assert stored == result.number
        elif result.kind == "boolean":
            assert stored == result.boolean
        else:  # entities (the kinds here never answer with literals)
            assert stored == {i.value for i in result.items}, it.question
        assert it.question[:1].isupper() and it.qa.answers == it.answers
    kind_words = {"count": ("how many", "number", "count"), "exists": ("is ", "do ")}
    for it in items:
        if it.kind in kind_words:
            assert any(w in it.question.lower() for w in kind_words[it.kind]), it.question


def test_the_same_seed_gives_the_same_questions(films):
    agent, _ = films
    a = synthesize_typed(agent, n=12, seed=3)
    b = synthesize_typed(agent, n=12, seed=3)
    assert [(i.question, i.answers) for i in a] == [(i.question, i.answers) for i in b]
    assert len(a) <= 12


def test_synthesized_typed_questions_train_the_llm_on_their_programs(films):
    """``reader_examples`` (what ``finetune`` trains on): a typed question's options are
    its programs, with the one giving the gold as target; a chain question's are still
    its chain candidates."""
    agent, _ = films
    items = [it for it in synthesize_typed(agent, n=30, seed=0) if it.kind == "count"]
    pairs = [(it.question, it.answers) for it in items] + [
        ("Who directed Jaws?", ["Steven Spielberg"])
    ]
    examples = agent.reader_examples(pairs)
    assert len(examples) == len(pairs)
    *typed, chain = examples
    for ex in typed:
        assert ex.target > 0  # the program the question was made from is proposed
        assert (
            ex.conversations[ex.target - 1][1]["content"]
            .split("\n")[1]
            .startswith("Program: how many of")
        )
    assert chain.target > 0 and "\nPath: " in chain.conversations[0][1]["content"]
