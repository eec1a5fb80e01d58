"""Executing a relation chain on CSR arrays, all walks of a step at once.

A chain (r1, r2, ...) from a topic entity is executed breadth first: at each step every
live walk is extended by every edge its last node has for the step's action, in one
``searchsorted`` over the (head, action)-sorted edge keys of each graph (one graph for
an agent, each member's for a team), instead of a Python loop per node and edge. A walk
never revisits an entity; with ``back`` its last hop may end on the topic ("the spouse
of X's husband" is X). At most ``max_walks`` walks survive a step, the first ones in
walk order (parent walk, then graph, then CSR order), so hubs cannot flood a question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kgagent.kg.adjacency import Adjacency

__all__ = ["EdgeKeys", "Reached", "execute_chain"]


@dataclass(frozen=True)
class Reached:
    """What a chain reached: how many distinct answers, and the first walk to each of
    the first ``keep`` of them, in walk order, as [(member, CSR edge index), ...]."""

    total: int
    walks: dict[int, list[tuple[int, int]]]


class EdgeKeys:
    """One adjacency's edges keyed by (head, action): the edges an action takes out of
    many nodes, found with two ``searchsorted`` calls.

    CSR rows are sorted by (relation, target), so ``head * A + relation`` is sorted over
    the whole edge array and an edge's position is its CSR index.
    """

    def __init__(self, adj: Adjacency) -> None:
        self.adj = adj
        self.width = int(adj.num_relations) + 1
        heads = np.repeat(np.arange(adj.num_entities, dtype=np.int64), np.diff(adj.indptr))
        self.keys = heads * self.width + adj.relations.astype(np.int64)  # (E,) sorted

    def ranges(self, nodes: np.ndarray, action: int) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi): per node, the CSR index range of its ``action`` edges (empty for an
        action this graph does not have)."""
        if not 0 <= action < self.width - 1:
            lo = np.zeros(len(nodes), dtype=np.int64)
            return lo, lo
        q = nodes.astype(np.int64) * self.width + int(action)
        return np.searchsorted(self.keys, q, "left"), np.searchsorted(self.keys, q, "right")

    def head_of(self, edges: np.ndarray) -> np.ndarray:
        """(n,) the head node of each CSR edge index."""
        return np.searchsorted(self.adj.indptr, edges, side="right") - 1


def _children(parts: Sequence[EdgeKeys], nodes: np.ndarray, action: int, start: int, stop: int):
    """(parent, member, edge) of every ``action`` edge out of ``nodes[start:stop]``, in
    walk order: by parent, then member, then CSR order."""
    ranges = [p.ranges(nodes[start:stop], action) for p in parts]
    counts = np.stack([hi - lo for lo, hi in ranges], axis=1)  # (P, M)
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    flat = counts.reshape(-1)  # parent-major, then member
    cell = np.repeat(np.arange(len(flat)), flat)  # (total,) which (parent, member) cell
    first = np.cumsum(flat) - flat  # (P*M,) offset of each cell's first child
    lo = np.stack([lo for lo, _ in ranges], axis=1).reshape(-1)  # (P*M,)
    edge = lo[cell] + np.arange(total) - first[cell]
    n_members = counts.shape[1]
    return cell // n_members + start, cell % n_members, edge


def execute_chain(
    parts: Sequence[EdgeKeys],
    topic: int,
    actions: Sequence[int],
    *,
    max_walks: int,
    back: bool = False,
    keep: int | None = None,
) -> Reached:
    """The answers of a chain and the first walk reaching each (see :class:`Reached`).

    Args:
        parts: the graphs' edge keys (member order).
        topic: the start node.
        actions: the chain (action r + R walks relation r backwards).
        max_walks: walks kept per step (the first ones in walk order).
        back: the last hop may end on the topic.
        keep: answers whose walks are returned (None: all).
    """
    nodes = np.array([topic], dtype=np.int64)  # (W,) last node of each walk
    visited = nodes[:, None]  # (W, s + 1) nodes of each walk
    members = np.zeros((1, 0), dtype=np.int64)  # (W, s)
    edges = np.zeros((1, 0), dtype=np.int64)  # (W, s)
    for step, action in enumerate(actions):
        last = back and step == len(actions) - 1 and step > 0
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        n_kept, start = 0, 0
        while start < len(nodes) and n_kept < max_walks:
            # enough parents to fill the step if nothing is filtered out; more if it is
            stop = min(len(nodes), start + max(1, max_walks - n_kept))
            parent, member, edge = _children(parts, nodes, action, start, stop)
            tails = _tails(parts, member, edge)
            seen = (visited[parent] == tails[:, None]).any(axis=1)
            if last:
                seen &= tails != topic  # only the topic may be visited again, at the end
            ok = ~seen
            take = np.flatnonzero(ok)[: max_walks - n_kept]
            kept.append((parent[take], member[take], edge[take], tails[take]))
            n_kept += len(take)
            start = stop
        if n_kept == 0:
            return Reached(0, {})
        parent, member, edge, tails = (np.concatenate(x) for x in zip(*kept, strict=True))
        members = np.concatenate([members[parent], member[:, None]], axis=1)
        edges = np.concatenate([edges[parent], edge[:, None]], axis=1)
        visited = np.concatenate([visited[parent], tails[:, None]], axis=1)
        nodes = tails
    answers = nodes if back else nodes[nodes != topic]
    rows = np.arange(len(nodes)) if back else np.flatnonzero(nodes != topic)
    _, first = np.unique(answers, return_index=True)
    chosen = rows[np.sort(first)][:keep]
    walks = {
        int(nodes[i]): list(zip(m, e, strict=True))
        for i, m, e in zip(
            chosen.tolist(), members[chosen].tolist(), edges[chosen].tolist(), strict=True
        )
    }
    return Reached(len(first), walks)


def _tails(parts: Sequence[EdgeKeys], member: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """(n,) the tail of each (member, edge)."""
    tails = np.empty(len(edge), dtype=np.int64)
    for m, part in enumerate(parts):
        mine = member == m
        tails[mine] = part.adj.targets[edge[mine]]
    return tails
