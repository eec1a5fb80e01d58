"""Conversations synthesized from the graph (issue 21, training): a first question and a
follow-up of each kind, the follow-up's gold answers checked against the graph, and the
stand-alone questions a conversation resolves them to, for the reader's fine-tuning."""

from __future__ import annotations

import re
from collections import Counter

from rdflib import URIRef

from kgagent.synth.dialogue import FOLLOW_UPS, conversation_pairs, synthesize_conversations

ONE_HOP = """
SELECT ?o ?l WHERE {
  { ?s ?p ?o } UNION { ?o ?p ?s }
  OPTIONAL { ?o <http://www.w3.org/2000/01/rdf-schema#label> ?l }
}"""


def _one_hop(agent, iris) -> set[str]:
    """Labels (a literal's lexical form) of everything one hop from ``iris`` in the
    store, either direction."""
    return {str(row[1] if row[1] is not None else row[0]) for iri in iris
            for row in agent.kg.query(ONE_HOP, bindings={"s": URIRef(iri)})}  # fmt: skip


def _held(gold, stored: set[str]) -> bool:
    """Every gold label is a stored label or value (a dateTime read as its date)."""
    return all(any(v == g or v.startswith(f"{g}T") for v in stored) for g in gold)


def test_every_follow_up_kind_with_gold_the_graph_holds(films):
    agent, _ = films
    convs = synthesize_conversations(agent, n=24, seed=0)
    kinds = Counter(c.kind for c in convs)
    assert set(kinds) == set(FOLLOW_UPS), kinds
    for c in convs:
        first, follow = c.questions
        assert first and follow.endswith("?") and follow[:1].isupper()
        assert c.answers[0] and c.answers[1], c
        if c.kind == "reference":  # the first answers are referred to, not named
            said = set(re.findall(r"[a-z]+", follow.lower()))
            assert said & {"it", "its", "they", "their", "them"}, follow
            assert not any(label in follow for _, label in c.first), follow
            # each gold answer is one hop from a first answer in the store
            assert _held(c.answers[1], _one_hop(agent, [i for i, _ in c.first])), c
        if c.kind == "ellipsis":
            assert c.topic[1] not in follow, follow
            assert _held(c.answers[1], _one_hop(agent, [c.topic[0]])), c
        if c.kind == "refinement":  # narrowed: among the first answers, fewer of them
            assert set(c.answers[1]) < set(c.answers[0]), c
        if c.kind == "switch":
            assert c.topic[1] not in follow


def test_follow_ups_resolve_to_stand_alone_questions_for_the_reader(films):
    agent, _ = films
    convs = synthesize_conversations(agent, n=24, seed=0)
    pairs = conversation_pairs(agent, convs)
    assert len(pairs) >= len(convs) // 2
    resolved = 0
    for c in convs:
        if c.kind in ("reference", "ellipsis") and len(c.first) == 1:
            named = c.first[0][1] if c.kind == "reference" else c.topic[1]
            asked = [q for q, answers in pairs if answers == c.answers[1] and named in q]
            resolved += bool(asked)
    assert resolved >= 2  # the referred entity is named in the question the reader reads
    assert all(isinstance(q, str) and answers for q, answers in pairs)


def test_the_same_seed_gives_the_same_conversations(films):
    agent, _ = films
    a = synthesize_conversations(agent, n=12, seed=5)
    b = synthesize_conversations(agent, n=12, seed=5)
    assert [c.to_dict() for c in a] == [c.to_dict() for c in b]
    assert all(set(d) == {"kind", "turns", "answers"} for d in (c.to_dict() for c in a))


def test_resolved_follow_ups_become_reader_examples(films):
    agent, _ = films
    pairs = conversation_pairs(agent, synthesize_conversations(agent, n=16, seed=1))
    examples = agent.reader_examples(pairs)
    assert examples  # each: the options the reader compares and the one that answers
    assert all(0 <= ex.target <= len(ex.conversations) for ex in examples)
    assert sum(ex.target > 0 for ex in examples) >= len(examples) // 2  # most answerable
