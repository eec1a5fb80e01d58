"""Small frozen value types passed between the stages of a question's path.

Facts carry both their RDF terms (for provenance and graph walks) and their labels and
text (for the reader and the user), so a citation can always be traced back to a triple.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Evidence", "Fact", "Path", "fact_id"]


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Path:
    """A chain of facts from a topic entity to a candidate answer.

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


@dataclass(frozen=True)
class Evidence:
    """What retrieval found for a question: ranked facts, paths, and the linked entities."""

    question: str
    facts: tuple[Fact, ...]
    paths: tuple[Path, ...] = ()
    entities: tuple[Any, ...] = ()  # EntityCandidate, best first
    timings: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.facts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "facts": [f.to_dict() for f in self.facts],
            "paths": [p.to_dict() for p in self.paths],
            "entities": [e.to_dict() if hasattr(e, "to_dict") else e for e in self.entities],
            "timings": dict(self.timings),
        }
