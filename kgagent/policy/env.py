"""The walk environment: relation choices over the CSR adjacency, carrying entity sets.

A walker that picks one *edge* per step (MINERVA) must guess which of a thousand films
an actor starred in leads on to the answer; a walker that picks a *relation* and moves
to every neighbour along it (TransferNet, NSM) keeps the whole answer set and puts the
decision where the question's signal is. Each action is a relation (forward, or inverse
as ``r + R``) or STOP, which stays in place for the remaining steps; an action is
available only if some entity of the current set has such an edge. Sets are sorted id
arrays, computed with array operations over the CSR rows and cached by (start, path),
since training revisits the same walks many times.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from kgagent.kg.adjacency import Adjacency

__all__ = ["RelationWalk"]


class RelationWalk:
    """Batched relation walks from topic entities.

    Args:
        adj: the graph (inverse edges are added if missing).
        max_hops: the longest path (STOP fills shorter ones).
        max_nodes: entities a set keeps before it is thinned (evenly, deterministically)
            for the *next* expansion; answer sets themselves are never cut here.
        cache_size: (start, path) -> set entries kept (LRU).
        revisit_start: whether a walk may pass through its start again. Questions say no:
            "who directed the films that share actors with X" means the *other* films'
            directors, and MetaQA's gold answers are built that way (on held-out 3-hop
            questions the policy's best walk reaches only gold answers 92% of the time
            without revisits, 56% with them). Link prediction walks may (MINERVA's do).
    """

    def __init__(
        self,
        adj: Adjacency,
        *,
        max_hops: int = 3,
        max_nodes: int = 2000,
        cache_size: int = 50_000,
        revisit_start: bool = False,
    ) -> None:
        self.adj = adj.with_inverse()
        self.num_relations = self.adj.num_relations  # forward + inverse
        self.stop = self.num_relations  # the STOP / stay-in-place action
        self.num_actions = self.num_relations + 1
        self.max_hops = int(max_hops)
        self.max_nodes = int(max_nodes)
        self.revisit_start = bool(revisit_start)
        self._cache: OrderedDict[tuple[int, tuple[int, ...]], np.ndarray] = OrderedDict()
        self._cache_size = int(cache_size)
        self._available: OrderedDict[tuple[int, tuple[int, ...]], np.ndarray] = OrderedDict()

    # -- sets -----------------------------------------------------------------------------

    def _edges(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(relations, targets) of every out-edge of ``nodes``, without a Python loop."""
        if len(nodes) > self.max_nodes:
            nodes = nodes[np.linspace(0, len(nodes) - 1, self.max_nodes).astype(np.int64)]
        return self.adj.out_edges(nodes)

    def nodes(self, start: int, path: tuple[int, ...]) -> np.ndarray:
        """The sorted entity set a path reaches from ``start`` (STOP steps are no-ops)."""
        path = tuple(a for a in path if a != self.stop)
        key = (int(start), path)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        if not path:
            out = np.array([start], dtype=np.int64)
        else:
            rels, tails = self._edges(self.nodes(start, path[:-1]))
            out = np.unique(tails[rels == path[-1]])
            if not self.revisit_start:
                out = out[out != start]
        self._remember(self._cache, key, out)
        return out

    def available(self, start: int, path: tuple[int, ...]) -> np.ndarray:
        """(num_actions,) bool: relations with an edge out of the current set, and STOP.

        After STOP only STOP is available; at the maximum length too.
        """
        mask = np.zeros(self.num_actions, dtype=bool)
        mask[self.stop] = True
        if len(path) >= self.max_hops or (path and path[-1] == self.stop):
            return mask
        key = (int(start), tuple(path))
        hit = self._available.get(key)
        if hit is None:
            rels, _ = self._edges(self.nodes(start, path))
            hit = np.unique(rels)
            self._remember(self._available, key, hit)
        mask[hit] = True
        return mask

    def answers(self, start: int, path: tuple[int, ...]) -> np.ndarray:
        """What a finished path answers: its set, less the start (questions never answer
        with their own topic: "who co-starred with X" is not X; with ``revisit_start`` off
        the set never holds it)."""
        out = self.nodes(start, path)
        return out[out != start]

    def _remember(self, cache: OrderedDict, key, value) -> None:
        cache[key] = value
        if len(cache) > self._cache_size:
            cache.popitem(last=False)

    # -- batches ------------------------------------------------------------------------

    def masks(self, starts: np.ndarray, paths: list[tuple[int, ...]]) -> np.ndarray:
        """(B, num_actions) bool action masks for a batch of partial walks."""
        return np.stack([self.available(s, p) for s, p in zip(starts.tolist(), paths, strict=True)])

    def precision(self, start: int, path: tuple[int, ...], gold: np.ndarray) -> float:
        """Share of the reached answers that are gold: the chance a pick from them is right."""
        got = self.answers(start, path)
        if len(got) == 0 or len(gold) == 0:
            return 0.0
        return float(np.isin(got, gold, assume_unique=True).sum()) / len(got)
