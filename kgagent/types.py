"""Small frozen value types passed between the stages of a question's path.

Facts carry both their RDF terms (for provenance and graph walks) and their labels and
text (for the reader and the user), so a citation can always be traced back to a triple.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Answer",
    "AnswerEntity",
    "Candidate",
    "Evidence",
    "Fact",
    "GraphPath",
    "Path",
    "fact_id",
]


def fact_id(subject: str, predicate: str, obj: str) -> int:
    """A stable 63-bit id for a triple (terms in N-Triples syntax), usable as a faiss id.

    The same triple gets the same id in every run and every index, which is what makes
    incremental updates and removals possible without a rebuild.
    """
    digest = hashlib.blake2b(f"{subject} {predicate} {obj}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class Fact:
    """One triple as evidence.

    Attributes:
        id: stable id (:func:`fact_id` of the N-Triples terms).
        subject, predicate: IRIs.
        object: an IRI, or the lexical form of a literal (``object_is_literal``).
        subject_label, predicate_label, object_label: what a person would read.
        text: the verbalized sentence.
        score: retrieval score (higher is better); 0 when not ranked.
        agent: provenance in a team: the member that holds the fact (None: one agent).
        graph: provenance in a team: that member's graph (workspace and fingerprint).
    """

    id: int
    subject: str
    predicate: str
    object: str
    subject_label: str
    predicate_label: str
    object_label: str
    text: str
    object_is_literal: bool = False
    score: float = 0.0
    agent: str | None = None
    graph: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GraphPath:
    """A chain of facts from a topic entity to a candidate answer.

    (Named ``GraphPath`` so it does not shadow :class:`pathlib.Path`; ``Path`` remains an
    alias for code written against the old name.)

    ``entities`` has one more element than ``facts``; ``inverse[i]`` says whether fact
    ``i`` is walked against its direction (object -> subject).
    """

    entities: tuple[str, ...]
    facts: tuple[Fact, ...]
    inverse: tuple[bool, ...]
    text: str
    score: float = 0.0

    @property
    def answer(self) -> str:
        return self.entities[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entities": list(self.entities),
            "facts": [f.id for f in self.facts],
            "inverse": list(self.inverse),
            "text": self.text,
            "score": self.score,
        }


#: The old name of :class:`GraphPath` (public as ``kgagent.Path``); kept as an alias.
Path = GraphPath


@dataclass(frozen=True)
class Candidate:
    """A possible answer: the entities one relation chain reaches from a topic entity.

    MetaQA-style questions ask for *all* the entities a chain reaches ("which films did X
    direct"), so a candidate is the whole set, executed on the graph, not one triple.

    Attributes:
        topic, topic_label: the linked entity the chain starts from.
        relations, inverse: predicate IRIs per hop, and whether each is walked backwards.
        relation_labels: how each hop reads in the walking direction ("directed by").
        answers: (IRI or literal lexical form, label), up to the cap.
        total: how many answers the chain reaches before the cap.
        support: per answer, the facts that reach it (one path).
        score: retrieval's relevance of the chain to the question.
        prior: the path policy's log-probability of the chain, if the policy proposed it.
        link: how surely the question names the topic (its linking score, in [0, 1]).
    """

    topic: str
    topic_label: str
    relations: tuple[str, ...]
    inverse: tuple[bool, ...]
    relation_labels: tuple[str, ...]
    answers: tuple[tuple[str, str], ...]
    total: int
    support: tuple[tuple[Fact, ...], ...]
    score: float = 0.0
    prior: float | None = None
    link: float = 0.0

    @property
    def hops(self) -> int:
        return len(self.relations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "relations": list(self.relations),
            "inverse": list(self.inverse),
            "relation_labels": list(self.relation_labels),
            "answers": [a for a, _ in self.answers],
            "total": self.total,
            "score": self.score,
            "prior": self.prior,
        }


@dataclass(frozen=True)
class Evidence:
    """What retrieval found for a question: ranked facts, paths, linked entities and the
    answer candidates the graph offers."""

    question: str
    facts: tuple[Fact, ...]
    paths: tuple[GraphPath, ...] = ()
    entities: tuple[Any, ...] = ()  # EntityCandidate, best first
    timings: dict[str, float] = field(default_factory=dict)
    candidates: tuple[Candidate, ...] = ()
    #: text -> (d,) unit vector of texts encoded with the question in one batch for a
    #: later step (the typed programs' masked question); not serialized
    vectors: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.facts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "facts": [f.to_dict() for f in self.facts],
            "paths": [p.to_dict() for p in self.paths],
            "entities": [e.to_dict() if hasattr(e, "to_dict") else e for e in self.entities],
            "timings": dict(self.timings),
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass(frozen=True)
class AnswerEntity:
    """One answer: an entity (or literal) with the facts that support it."""

    iri: str
    label: str
    score: float
    facts: tuple[int, ...]  # ids of the supporting facts (all cited in ``Answer.facts``)
    is_literal: bool = False


@dataclass(frozen=True)
class Answer:
    """What ``Agent.ask`` returns.

    Attributes:
        text: the answer as a sentence, with ``[n]`` citing ``facts[n-1]``; an explicit
            abstention when nothing in the graph supports an answer.
        entities: ranked answers with their supporting fact ids.
        facts: every cited fact.
        paths: the multi-hop paths behind the answers.
        confidence: the reader's probability that the chosen answer is right (0..1);
            for a typed question, the chosen program's share of the proposed readings
            (the proposer's scores, softmax: low where other readings were close).
        abstained: True when no answer is given.
        timings: per-stage milliseconds (link, retrieve, read, total).
        kind: what the answer is: "entities" (labels, best first), "number" (a count,
            its decimal string the one entity label), "boolean" ("yes" / "no") or
            "value" (literal values' lexical forms).
        sparql: the query that returns the same answer from the store, for a typed
            question (:mod:`kgagent.programs`): the explanation a user can run and edit.
            A team's reads its members' graphs as one store (entities as it matched them).
        context: in a conversation, what the answer took from earlier turns: ``turn``
            (0-based index in the conversation of the turn it was read against, the one
            before it), ``kind`` ("reference", "ellipsis",
            "refinement", "switch", "new"), ``asked`` (the stand-alone questions the
            agent was asked) and ``entities`` (``{"iri", "label"}`` taken from the
            state); None for a question alone and a conversation's first turn.
        program: the program the answer executed
            (:meth:`kgagent.programs.Program.to_dict`: a chain question's is "entities"
            over its chain), where one did: what a conversation narrows next.
    """

    question: str
    text: str
    entities: tuple[AnswerEntity, ...]
    facts: tuple[Fact, ...]
    paths: tuple[GraphPath, ...]
    confidence: float
    abstained: bool
    timings: dict[str, float] = field(default_factory=dict)
    kind: str = "entities"
    sparql: str | None = None
    context: dict[str, Any] | None = None
    program: dict[str, Any] | None = None

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.entities]

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of ``kgagent ask --out`` (a team's answer adds each fact's
        ``agent`` and ``graph``, and the contributing ``agents``)."""
        agents = list(dict.fromkeys(f.agent for f in self.facts if f.agent is not None))
        return {
            "question": self.question,
            "answers": self.labels,
            "answer_iris": [e.iri for e in self.entities],
            "text": self.text,
            "facts": [_fact_record(f) for f in self.facts],
            **({"agents": agents} if agents else {}),
            "paths": [p.text for p in self.paths],
            "confidence": round(self.confidence, 6),
            "abstained": self.abstained,
            "kind": self.kind,
            **({"sparql": self.sparql} if self.sparql is not None else {}),
            **({"context": self.context} if self.context is not None else {}),
            **({"program": self.program} if self.program is not None else {}),
            "latency_ms": round(self.timings.get("total_ms", 0.0), 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _fact_record(f: Fact) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f.id, "text": f.text}
    if f.agent is not None:
        out["agent"], out["graph"] = f.agent, f.graph
    return out
