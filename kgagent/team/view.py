"""The team's :class:`~kgagent.pipeline.graph.GraphView`: the question pipeline run over
the members' graphs, federated.

Edges and ids come from the :class:`~kgagent.team.federation.Federation` (the team holds
ids only); the text of facts and the one-hop answer sets (literals included) come from
the members that hold them, one request per member for a whole batch of questions. A
question's scope is the members the router chose for it: its walks take their relations
only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from kgagent.kg.terms import iri_of
from kgagent.pipeline.execute import EdgeKeys, Reached, execute_chain
from kgagent.pipeline.pipeline import Mention
from kgagent.team.federation import Federation
from kgagent.team.router import Router
from kgagent.types import Candidate, Fact

__all__ = ["FederatedGraph", "TeamEncoder", "TeamLinker"]


class TeamLinker:
    """Every member links the questions in its graph (in parallel); the router merges the
    links into team entities, best first."""

    def __init__(self, federation: Federation, members: Sequence[Any], router: Router) -> None:
        self.federation = federation
        self.members = list(members)
        self.router = router

    def member_links(self, questions: Sequence[str]) -> list[list]:
        """Per question, every member's links (members in parallel)."""
        futures = [m.submit("link", list(questions)) for m in self.members]
        per_member = [f.result() for f in futures]
        return [[links[i] for links in per_member] for i in range(len(questions))]

    def link(self, questions: Sequence[str]) -> list[list[Mention]]:
        return [
            [
                Mention(team, link.entity)
                for team, link, _ in self.router.merge(self.federation, found)
            ]
            for found in self.member_links(questions)
        ]


class TeamEncoder:
    """The first member's encoder (a team's members share one; Federation checks)."""

    def __init__(self, member: Any, dim: int) -> None:
        self.member = member
        self.dim = int(dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.member.submit("encode", list(texts)).result(), dtype=np.float32)


class FederatedGraph:
    """The members' graphs as one view (see the module doc).

    Args:
        federation: team ids and every member's edges in them.
        members: the members (``submit(method, *args) -> Future``), in federation order.
        router: picks the members a question may use.
        link_min: least linking score of the topic the router routes by.
    """

    def __init__(
        self, federation: Federation, members: Sequence[Any], router: Router, *, link_min: float
    ) -> None:
        self.fed = federation
        self.members = list(members)
        self.router = router
        self.link_min = float(link_min)
        self.num_relations = federation.num_relations
        self.relation_terms = federation.relation_terms
        self.relation_texts = federation.relation_texts
        self._all = tuple(range(len(self.members)))
        self._keys = [EdgeKeys(e.adj) for e in federation.edges]

    # -- ids ------------------------------------------------------------------------------

    def node(self, iri: str) -> int | None:
        return self.fed.team_id(f"<{iri}>")

    def entity_term(self, node: int) -> str:
        return self.fed.entity_terms[node]

    def entity_label(self, node: int) -> str:
        return self.fed.entity_labels[node]

    def schema_actions(self) -> np.ndarray:
        return self.fed.schema_actions

    def scope(self, mentions: Sequence[Mention], rel_score: np.ndarray) -> tuple[Any, Any]:
        """(members, (2R + 1,) allowed actions): the router's members for the topic (the
        best mention linked well enough) and the relations the question asks."""
        topic = next(
            (m.node for m in mentions if m.node is not None and m.entity.score >= self.link_min),
            None,
        )
        members = self.router.members_for(self.fed, topic, rel_score)
        return members, self.fed.allowed(members)

    # -- walks ----------------------------------------------------------------------------

    def out_edges(self, nodes: np.ndarray, scope: Any = None) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.fed.edges[m].adj.out_edges(nodes) for m in (scope or self._all)]
        rels, tails = zip(*parts, strict=True)
        return np.concatenate(rels), np.concatenate(tails)

    def execute(
        self,
        topic: int,
        actions: Sequence[int],
        *,
        max_walks: int,
        back: bool,
        keep: int,
        scope: Any = None,
    ) -> Reached:
        """The chain over the scope's members; walks name their hops (member, CSR edge)."""
        members = tuple(scope or self._all)
        parts = [self._keys[m] for m in members]
        r = execute_chain(parts, topic, actions, max_walks=max_walks, back=back, keep=keep)
        if members == tuple(range(len(members))):
            return r  # local member indices are team member indices
        walks = {t: [(members[k], e) for k, e in walk] for t, walk in r.walks.items()}
        return Reached(r.total, walks)

    def walk_facts(self, walks: Sequence[Sequence[tuple[int, int]]]) -> list[tuple[Fact, ...]]:
        """The facts of every hop, asked of the members that hold them (one request each)."""
        fed = self.fed
        wanted: list[dict[tuple[int, int, int], int]] = [{} for _ in self.members]
        for walk in walks:
            for m, edge in walk:
                key = tuple(int(x) for x in fed.edges[m].local[edge])
                wanted[m].setdefault(key, len(wanted[m]))
        futures: list[Future | None] = [
            self.members[m].submit("facts", np.array(list(w), dtype=np.int64)) if w else None
            for m, w in enumerate(wanted)
        ]
        got: list[dict[tuple[int, int, int], Fact | None]] = []
        for w, fut in zip(wanted, futures, strict=True):
            batch = fut.result().facts if fut is not None else ()
            got.append(dict(zip(w, batch, strict=True)))
        out = []
        for walk in walks:
            facts = (got[m].get(tuple(int(x) for x in fed.edges[m].local[e])) for m, e in walk)
            out.append(tuple(f for f in facts if f is not None))
        return out

    def one_hop(
        self,
        requests: Sequence[tuple[int, float, np.ndarray]],
        *,
        cap: int,
        scope: Sequence[Any] | None = None,
    ) -> list[list[Candidate]]:
        """The members that hold each topic (and received the question) send its one-hop
        candidates; the same relation from several members becomes one answer set."""
        fed = self.fed
        scopes = scope if scope is not None else [None] * len(requests)
        asks: list[list[tuple[int, tuple]]] = [[] for _ in self.members]
        for i, ((topic, link, rel), members) in enumerate(zip(requests, scopes, strict=True)):
            for m in members or self._all:
                node = int(fed.to_local[m][topic])
                if node >= 0:
                    acts = fed.local_actions(m)
                    local = np.where(acts >= 0, rel[np.maximum(acts, 0)], -1.0)
                    asks[m].append((i, (node, float(link), local)))
        futures = [
            self.members[m].submit("one_hop", [a for _, a in ask], cap) if ask else None
            for m, ask in enumerate(asks)
        ]
        found: list[list[tuple[int, Candidate]]] = [[] for _ in requests]
        for m, (ask, fut) in enumerate(zip(asks, futures, strict=True)):
            if fut is None:
                continue
            for (i, _), reply in zip(ask, fut.result(), strict=True):
                found[i] += [(m, c) for c in reply.candidates]
        return [
            _merge_one_hop(fed, topic, hits) if hits else []
            for (topic, _, _), hits in zip(requests, found, strict=True)
        ]


def _merge_one_hop(fed: Federation, topic: int, found: Sequence[tuple[int, Candidate]]):
    """Members' one-hop candidates as team candidates: answers named by team entity,
    the same relation from several members merged into one answer set."""
    merged: dict[tuple, Candidate] = {}
    topic_iri, topic_label = iri_of(fed.entity_terms[topic]), fed.entity_labels[topic]
    for m, c in found:
        answers = []
        for value, label in c.answers:
            node = fed.local_index(m).get(f"<{value}>")
            if node is None:  # a literal, or a term outside the entity table
                answers.append((value, label))
            else:
                team = int(fed.to_team[m][node])
                answers.append((iri_of(fed.entity_terms[team]), fed.entity_labels[team]))
        c = dataclasses.replace(c, topic=topic_iri, topic_label=topic_label, answers=tuple(answers))
        key = (c.relations, c.inverse)
        if key not in merged:
            merged[key] = c
            continue
        old = merged[key]
        have = {a for a, _ in old.answers}
        extra = [(a, s) for a, s in zip(c.answers, c.support, strict=True) if a[0] not in have]
        merged[key] = dataclasses.replace(
            old,
            answers=old.answers + tuple(a for a, _ in extra),
            support=old.support + tuple(s for _, s in extra),
            total=old.total + len(extra),
            score=max(old.score, c.score),
        )
    return list(merged.values())
