"""The router: which members receive a question, from what it links to and what it asks.

Every member links the question in its own graph (its linker knows its labels); the
router merges the links into team entities and picks the topic (the best link that
some graph holds). A member then receives the question when it holds the topic (its
facts start the walk and give one-hop answers) or when its ontology covers what the
question asks: one of its relations is among the ``top_k`` team relations (each
direction counts) most relevant to the question. The team's walk only takes relations
of the members the router chose, so a member whose relations have nothing to do with
the question is not asked for facts and cannot lead the walk astray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kgagent.team.federation import Federation
from kgagent.team.messages import Link

__all__ = ["Route", "Router"]


@dataclass(frozen=True)
class Route:
    """Where a question goes.

    Attributes:
        topic: the team entity the walk starts from (None: nothing linked).
        topic_link: the member link behind it (mention span, score).
        entities: the merged links, best first: (team id, best link, holders).
        members: indices of the members that receive the question.
        coverage: per member, the best relevance of its relations to the question.
        holders: members holding the topic entity.
    """

    topic: int | None
    topic_link: Link | None
    entities: tuple[tuple[int, Link, tuple[int, ...]], ...]
    members: tuple[int, ...]
    coverage: tuple[float, ...]
    holders: tuple[int, ...] = field(default=())

    def names(self, federation: Federation) -> list[str]:
        return [federation.names[m] for m in self.members]


class Router:
    """Picks the topic entity and the members for each question.

    Args:
        link_min: least linking score for a topic (as the single agent's retriever).
        top_k: a member whose relations include one of the ``top_k`` most relevant team
            relations (relevance: the question's cosine to the relation's phrasing plus
            half the stemmed word overlap, as the single agent's) receives the question;
            the default covers a 3-hop chain with room to spare. None: every member
            receives every question.
    """

    def __init__(self, *, link_min: float = 0.5, top_k: int | None = 6) -> None:
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1 (or None), not {top_k}")
        self.link_min = float(link_min)
        self.top_k = top_k

    def merge(self, federation: Federation, links: Sequence[Sequence[Link]]) -> list:
        """One question's links from every member, as team entities, best first."""
        index = {n: i for i, n in enumerate(federation.names)}
        best: dict[int, tuple[tuple, Link]] = {}
        for found in links:
            for rank, link in enumerate(found):
                m = index[link.member]
                team = int(federation.to_team[m][link.node])
                key = (-float(link.entity.score), rank, m)
                if team not in best or key < best[team][0]:
                    best[team] = (key, link)
        order = sorted(best.items(), key=lambda kv: kv[1][0])
        out = []
        for team, (_, link) in order:
            holders = tuple(
                m for m in range(len(federation.names)) if federation.to_local[m][team] >= 0
            )
            out.append((team, link, holders))
        return out

    def topic(self, federation: Federation, links: Sequence[Sequence[Link]]):
        """(merged entities, topic team id, its link, its holders); topic None when no
        link is good enough."""
        entities = self.merge(federation, links)
        for team, link, held in entities:
            if link.entity.score >= self.link_min:
                return entities, team, link, held
        return entities, None, None, ()

    def route(
        self, federation: Federation, links: Sequence[Sequence[Link]], rel_score: np.ndarray
    ) -> Route:
        """The route of one question (``links``: each member's; ``rel_score``: (2R,))."""
        entities, topic, topic_link, holders = self.topic(federation, links)
        n = len(federation.names)
        coverage = []
        for m in range(n):
            acts = federation.action_members[:-1, m]
            coverage.append(float(rel_score[acts].max()) if acts.any() else float("-inf"))
        members = self.members_for(federation, topic, rel_score)
        return Route(topic, topic_link, tuple(entities), members, tuple(coverage), holders)

    def members_for(
        self, federation: Federation, topic: int | None, rel_score: np.ndarray
    ) -> tuple[int, ...]:
        """The members that receive a question: those holding its topic entity, and those
        whose relations include one of the ``top_k`` most relevant (all with top_k None)."""
        n = len(federation.names)
        if self.top_k is None:
            return tuple(range(n))
        holders = (
            {m for m in range(n) if federation.to_local[m][topic] >= 0}
            if topic is not None
            else set()
        )
        # schema relations (rdfs:label, rdf:type) say nothing about what is asked
        score = np.where(federation.schema_actions, -np.inf, rel_score)
        top = np.argsort(-score, kind="stable")[: self.top_k]  # (top_k,) actions
        covering = federation.action_members[top].any(axis=0)  # (members,)
        return tuple(m for m in range(n) if m in holders or covering[m])
