"""Proposers: the relation chains worth executing for a question.

Two implementations of one protocol, passed to the pipeline at construction:

* :class:`ChainPlanner` searches the relation sequences present around the topic entity,
  best mean relevance first (plan over the few relations, let the graph supply the
  entities: RoG, TransferNet);
* :class:`PolicyProposer` asks a trained path policy (:mod:`kgagent.policy`) for its
  most likely walks, which carry the policy's log-probability as a prior for the reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kgagent.pipeline.graph import GraphView
from kgagent.pipeline.settings import HOP_PENALTY

__all__ = ["Anchor", "ChainPlanner", "PolicyProposer", "Proposal", "Proposer", "likely"]


@dataclass(frozen=True)
class Anchor:
    """A topic entity a question's chains start from.

    Attributes:
        question: index of the question in its batch.
        node: the entity's node in the graph view.
        link: its linking score.
        vector: (d,) the question's vector with this mention masked (for the policy).
        scope: the part of the view the question may use (a team's members), or None.
        allowed: (2R + 1,) bool, the actions the scope offers (None: all).
    """

    question: int
    node: int
    link: float
    vector: np.ndarray | None = None
    scope: Any = None
    allowed: np.ndarray | None = None


@dataclass(frozen=True)
class Proposal:
    """A relation chain to execute from an anchor, with its relevance and prior."""

    anchor: Anchor
    actions: tuple[int, ...]
    score: float
    prior: float | None = None  # the policy's log-probability, if it proposed the chain


class Proposer(Protocol):
    """Anything that proposes chains for a batch of anchors (one list per anchor)."""

    def propose(
        self, anchors: Sequence[Anchor], rel_scores: Sequence[np.ndarray]
    ) -> list[list[Proposal]]: ...


def chain_score(linked: float, link: float, rel_score: np.ndarray, actions) -> float:
    """A chain's relevance: its link, the mean relevance of its relations, and a penalty
    per extra hop (each hop must earn its place)."""
    return (
        linked * link + float(np.mean(rel_score[list(actions)])) - HOP_PENALTY * (len(actions) - 1)
    )


def _by_relation(rels: np.ndarray, tails: np.ndarray, cap: int):
    """(relation, its distinct tails) for each relation among edges (e,), (e,), in one
    sort of the edges, not one pass over them per relation: a hub's frontier has 10^5
    edges and dozens of relations. Past ``cap`` edges a relation's tails are an even
    sample (the planner reads at most ``plan_nodes`` of them at the next depth)."""
    if not len(rels):
        return
    order = np.argsort(rels, kind="stable")  # edges stay in node order within a relation
    rels, tails = rels[order], tails[order]
    starts = np.flatnonzero(np.r_[True, rels[1:] != rels[:-1]])
    ends = np.r_[starts[1:], len(rels)]
    for r, a, b in zip(rels[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        group = tails[a:b]
        if len(group) > cap:
            group = group[np.linspace(0, len(group) - 1, cap).astype(np.int64)]
        yield r, np.unique(group)


class ChainPlanner:
    """Relation sequences present around the anchor, best mean relevance first.

    Args:
        graph: the view the sequences are read from.
        max_hops: longest chain.
        beam: chains kept per anchor (each depth keeps ``4 * beam`` to extend).
        plan_nodes: entities per sequence whose edges are read while planning (an even
            sample of larger sets).
        linked: weight of the link score in a chain's score.
        min_hops: shortest chain proposed (one-hop answers come from the graph's facts).
    """

    def __init__(
        self,
        graph: GraphView,
        *,
        max_hops: int,
        beam: int,
        plan_nodes: int,
        linked: float,
        min_hops: int = 2,
    ) -> None:
        self.graph = graph
        self.max_hops = int(max_hops)
        self.beam = int(beam)
        self.plan_nodes = int(plan_nodes)
        self.linked = float(linked)
        self.min_hops = int(min_hops)

    def plan(
        self, rel_score: np.ndarray, source: int, scope: Any = None
    ) -> list[tuple[float, tuple[int, ...]]]:
        """(mean relevance, action sequence) around ``source``, best first."""
        plans: list[tuple[float, tuple[int, ...]]] = []
        frontier: dict[tuple[int, ...], np.ndarray] = {(): np.array([source], dtype=np.int64)}
        for _depth in range(self.max_hops):
            nxt: dict[tuple[int, ...], np.ndarray] = {}
            for seq, nodes in frontier.items():
                if len(nodes) > self.plan_nodes:
                    nodes = nodes[np.linspace(0, len(nodes) - 1, self.plan_nodes).astype(np.int64)]
                rels, tails = self.graph.out_edges(nodes, scope)
                if len(rels) == 0:
                    continue
                keep = tails != source  # going back and forth is fine, returning is not
                for r, reached in _by_relation(rels[keep], tails[keep], 8 * self.plan_nodes):
                    nxt[(*seq, r)] = reached
            scored = sorted(
                ((float(np.mean(rel_score[list(seq)])), seq) for seq in nxt), reverse=True
            )[: self.beam * 4]
            plans.extend(scored)
            frontier = {seq: nxt[seq] for _, seq in scored}
        plans.sort(reverse=True)
        return plans[: self.beam]

    def propose(
        self, anchors: Sequence[Anchor], rel_scores: Sequence[np.ndarray]
    ) -> list[list[Proposal]]:
        schema = self.graph.schema_actions()
        out = []
        for a in anchors:
            rel = rel_scores[a.question]
            found = []
            for _, plan in self.plan(rel, a.node, a.scope):
                if len(plan) >= self.min_hops and not schema[list(plan)].any():
                    found.append(Proposal(a, plan, chain_score(self.linked, a.link, rel, plan)))
            out.append(found)
        return out


class PolicyProposer:
    """The path policy's likely walks from each anchor (one batched beam search).

    Args:
        reasoner: a trained question-mode :class:`~kgagent.policy.PathReasoner`.
        beam: walks kept by beam search.
        options: walks proposed at most.
        min_share: walks less likely than this share of the kept mass are dropped.
        linked: weight of the link score in a chain's score (the policy's anchor counts
            as a sure link).
    """

    def __init__(
        self, reasoner: Any, *, beam: int, options: int, min_share: float, linked: float
    ) -> None:
        self.reasoner = reasoner
        self.beam = int(beam)
        self.options = int(options)
        self.min_share = float(min_share)
        self.linked = float(linked)

    def propose(
        self, anchors: Sequence[Anchor], rel_scores: Sequence[np.ndarray]
    ) -> list[list[Proposal]]:
        from kgagent.policy import Query

        if not anchors:
            return []
        queries = [Query(a.node, a.vector, np.empty(0, dtype=np.int64), a.allowed) for a in anchors]
        beams = self.reasoner.beam_search(queries, beam=self.beam)
        out = []
        for a, paths in zip(anchors, beams, strict=True):
            rel = rel_scores[a.question]
            out.append(
                [
                    Proposal(a, p.actions, chain_score(self.linked, 1.0, rel, p.actions), p.logp)
                    for p in likely(paths, self.options, self.min_share)
                ]
            )
        return out


def likely(paths: list, options: int, min_share: float) -> list:
    """The policy's best paths, as long as each keeps at least ``min_share`` of the mass."""
    if not paths:
        return []
    logp = np.array([p.logp for p in paths])
    share = np.exp(logp - logp.max())
    share /= share.sum()
    return [p for p, s in zip(paths, share.tolist(), strict=True) if s >= min_share][:options]
