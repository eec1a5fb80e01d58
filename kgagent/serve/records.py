"""The JSON records the service answers with, built from the Python API's values.

An AskRecord is exactly what ``kgagent ask --out`` writes (:meth:`Answer.to_dict`), plus
what a page needs to show the answer without parsing sentences: each cited fact as its
terms and labels (``fact_records``, in citation order, so ``[n]`` in the text is
``fact_records[n-1]``) and the cited facts as a graph to draw (``graph``), the answer's
and the question's topic nodes marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kgagent.types import Answer, Candidate, Evidence, Fact

__all__ = [
    "MAX_STREAM_ANSWERS",
    "MAX_STREAM_CANDIDATES",
    "answer_graph",
    "ask_record",
    "candidates_event",
    "conversation_record",
    "entities_event",
    "entity_record",
    "fact_record",
    "turn_record",
]

#: candidates a stream shows, and answers per candidate (the contract's "at most 10")
MAX_STREAM_CANDIDATES = 10
MAX_STREAM_ANSWERS = 10


def fact_record(n: int, f: Fact) -> dict[str, Any]:
    """One fact as the page shows it: ``n`` its 1-based citation number; ``id`` as a
    string (a 64-bit id loses digits as a JSON number in JavaScript)."""
    out: dict[str, Any] = {
        "n": n,
        "id": str(f.id),
        "subject": f.subject,
        "subject_label": f.subject_label,
        "predicate": f.predicate,
        "predicate_label": f.predicate_label,
        "object": f.object,
        "object_label": f.object_label,
        "object_is_literal": f.object_is_literal,
        "text": f.text,
    }
    if f.agent is not None:  # a team's fact names the member and graph it came from
        out["agent"], out["graph"] = f.agent, f.graph
    return out


def _object_id(f: Fact) -> str:
    return "literal:" + f.object if f.object_is_literal else f.object


def _topic(answer: Answer, answers: set[str]) -> str | None:
    """The program's chain topic where it has one, else the first fact's end that is not
    an answer."""
    chain = (answer.program or {}).get("chain")
    topic = chain.get("topic") if isinstance(chain, dict) else None
    if isinstance(topic, str) and any(topic in (f.subject, f.object) for f in answer.facts):
        return topic
    for f in answer.facts:
        for end in (f.subject, _object_id(f)):
            if end not in answers:
                return end
    return None


def answer_graph(answer: Answer) -> dict[str, Any]:
    """The cited facts as nodes and edges; node ids are IRIs, or ``literal:`` + the
    value; roles: ``answer`` (the answer entities), ``topic``, ``value`` (a literal),
    ``hop`` (anything else on the way)."""
    answers = {("literal:" + e.iri) if e.is_literal else e.iri for e in answer.entities}
    topic = _topic(answer, answers)
    nodes: dict[str, dict[str, Any]] = {}
    edges = []

    def node(node_id: str, label: str, literal: bool) -> None:
        if node_id in nodes:
            return
        if node_id in answers:
            role = "answer"
        elif node_id == topic:
            role = "topic"
        else:
            role = "value" if literal else "hop"
        nodes[node_id] = {"id": node_id, "label": label, "role": role}

    for n, f in enumerate(answer.facts, 1):
        node(f.subject, f.subject_label, False)
        node(_object_id(f), f.object_label, f.object_is_literal)
        edges.append({"source": f.subject, "target": _object_id(f),
                      "label": f.predicate_label, "fact": n})  # fmt: skip
    return {"nodes": list(nodes.values()), "edges": edges}


def ask_record(answer: Answer) -> dict[str, Any]:
    """The AskRecord of an answer (see the module docstring)."""
    record = answer.to_dict()
    record["fact_records"] = [fact_record(n, f) for n, f in enumerate(answer.facts, 1)]
    record["graph"] = answer_graph(answer)
    return record


def turn_record(answer: Answer, turn: int) -> dict[str, Any]:
    """A conversation turn's record: the AskRecord, its 0-based ``turn`` and its
    ``context`` (null on a first turn), as ``kgagent ask --conversations`` writes."""
    return {**ask_record(answer), "turn": turn, "context": answer.context}


def entities_event(evidence: Evidence) -> dict[str, Any]:
    """The stream's first event: the entities the question was linked to, best first."""
    return {"entities": [{"iri": e.iri, "label": e.label, "mention": e.mention,
                          "score": round(float(e.score), 6)}
                         for e in evidence.entities]}  # fmt: skip


def _candidate(c: Candidate) -> dict[str, Any]:
    return {
        "topic_label": c.topic_label,
        "relation_labels": list(c.relation_labels),
        "answers": [label for _, label in c.answers[:MAX_STREAM_ANSWERS]],
        "total": int(c.total),
        "score": round(float(c.score), 6),
    }


def candidates_event(evidence: Evidence) -> dict[str, Any]:
    """The stream's second event: the answer candidates the reader will weigh, best
    scored first (at most :data:`MAX_STREAM_CANDIDATES`)."""
    ranked = sorted(evidence.candidates, key=lambda c: -float(c.score))
    return {"candidates": [_candidate(c) for c in ranked[:MAX_STREAM_CANDIDATES]]}


def conversation_record(cid: str, turns: Iterable[Any]) -> dict[str, Any]:
    """``GET /v1/conversations/{id}``: the turns kept, as asked and as read."""
    return {"id": cid, "turns": [{"question": t.question, "asked": t.asked, "kind": t.kind}
                                 for t in turns]}  # fmt: skip


def entity_record(iri: str, label: str, facts: Sequence[Fact], more: int) -> dict[str, Any]:
    """``GET /v1/entity``: the facts an entity takes part in (``more``: left out)."""
    records = [fact_record(n, f) for n, f in enumerate(facts, 1)]
    return {"iri": iri, "label": label, "facts": records, "more": int(more)}
