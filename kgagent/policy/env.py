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
        weights: how a finished walk spreads over its answers. ``"uniform"``: every
            entity of the set alike (questions: "films starred by X" are all answers).
            ``"walk"``: the mass of a random walk that follows the path's relations and
            picks uniformly among an entity's edges of each (the path-ranking random
            walk, Lao & Cohen 2010; MINERVA's entity walk with a uniform edge choice):
            an entity many edges lead to ranks above one a single edge reaches, which is
            what link prediction on dense graphs needs (UMLS).
        revisit_start: whether a walk may pass through its start again. Questions say no:
            "who directed the films that share actors with X" means the *other* films'
            directors, and MetaQA's gold answers are built that way (on held-out 3-hop
            questions the policy's best walk reaches only gold answers 92% of the time
            without revisits, 56% with them). Link prediction walks may (MINERVA's do).
        topic_answers: whether the last hop may end on the start and the start answer the
            question ("the spouse of X's husband" is X: 5.8% of PathQuestion's 2-hop test
            questions); walks still never pass *through* it. Uniform weights only.
    """

    def __init__(
        self,
        adj: Adjacency,
        *,
        max_hops: int = 3,
        max_nodes: int = 2000,
        cache_size: int = 50_000,
        revisit_start: bool = False,
        weights: str = "uniform",
        topic_answers: bool = False,
    ) -> None:
        if weights not in ("uniform", "walk"):
            raise ValueError(f"weights must be 'uniform' or 'walk', not {weights!r}")
        if topic_answers and (weights != "uniform" or revisit_start):
            raise ValueError("topic_answers needs uniform weights and no revisit_start")
        self.adj = adj.with_inverse()
        self.num_relations = self.adj.num_relations  # forward + inverse
        self.stop = self.num_relations  # the STOP / stay-in-place action
        self.num_actions = self.num_relations + 1
        self.max_hops = int(max_hops)
        self.max_nodes = int(max_nodes)
        self.revisit_start = bool(revisit_start)
        self.weights = weights
        self.topic_answers = bool(topic_answers)
        self._cache: OrderedDict[tuple[int, tuple[int, ...]], np.ndarray] = OrderedDict()
        self._cache_size = int(cache_size)
        self._available: OrderedDict[tuple[int, tuple[int, ...]], np.ndarray] = OrderedDict()
        self._back: OrderedDict[tuple[int, tuple[int, ...]], bool] = OrderedDict()
        self._mass: OrderedDict[tuple[int, tuple[int, ...]], np.ndarray] = OrderedDict()

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
        """What a finished path answers: its set, less the start (questions do not answer
        with their own topic: "who co-starred with X" is not X; with ``revisit_start`` off
        the set never holds it) unless ``topic_answers`` and the last hop leads back."""
        out = self.nodes(start, path)
        out = out[out != start]
        path = tuple(a for a in path if a != self.stop)
        if self.topic_answers and path and self._returns(start, path):
            out = np.insert(out, np.searchsorted(out, start), start)
        return out

    def _returns(self, start: int, path: tuple[int, ...]) -> bool:
        """Whether the path's last relation leads from the set before it back to start."""
        key = (int(start), path)
        hit = self._back.get(key)
        if hit is None:
            rels, tails = self._edges(self.nodes(start, path[:-1]))
            hit = bool(len(path) > 1 and np.any(tails[rels == path[-1]] == start))
            self._remember(self._back, key, hit)
        return hit

    def answer_weights(self, start: int, path: tuple[int, ...]) -> np.ndarray:
        """The probability of each of :meth:`answers` (same order; sums to 1 when any)."""
        got = self.answers(start, path)
        if self.weights == "uniform" or len(got) == 0:
            return np.full(len(got), 1.0 / max(1, len(got)))
        mass = self._walk_mass(start, tuple(a for a in path if a != self.stop))
        w = mass[np.isin(self.nodes(start, path), got, assume_unique=True)]
        total = w.sum()
        return w / total if total > 0 else np.full(len(got), 1.0 / len(got))

    def _walk_mass(self, start: int, path: tuple[int, ...]) -> np.ndarray:
        """Random-walk mass over :meth:`nodes` (same order), without STOP steps."""
        key = (int(start), path)
        hit = self._mass.get(key)
        if hit is not None:
            return hit
        if not path:
            out = np.ones(1)
        else:
            prev = self.nodes(start, path[:-1])
            mass = self._walk_mass(start, path[:-1])
            if len(prev) > self.max_nodes:  # the same thinning as ``nodes``
                keep = np.linspace(0, len(prev) - 1, self.max_nodes).astype(np.int64)
                prev, mass = prev[keep], mass[keep]
            src, edges = self.adj.out_edge_index(prev)  # (edges,) source row, CSR position
            on = self.adj.relations[edges] == path[-1]
            src, tails = src[on], self.adj.targets[edges[on]]
            share = mass[src] / np.bincount(src, minlength=len(prev))[src]  # (edges on r,)
            reached = self.nodes(start, path)
            pos = np.searchsorted(reached, tails)
            ok = (pos < len(reached)) & (reached[np.minimum(pos, len(reached) - 1)] == tails)
            out = np.bincount(pos[ok], weights=share[ok], minlength=len(reached))
        self._remember(self._mass, key, out)
        return out

    def _remember(self, cache: OrderedDict, key, value) -> None:
        cache[key] = value
        if len(cache) > self._cache_size:
            cache.popitem(last=False)

    # -- batches ------------------------------------------------------------------------

    def masks(self, starts: np.ndarray, paths: list[tuple[int, ...]]) -> np.ndarray:
        """(B, num_actions) bool action masks for a batch of partial walks."""
        return np.stack([self.available(s, p) for s, p in zip(starts.tolist(), paths, strict=True)])

    def precision(self, start: int, path: tuple[int, ...], gold: np.ndarray) -> float:
        """The chance that an answer picked from the reached set (by ``weights``) is gold."""
        got = self.answers(start, path)
        if len(got) == 0 or len(gold) == 0:
            return 0.0
        return float(self.answer_weights(start, path)[np.isin(got, gold, assume_unique=True)].sum())
