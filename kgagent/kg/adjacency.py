"""The graph as integer arrays: CSR adjacency for fast walks, and a networkx view.

Walk-based learners (the RL policy, k-hop expansion) need "all (relation, target) pairs
out of entity e" in O(degree) without SPARQL round trips; a CSR layout over the stable
ids gives exactly that, for the whole graph in three flat arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Adjacency"]


@dataclass(frozen=True)
class Adjacency:
    """Directed, relation-labelled edges between entities, in CSR form.

    The out-edges of entity ``e`` are ``relations[indptr[e]:indptr[e+1]]`` and
    ``targets[indptr[e]:indptr[e+1]]``, sorted by (relation, target). Edges whose object
    is a literal are not in the adjacency (they are attributes, not links).

    Attributes:
        indptr: (num_entities + 1,) int64 row pointers.
        relations: (num_edges,) int64 relation ids.
        targets: (num_edges,) int64 target entity ids.
        num_entities: size of the entity id space (ids of removed entities included).
        num_relations: size of the relation id space; with inverse edges, the inverse of
            relation r is ``r + num_base_relations``.
        num_base_relations: relation ids below this are forward relations.
    """

    indptr: np.ndarray
    relations: np.ndarray
    targets: np.ndarray
    num_entities: int
    num_relations: int
    num_base_relations: int

    @classmethod
    def from_triples(
        cls, triples: np.ndarray, *, num_entities: int, num_relations: int
    ) -> Adjacency:
        """Builds CSR arrays from an (n, 3) array of (head, relation, tail) ids."""
        heads, relations, targets = _sorted_unique(np.asarray(triples).reshape(-1, 3),
                                                   num_entities, num_relations)  # fmt: skip
        indptr = np.zeros(num_entities + 1, dtype=np.int64)
        if len(heads):
            np.cumsum(np.bincount(heads, minlength=num_entities), out=indptr[1:])
        return cls(
            indptr=indptr,
            relations=relations,
            targets=targets,
            num_entities=num_entities,
            num_relations=num_relations,
            num_base_relations=num_relations,
        )

    @property
    def num_edges(self) -> int:
        return int(self.targets.shape[0])

    def triples(self) -> np.ndarray:
        """(num_edges, 3) array of (head, relation, tail) ids."""
        heads = np.repeat(np.arange(self.num_entities, dtype=np.int64), np.diff(self.indptr))
        return np.stack([heads, self.relations, self.targets], axis=1)

    def out_degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def neighbors(self, entity: int) -> tuple[np.ndarray, np.ndarray]:
        """(relations, targets) of the out-edges of ``entity``."""
        lo, hi = self.indptr[entity], self.indptr[entity + 1]
        return self.relations[lo:hi], self.targets[lo:hi]

    def out_edges(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(relations, targets) of every out-edge of ``nodes``, without a Python loop."""
        _, edges = self.out_edge_index(nodes)
        return self.relations[edges], self.targets[edges]

    def out_edge_index(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, edges): for every out-edge of ``nodes``, its source's position in
        ``nodes`` and its position in the CSR arrays."""
        starts, lengths = self.indptr[nodes], self.indptr[nodes + 1] - self.indptr[nodes]
        total = int(lengths.sum())
        offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        edges = np.arange(total, dtype=np.int64) + offsets  # (total,) edge positions
        return np.repeat(np.arange(len(nodes)), lengths), edges

    def with_inverse(self) -> Adjacency:
        """Adds an inverse edge (t, r + R, h) for every edge (h, r, t), as walkers need."""
        if self.num_relations != self.num_base_relations:
            return self
        t = self.triples()
        r = self.num_base_relations
        inv = np.stack([t[:, 2], t[:, 1] + r, t[:, 0]], axis=1)
        both = np.concatenate([t, inv])
        adj = Adjacency.from_triples(both, num_entities=self.num_entities, num_relations=2 * r)
        return Adjacency(
            indptr=adj.indptr,
            relations=adj.relations,
            targets=adj.targets,
            num_entities=self.num_entities,
            num_relations=2 * r,
            num_base_relations=r,
        )

    def to_scipy(self, relation: int | None = None):
        """A scipy CSR matrix (entities x entities) of edge counts, for one relation or all."""
        from scipy.sparse import csr_matrix

        t = self.triples()
        if relation is not None:
            t = t[t[:, 1] == relation]
        data = np.ones(len(t), dtype=np.float32)
        shape = (self.num_entities, self.num_entities)
        return csr_matrix((data, (t[:, 0], t[:, 2])), shape=shape)

    def save(self, path) -> None:
        """Saves the arrays as an uncompressed .npz (no pickle)."""
        np.savez(
            path,
            indptr=self.indptr,
            relations=self.relations,
            targets=self.targets,
            shape=np.array([self.num_entities, self.num_relations, self.num_base_relations]),
        )

    @classmethod
    def load(cls, path) -> Adjacency:
        with np.load(path, allow_pickle=False) as data:
            n_ent, n_rel, n_base = (int(x) for x in data["shape"])
            return cls(
                indptr=data["indptr"],
                relations=data["relations"],
                targets=data["targets"],
                num_entities=n_ent,
                num_relations=n_rel,
                num_base_relations=n_base,
            )


def _sorted_unique(
    triples: np.ndarray, num_entities: int, num_relations: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(heads, relations, targets), int64, of the distinct rows of an (n, 3) id array,
    sorted by (h, r, t). Each row is one integer key ((h R + r) E + t) where that fits,
    so the sort is of n integers, not of n rows (np.unique(axis=0) sorts a structured
    view, several times slower at 10M edges)."""
    if not len(triples):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty.copy()
    h, r, t = (triples[:, i].astype(np.int64) for i in range(3))
    e, k = max(num_entities, 1), max(num_relations, 1)
    fits = e * k * e < 2**62 and min(h.min(), r.min(), t.min()) >= 0
    if fits and h.max() < e and t.max() < e and r.max() < k:
        key = np.unique((h * k + r) * e + t)  # (m,) sorted, duplicates gone
        h, rest = np.divmod(key, k * e)
        r, t = np.divmod(rest, e)
        return h, r, t
    rows = np.unique(np.stack([h, r, t], axis=1), axis=0)
    return rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy()
