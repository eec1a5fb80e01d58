"""RecallProbe: how often a compact (approximate) fact index finds the exact top 10.

A compact index (float16, HNSW, IVF-PQ) trades recall for memory and speed, and how much
it loses depends on the data, so it is measured on the index itself rather than assumed.
Exact search needs the float32 vectors, which a compact index no longer holds, and a
streaming build never holds them all at once either. So the probe keeps a few hundred
query vectors (stored vectors: the questions a fact index gets are close to its facts)
and, for each, the exact top-k over every float32 vector the index was given, updated
chunk by chunk as vectors are added (one ``(probes, chunk)`` matrix product per add:
256 probes cost ~0.7 GFLOP per 10k 256-d vectors). Recall is then the overlap of the
index's answer to each probe with that running exact top-k, whenever it is asked for.

Probes are drawn from the first vectors added to an empty index (or from the whole set
when the index is rebuilt from exact vectors); a probe whose exact list loses an id
(removed, or replaced by a new vector) is dropped rather than guessed at, since its
true k-th neighbour is then unknown. An index that received vectors before its probe
existed (saved by an older version) has no probe: its recall is unknown (None).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["RecallProbe"]

#: how many stored vectors serve as probe queries
PROBES = 256
#: recall is measured at this depth (recall@10)
K = 10


class RecallProbe:
    """Probe queries (p, d) with their running exact top-k (p, k) over all added vectors.

    Args:
        dim: vector size.
        probes: how many probe queries to draw.
        k: the depth of recall@k.
        seed: the sampling seed (probes are drawn evenly spread, seeded, reproducible).
    """

    def __init__(self, dim: int, *, probes: int = PROBES, k: int = K, seed: int = 0) -> None:
        self.dim, self.probes, self.k, self.seed = int(dim), int(probes), int(k), int(seed)
        self.queries = np.zeros((0, self.dim), dtype=np.float32)  # (p, d)
        self.top_ids = np.zeros((0, self.k), dtype=np.int64)  # (p, k), -1 = none yet
        self.top_scores = np.zeros((0, self.k), dtype=np.float32)  # (p, k), -inf = none
        self.valid = np.zeros(0, dtype=bool)  # (p,)
        self.complete = True  # has seen every vector the index holds (False: unknown)

    @property
    def active(self) -> int:
        """Probes still usable."""
        return int(self.valid.sum()) if self.complete else 0

    def seed_from(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Draws fresh probes from ``vectors`` (n, d), which must be every vector the index
        holds, and computes their exact top-k over all of them."""
        n = len(ids)
        rng = np.random.default_rng(self.seed)
        pick = np.sort(rng.choice(n, size=min(self.probes, n), replace=False)) if n else []
        self.queries = np.ascontiguousarray(vectors[pick], dtype=np.float32)  # (p, d)
        p = len(self.queries)
        self.top_ids = np.full((p, self.k), -1, dtype=np.int64)
        self.top_scores = np.full((p, self.k), -np.inf, dtype=np.float32)
        self.valid = np.ones(p, dtype=bool)
        self.complete = True
        self.observe(ids, vectors)

    def observe(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Merges added vectors (m, d) under ids (m,) into every probe's exact top-k.

        The first vectors an empty index gets also supply the probes. Ids already in a
        probe's list must have been :meth:`forget`-ten first (a replaced vector).
        """
        if not self.complete or len(ids) == 0:
            return
        if len(self.queries) == 0:
            self.seed_from(ids, vectors)
            return
        for start in range(0, len(ids), 65_536):  # bounds the (p, chunk) score matrix
            v = vectors[start : start + 65_536]
            scores = self.queries @ v.T  # (p, m)
            both_s = np.concatenate([self.top_scores, scores], axis=1)  # (p, k + m)
            chunk_ids = np.broadcast_to(ids[start : start + 65_536], scores.shape)
            both_i = np.concatenate([self.top_ids, chunk_ids], axis=1)
            order = np.argsort(-both_s, axis=1, kind="stable")[:, : self.k]  # (p, k)
            self.top_scores = np.take_along_axis(both_s, order, axis=1).astype(np.float32)
            self.top_ids = np.take_along_axis(both_i, order, axis=1)

    def forget(self, ids: np.ndarray) -> None:
        """Drops the probes whose exact top-k holds one of ``ids`` (removed or replaced)."""
        if len(ids) and len(self.top_ids):
            self.valid &= ~np.isin(self.top_ids, ids).any(axis=1)

    def recall(self, search: Callable[[np.ndarray, int], np.ndarray]) -> float | None:
        """Mean share of each usable probe's exact top-k that ``search(queries, k)`` (ids,
        (p, k)) returns; None when no probe is usable."""
        use = np.flatnonzero(self.valid) if self.complete else np.empty(0, dtype=np.int64)
        if len(use) == 0:
            return None
        found = search(self.queries[use], self.k)  # (p, k)
        exact = self.top_ids[use]  # (p, k)
        hits = [
            len(set(f[f >= 0].tolist()) & set(e[e >= 0].tolist())) / max(1, int((e >= 0).sum()))
            for f, e in zip(found, exact, strict=True)
        ]
        return float(np.mean(hits))

    # -- persistence --------------------------------------------------------------------

    FILE = "probe.npz"

    def save(self, directory: Path) -> str:
        """Writes ``probe.npz`` into ``directory`` (a save in progress); returns its name."""
        np.savez(
            directory / self.FILE,
            queries=self.queries,
            top_ids=self.top_ids,
            top_scores=self.top_scores,
            valid=self.valid,
            complete=np.array(self.complete),
        )
        return self.FILE

    @classmethod
    def load(cls, directory: Path, dim: int) -> RecallProbe:
        """The probe saved in ``directory``; an incomplete (unknown) one if there is none.

        Raises:
            ValueError: the file is unreadable or its arrays disagree.
        """
        probe = cls(dim)
        path = directory / cls.FILE
        if not path.is_file():
            probe.complete = False
            return probe
        with np.load(path, allow_pickle=False) as z:
            q, ids, scores, valid = z["queries"], z["top_ids"], z["top_scores"], z["valid"]
            complete = bool(z["complete"])
        p = len(q)
        if q.shape != (p, dim) or ids.shape != scores.shape or len(ids) != p or valid.shape != (p,):
            raise ValueError(f"{path}: probe arrays of shapes {q.shape} {ids.shape} {valid.shape}")
        probe.k = ids.shape[1] if p else probe.k
        probe.queries, probe.top_ids = q.astype(np.float32), ids.astype(np.int64)
        probe.top_scores, probe.valid = scores.astype(np.float32), valid.astype(bool)
        probe.complete = complete
        return probe
