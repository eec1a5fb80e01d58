"""Walks of a relation chain over a :class:`~kgagent.programs.graph.ProgramGraph`, and
the evidence (edges, value rows) that supports each node a program reports.

Unlike :func:`kgagent.pipeline.execute.execute_chain`, which keeps the first walks of a
step so a hub cannot flood a question's candidates, a program needs *every* answer (a
count that misses some is wrong), so walks are capped only as a safety limit and the cap
is reported (:attr:`Walks.truncated`) for the caller to abstain on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Support", "Walks", "first_rows", "walk"]


@dataclass(frozen=True)
class Walks:
    """Every walk of a chain from a set of start nodes.

    Attributes:
        paths: (W, s + 1) int64 nodes of each walk, start first; no walk repeats a node.
        edges: (W, s) int64 edge references of each walk's hops.
        truncated: a step had more than the cap of walks (the rest were dropped).
    """

    paths: np.ndarray
    edges: np.ndarray
    truncated: bool = False

    @property
    def ends(self) -> np.ndarray:
        """(W,) the last node of each walk."""
        return self.paths[:, -1]


def walk(graph, starts: np.ndarray, actions: Sequence[int], *, max_walks: int) -> Walks:
    """All walks of ``actions`` from ``starts`` that never revisit a node of their own
    path (so a walk never ends on its start), breadth first, one vectorized step each."""
    paths = np.asarray(starts, dtype=np.int64).reshape(-1, 1)  # (W, 1)
    edges = np.zeros((len(paths), 0), dtype=np.int64)  # (W, 0)
    truncated = False
    for action in actions:
        parent, tail, edge = graph.step(paths[:, -1], int(action))  # (n,) each
        fresh = ~(paths[parent] == tail[:, None]).any(axis=1)  # (n,) no node revisited
        parent, tail, edge = parent[fresh], tail[fresh], edge[fresh]
        if len(parent) > max_walks:
            truncated = True
            parent, tail, edge = parent[:max_walks], tail[:max_walks], edge[:max_walks]
        paths = np.concatenate([paths[parent], tail[:, None]], axis=1)  # (W', s + 1)
        edges = np.concatenate([edges[parent], edge[:, None]], axis=1)  # (W', s)
        if len(paths) == 0:
            break
    return Walks(paths, edges, truncated)


def first_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys in order of first appearance, the row of each first appearance)."""
    uniq, first = np.unique(keys, return_index=True)
    order = np.argsort(first, kind="stable")
    return uniq[order], first[order]


@dataclass(frozen=True)
class Support:
    """The evidence that puts nodes through one stage of a program: per node, the edges
    of one walk and/or one value row (-1: none). Looked up only for reported nodes.

    Attributes:
        nodes: (m,) int64 sorted.
        edges: (m, L) int64 edge references, -1 padded.
        refs: (m,) int64 value references, -1 for none.
    """

    nodes: np.ndarray
    edges: np.ndarray
    refs: np.ndarray

    @classmethod
    def of_walks(cls, keys: np.ndarray, edges: np.ndarray) -> Support:
        """The first walk of each key (a walk's end, or its start)."""
        uniq, first = np.unique(keys, return_index=True)  # sorted keys
        return cls(uniq, edges[first], np.full(len(uniq), -1, dtype=np.int64))

    @classmethod
    def of_refs(cls, keys: np.ndarray, refs: np.ndarray) -> Support:
        """The first value row of each key."""
        uniq, first = np.unique(keys, return_index=True)
        return cls(uniq, np.zeros((len(uniq), 0), dtype=np.int64), refs[first])

    def lookup(self, nodes: Sequence[int]) -> list[tuple[list[int], list[int]]]:
        """(edge references, value references) of each node (empty: not supported)."""
        q = np.asarray(nodes, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.nodes, q), max(len(self.nodes) - 1, 0))
        out = []
        for i, n in zip(at.tolist(), q.tolist(), strict=True):
            if len(self.nodes) == 0 or self.nodes[i] != n:
                out.append(([], []))
                continue
            edges = [e for e in self.edges[i].tolist() if e >= 0]
            ref = int(self.refs[i])
            out.append((edges, [ref] if ref >= 0 else []))
        return out
