"""The typed messages a team's members send: what a graph holds, what a question links
to, and facts with their provenance.

A member answers a handful of requests (see :class:`~kgagent.team.member.LocalMember`);
each reply is one of these frozen values, plain enough to cross a process boundary
(Ray actors) unchanged. Every :class:`~kgagent.types.Fact` a member sends carries the
member's name (``agent``) and its graph (``graph``), so an answer built from several
graphs cites each fact with where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rdflib.namespace import OWL

from kgagent.types import Candidate, Fact

__all__ = ["FactBatch", "Link", "MemberInfo", "OneHop"]

#: the owl:sameAs predicate (N-Triples): its pairs merge entities across and within graphs
SAME_AS = f"<{OWL.sameAs}>"


@dataclass(frozen=True)
class MemberInfo:
    """What a member tells the team when it joins: its vocabulary and the shape of its
    graph (ids only; the facts' text stays with the member until a fact is cited).

    Attributes:
        name: the member's name in the team (unique).
        graph: an identifier of the member's graph (workspace and KG fingerprint).
        encoder: the retrieval encoder's name (a team encodes each question once, so all
            members must share it).
        entity_terms, entity_labels: the entities in local id order (N-Triples, labels).
        relation_terms: the relations in local id order (N-Triples).
        relation_texts: (2R,) how each relation reads forward, then inverse.
        relation_vectors: (2R, d) the encoder's vectors of ``relation_texts``.
        edges: (E, 3) int64 local (head, relation, tail) ids of the entity-to-entity facts.
        same_as: (k, 2) int64 local entity pairs linked by ``owl:sameAs``.
        settings: the member's reader settings (decisive, weights), for a team that does
            not set its own.
        has_llm: whether the member can score answer options with an LLM.
        has_policy: whether the member has a trained path policy (a warm-start source).
    """

    name: str
    graph: str
    encoder: str
    entity_terms: list[str]
    entity_labels: list[str]
    relation_terms: list[str]
    relation_texts: list[str]
    relation_vectors: np.ndarray
    edges: np.ndarray
    same_as: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)
    has_llm: bool = False
    has_policy: bool = False


@dataclass(frozen=True)
class Link:
    """An entity a member's linker found in a question, with its local id."""

    member: str
    node: int  # local entity id in the member's graph
    entity: Any  # the linker's EntityCandidate (iri, label, mention span, score, method)


@dataclass(frozen=True)
class FactBatch:
    """Facts a member sends for requested triples (None where it holds no such fact)."""

    member: str
    graph: str
    facts: tuple[Fact | None, ...]


@dataclass(frozen=True)
class OneHop:
    """A member's one-hop answer candidates around a topic entity (literal-valued
    relations included, which the team's walk over entity edges does not see)."""

    member: str
    candidates: tuple[Candidate, ...]
