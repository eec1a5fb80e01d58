"""FactIndex: a faiss inner-product index over fact vectors, keyed by stable int64 ids.

Exact search (``IndexIDMap2(IndexFlatIP)``) up to ``exact_max`` vectors, an HNSW graph
above (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
Hierarchical Navigable Small World graphs", TPAMI 2018). Both update in place: adding an id
again replaces its vector, and removed ids are never returned again — HNSW cannot delete,
so it keeps tombstones, over-fetches past them, and rebuilds from its own stored vectors
once they pass 20 % (no encoder needed, ever).

Measured on 2 cores, 129k unit 384-d vectors (MiniLM embeddings of the MetaQA facts, or
random), faiss 1.15: exact search of one query takes 16.5 ms, memory-bound (it streams
198 MB); HNSW 0.65 ms (random data: 1.5 ms), but its build takes 22 s (random: 54 s) and
recall@10 is 0.94 at the defaults (recall@1 1.0; ``ef_construction=200``: 0.977, build
59 s). So exact is the default up to 1M facts. One query runs on one OpenMP thread: two
take 19.5 ms (the database-parallel path only adds merging) and collapse when another
process holds a core. faiss switches batches to BLAS only from 333 queries of this size;
below, each query streams the database again (32 queries: 244 ms), so a FactIndex moves
the switch down to 2 queries (32 queries: 35 ms).

``storage`` picks how the vectors are held (:data:`STORAGE`): ``float32`` as above;
``float16`` the same kinds over half-size vectors (``flat16``, ``hnsw16``); ``pq`` IVF-PQ
codes re-ranked from float16 rows on disk (``ivfpq``, :mod:`~kgagent.retrieval.faiss_pq`);
``auto`` exact float32 up to ``exact_max`` and IVF-PQ above. Why IVF-PQ and not HNSW
past ``exact_max`` (docs/benchmarks.md, "Compact vectors"; 2 shared cores, MiniLM 384-d):
at 129k vectors HNSW took 133 s to build (float16: 53 s) against IVF-PQ's 26 s, training
included, and IVF-PQ built 1M vectors in 69 s (recall@10 0.92 vs exact, 2.1 ms a query,
42 MiB resident after open: its float16 rows stay mapped on disk), where exact float32
takes 67 ms a query and 1.6 GB resident. Not float16 flat under ``exact_max``: it is
not exact (recall 0.999) and exact float32 fits the budget there. IVF-PQ is trained once,
when the index first calls for it (``auto``: on crossing ``exact_max``, from every vector
held; ``pq``: on reaching :data:`~.faiss_pq.PQ_MIN`, i.e. the first chunk a streaming
build adds); :meth:`rebuild` retrains on all. Every compact kind measures its own
recall@10 against exact search (:mod:`.recall`), saved in the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kgagent._io import atomic_dir, fsync_file, save_rows
from kgagent.artifact import INVENTORY, write_manifest
from kgagent.errors import IndexLoadError
from kgagent.retrieval._index_io import (
    FORMAT,
    TYPES,
    check_ids,
    check_sizes,
    digest,
    faiss_reason,
    read_flat,
    read_index_manifest,
    reusable,
)
from kgagent.retrieval._rwlock import RWLock
from kgagent.retrieval.faiss_kinds import (
    HNSW,
    HNSW16,
    Flat,
    Flat16,
    faiss_module,
    omp_threads,
    open_mapped,
    pad,
    tune_blas,
)
from kgagent.retrieval.faiss_pq import IVFPQ, PQ_MIN, PQParams
from kgagent.retrieval.recall import RecallProbe

__all__ = ["FORMAT", "STORAGE", "FactIndex", "PQParams"]

#: how vectors may be stored (``storage``)
STORAGE = ("auto", "float32", "float16", "pq")
_Store = Flat | HNSW | IVFPQ
_EXACT = ("flat", "hnsw")  # kinds that hold the float32 vectors as given

#: rebuild an HNSW index once this share of its rows are tombstones
REBUILD_TOMBSTONES = 0.2


class FactIndex:
    """Fact vectors keyed by stable int64 ids; exact, or HNSW past ``exact_max``.

    Args:
        dim: vector size.
        exact_max: largest size searched exactly; an add that crosses it switches to HNSW,
            a rebuild that falls back under it switches back.
        hnsw_m: HNSW links per node.
        ef_construction: HNSW build beam (quality vs build time).
        ef_search: HNSW search beam (recall vs latency); settable later.
        storage: how vectors are stored (:data:`STORAGE`, module docstring).
        pq: IVF-PQ settings (storage ``pq`` or ``auto``).

    Thread-safe: searches run concurrently, writes exclusively. Vectors are expected
    L2-normalized (inner product = cosine); they are not renormalized here.
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_max: int = 1_000_000,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 128,
        storage: str = "float32",
        pq: PQParams | dict[str, Any] | None = None,
    ) -> None:
        if int(dim) < 1:
            raise ValueError(f"dim must be >= 1, not {dim}")
        if exact_max < 0 or hnsw_m < 2 or ef_construction < 1 or ef_search < 1:
            raise ValueError("exact_max >= 0, hnsw_m >= 2, ef_construction/ef_search >= 1")
        self.dim = int(dim)
        self._exact_max = int(exact_max)
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self._ef_search = int(ef_search)
        if storage not in STORAGE:
            raise ValueError(f"storage must be one of {', '.join(STORAGE)}, not {storage!r}")
        self.storage = storage
        self.pq = _pq_params(pq)
        self._probe = RecallProbe(self.dim)
        self._lock = RWLock()
        tune_blas(faiss_module(), self.dim)
        self._store: _Store = Flat(self.dim)

    def __repr__(self) -> str:
        return f"FactIndex(dim={self.dim}, kind={self.kind!r}, count={len(self)})"

    # -- properties ---------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"flat"`` (exact), ``"hnsw"``, ``"flat16"``, ``"hnsw16"`` or ``"ivfpq"``."""
        return self._store.kind

    def _want(self, n: int) -> str:
        """The kind ``storage`` calls for at ``n`` vectors."""
        small = n <= self._exact_max
        if self.storage == "float16":
            return "flat16" if small else "hnsw16"
        if self.storage == "pq":
            return "flat" if n < PQ_MIN else "ivfpq"
        if self.storage == "auto":
            return "flat" if small or n < PQ_MIN else "ivfpq"
        return "flat" if small else "hnsw"

    def configure(
        self,
        *,
        storage: str | None = None,
        pq: PQParams | dict[str, Any] | None = None,
        exact_max: int | None = None,
    ) -> None:
        """Applies other settings (None: unchanged) to a built index (a reused one), with
        at most one rebuild: a kind that no longer fits is rebuilt from the stored vectors
        (no encoder); an IVF-PQ index that stays one takes the new ``nprobe`` / ``refine``
        at once, and its other settings at the next :meth:`rebuild` (they need retraining).
        """
        if storage is not None and storage not in STORAGE:
            raise ValueError(f"storage must be one of {', '.join(STORAGE)}, not {storage!r}")
        if exact_max is not None and (isinstance(exact_max, bool) or exact_max < 0):
            raise ValueError(f"exact_max must be an int >= 0, not {exact_max!r}")
        with self._lock.write():
            self.storage = storage or self.storage
            self.pq = _pq_params(pq) if pq is not None else self.pq
            self._exact_max = self._exact_max if exact_max is None else int(exact_max)
            store = self._store
            if store.kind != self._want(len(store)):
                self._store = self._build(*store.live_items(), exact=store.kind == "flat")
            elif isinstance(self._store, IVFPQ):
                self._store.set_search(nprobe=self.pq.nprobe, refine=self.pq.refine)

    @property
    def exact_max(self) -> int:
        """The largest size searched exactly (a saved index keeps the value it was built
        with)."""
        return self._exact_max

    @exact_max.setter
    def exact_max(self, value: int) -> None:
        """Changes the threshold and, if the index is now on the wrong side of it, rebuilds
        it as the other kind from its stored vectors (no encoder needed; building HNSW
        takes ~22 s per 129k 384-d vectors on 2 cores)."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"exact_max must be an int >= 0, not {value!r}")
        with self._lock.write():
            self._exact_max = value
            store = self._store
            if store.kind != self._want(len(store)):
                self._store = self._build(*store.live_items(), exact=store.kind in _EXACT)

    @property
    def tombstones(self) -> int:
        """Dead HNSW rows awaiting the next rebuild (always 0 for flat)."""
        return self._store.tombstones

    @property
    def ef_search(self) -> int:
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"ef_search must be >= 1, not {value}")
        with self._lock.write():
            self._ef_search = int(value)
            if isinstance(self._store, HNSW):
                self._store.ef_search = int(value)

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, id: object) -> bool:
        try:
            return int(id) in self._store.live  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False

    def ids(self) -> np.ndarray:
        """The ids present, (n,) int64 (insertion order, not sorted)."""
        with self._lock.read():
            rows = self._store.row_ids()
            return rows[rows >= 0].copy()

    # -- updates ------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Adds vectors (n, dim) under ids (n,); an id already present gets the new vector.

        Within one call a repeated id keeps its last vector.
        """
        ids = check_ids(ids)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise ValueError(
                f"vectors must have shape ({len(ids)}, {self.dim}), not {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or infinity")
        if len(ids) == 0:
            return
        if len(np.unique(ids)) < len(ids):
            _, last = np.unique(ids[::-1], return_index=True)
            keep = np.sort(len(ids) - 1 - last)
            ids, vectors = ids[keep], vectors[keep]
        with self._lock.write():
            store = self._store
            self._probe.forget(ids)  # a replaced vector: its probes' exact lists are stale
            self._probe.observe(ids, vectors)
            if isinstance(store, Flat):  # flat kinds switch when they outgrow themselves
                new = sum(1 for i in ids.tolist() if i not in store.live)
                want = self._want(len(store) + new)
                if (want == "ivfpq" and store.kind == "flat" and new == len(ids)
                        and len(store) >= max(len(ids), PQ_MIN)):  # fmt: skip
                    # trained on the stored rows in place (a copy would be 1 GB at 1M 256-d
                    # vectors, twice with the new ones joined), then the new rows added
                    built = self._build(store.row_ids(), store.raw_vectors(), exact=True,
                                        kind=want)  # fmt: skip
                    built.add(ids, vectors)
                    self._store = built
                    return
                if want != store.kind:
                    old_ids, old_vecs = store.live_items()
                    keep_old = ~np.isin(old_ids, ids)
                    self._store = self._build(
                        np.concatenate([old_ids[keep_old], ids]),
                        np.concatenate([old_vecs[keep_old], vectors]),
                        exact=store.kind == "flat",
                    )
                    return
            store.add(ids, vectors)
            self._maybe_rebuild()

    def remove(self, ids: np.ndarray) -> int:
        """Removes ids; returns how many were present (absent ids are ignored)."""
        ids = np.unique(check_ids(ids))
        if len(ids) == 0:
            return 0
        with self._lock.write():
            self._probe.forget(ids)
            removed = self._store.remove(ids)
            self._maybe_rebuild()
            return removed

    def rebuild(self) -> None:
        """Rebuilds from the stored vectors: drops tombstones, re-picks the kind for the
        size, and retrains IVF-PQ (on a fresh sample: the only time it retrains)."""
        with self._lock.write():
            store = self._store
            self._store = self._build(*store.live_items(), exact=store.kind in _EXACT)

    def _maybe_rebuild(self) -> None:
        store = self._store
        if store.tombstones and store.tombstones > REBUILD_TOMBSTONES * store.index.ntotal:
            if isinstance(store, IVFPQ):
                store.compact()  # IVF-PQ keeps its training
            else:
                self._store = self._build(*store.live_items(), exact=store.kind in _EXACT)

    def _build(
        self, ids: np.ndarray, vectors: np.ndarray, *, exact: bool, kind: str | None = None
    ) -> _Store:
        """A fresh store of the kind ``storage`` calls for at this size (or ``kind``),
        holding these vectors (float32, or IVF-PQ's float16 rows); ``exact``: they are every
        vector as given (not decoded from float16), so a probe without a history can be
        drawn."""
        kind = kind or self._want(len(ids))
        if exact and not self._probe.complete:
            self._probe.seed_from(ids, vectors)  # recall measurable from here on
        if kind == "ivfpq":
            return IVFPQ.build(self.dim, self.pq, ids, vectors)
        store = self._empty(kind)
        for start in range(0, len(ids), 65_536):  # float16 rows converted a chunk at a time
            part = np.ascontiguousarray(vectors[start : start + 65_536], dtype=np.float32)
            store.add(np.ascontiguousarray(ids[start : start + 65_536]), part)
        return store

    def _empty(self, kind: str, **loaded: Any) -> Flat | HNSW:
        if kind in ("flat", "flat16"):
            return (Flat if kind == "flat" else Flat16)(self.dim, **loaded)
        return (HNSW if kind == "hnsw" else HNSW16)(
            self.dim,
            m=self.hnsw_m,
            ef_construction=self.ef_construction,
            ef_search=self._ef_search,
            **loaded,
        )

    # -- queries ------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product: scores (q, k) float32 and ids (q, k) int64, best first.

        Rows with fewer than k hits are padded with -inf / -1. A 1-d query is one row.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]  # (1, d)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (q, {self.dim}), not {np.shape(queries)}")
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, not {k}")
        k = int(k)
        if len(q) == 0:
            return pad(0, k)
        with self._lock.read():
            if len(q) == 1:  # one thread: faster for one query, and leaves a core to others
                with omp_threads(faiss_module(), 1):
                    return self._store.search(q, k)
            return self._store.search(q, k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ids, (m, dim) float32; KeyError names an absent id."""
        ids = check_ids(ids)
        with self._lock.read():
            absent = [i for i in ids.tolist() if i not in self._store.live]
            if absent:
                raise KeyError(f"id {absent[0]} is not in the index")
            if len(ids) == 0:
                return np.zeros((0, self.dim), dtype=np.float32)
            return self._store.vectors(ids)

    def recall(self) -> float | None:
        """recall@10 of this index against exact search over every vector it was given
        (:class:`~kgagent.retrieval.recall.RecallProbe`); None for exact float32 search
        (1 by construction) and where unknown (an index saved before probes existed)."""
        with self._lock.read():
            if self._store.kind == "flat":
                return None
            return self._probe.recall(lambda q, k: self._store.search(q, k)[1])

    # -- persistence --------------------------------------------------------------------

    def save(
        self,
        directory: str | Path,
        manifest: dict[str, Any] | None = None,
        *,
        reuse: str | Path | None = None,
    ) -> None:
        """Writes the index, ids.npy and manifest.json (with every file's size, and sha256
        up to :data:`kgagent.artifact.DIGEST_MAX`) as one atomic directory swap.

        ``manifest`` (what the vectors mean: encoder, KG fingerprint ...) is stored with the
        index's own facts, which win on a clash. A crash leaves the previous save intact.
        An exact index is saved as its raw vectors (``vectors.npy``); given ``reuse``, a
        previous save whose vectors are this index's leading rows (the usual state after
        adding facts), that file is hard-linked and only the new rows are written. Other
        kinds are saved as faiss's ``index.faiss`` (IVF-PQ: and its float16 rows, reused the
        same way). The manifest records the storage settings and the measured recall@10.
        """
        faiss = faiss_module()
        directory = Path(directory)
        recall = self.recall()
        with self._lock.read(), atomic_dir(directory) as tmp:
            store = self._store
            if store.kind == "flat":
                files = save_rows(tmp, "vectors", store.raw_vectors(), reusable(reuse))
            elif isinstance(store, IVFPQ):
                files = store.save(tmp, reusable(reuse))
            else:
                faiss.write_index(store.index, str(tmp / "index.faiss"))
                fsync_file(tmp / "index.faiss")
                files = ["index.faiss"]
            row_ids = np.ascontiguousarray(store.row_ids())
            np.save(tmp / "ids.npy", row_ids)
            fsync_file(tmp / "ids.npy")
            files.append(self._probe.save(tmp))
            facts = {
                "kind": store.kind,
                "dim": self.dim,
                "count": len(store),
                "rows": int(store.index.ntotal),
                "metric": "ip",
                "faiss_version": faiss.__version__,
                "exact_max": self.exact_max,
                "hnsw_m": self.hnsw_m,
                "ef_construction": self.ef_construction,
                "ef_search": self._ef_search,
                "storage": self.storage,
                "pq": (store.params if isinstance(store, IVFPQ) else self.pq).as_dict(),
                "recall_at_10": None if recall is None else round(recall, 4),
                "recall_probes": self._probe.active,
                "files": {name: (tmp / name).stat().st_size for name in [*files, "ids.npy"]},
                "ids_digest": digest(row_ids),
            }
            if isinstance(store, IVFPQ):
                facts["trained_on"] = store.trained_on
                facts["train_seconds"] = round(store.train_seconds, 2)
            fields = {k: v for k, v in {**(manifest or {}), **facts}.items() if k != "format"}
            fields.pop(INVENTORY, None)
            write_manifest(tmp, "manifest.json", format=FORMAT, inventory=True, **fields)

    @staticmethod
    def summary(directory: str | Path) -> str:
        """One line on a saved index's storage and measured recall (for ``kgagent index``)."""
        m = FactIndex.read_manifest(directory)
        kind, recall = m.get("kind"), m.get("recall_at_10")
        if recall is None:
            return f"vectors: {kind}" + (" (exact search)" if kind == "flat" else "")
        return f"vectors: {kind}, recall@10 vs exact {recall:.3f} ({m.get('recall_probes')} probes)"

    @staticmethod
    def read_manifest(directory: str | Path) -> dict[str, Any]:
        """The manifest of a saved index (any format), without reading the index itself."""
        return read_index_manifest(directory, format=None, check_files=False)

    @classmethod
    def load(cls, directory: str | Path, *, expect: dict[str, Any] | None = None) -> FactIndex:
        """Reads a saved index, refusing it unless every ``expect`` key matches the manifest.

        Raises:
            IndexMismatchError: a manifest field differs from ``expect`` (checked before the
                index itself is read).
            IndexLoadError: the directory is missing, incomplete or corrupt, or of another
                format (checked first).
        """
        directory = Path(directory)
        m = read_index_manifest(directory, format=FORMAT, expect=expect)
        try:
            kind, dim, count, rows = m["kind"], int(m["dim"]), int(m["count"]), int(m["rows"])
            sizes = {str(name): int(size) for name, size in m["files"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexLoadError(f"{directory}/manifest.json: missing or bad field {exc}") from exc
        check_sizes(directory, sizes)
        faiss = faiss_module()
        try:
            row_ids = np.load(directory / "ids.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexLoadError(f"{directory}/ids.npy: unreadable ({exc})") from exc
        if m.get("ids_digest", digest(row_ids)) != digest(row_ids):
            raise IndexLoadError(f"{directory}: ids.npy does not match the index's ids")
        source = None
        if "vectors.npy" in sizes:  # exact index saved as raw vectors
            index = read_flat(directory, dim, row_ids)
        else:
            try:
                index, source = open_mapped(directory / "index.faiss")
            except Exception as exc:  # faiss raises RuntimeError with a C++ trace
                raise IndexLoadError(
                    f"{directory}/index.faiss: corrupt faiss index ({faiss_reason(exc)})"
                ) from exc
        want_type = TYPES.get(kind, ())
        problem = None
        if not want_type:
            problem = f"unknown kind {kind!r}"
        elif not isinstance(index, tuple(getattr(faiss, t) for t in want_type)):
            problem = f"holds a {type(index).__name__}, the manifest says {kind}"
        elif index.d != dim:
            problem = f"vectors have dim {index.d}, the manifest says {dim}"
        elif index.ntotal != rows or row_ids.shape != (rows,) or row_ids.dtype != np.int64:
            problem = f"{index.ntotal} vectors and {row_ids.shape} ids, the manifest says {rows}"
        elif int((row_ids >= 0).sum()) != count:
            problem = f"{int((row_ids >= 0).sum())} live ids, the manifest says {count}"
        if problem:
            raise IndexLoadError(f"{directory}: inconsistent index ({problem})")
        try:
            pq = PQParams(**m.get("pq", {}))
            self = cls(
                dim,
                exact_max=int(m.get("exact_max", 1_000_000)),
                hnsw_m=int(m.get("hnsw_m", 32)),
                ef_construction=int(m.get("ef_construction", 80)),
                ef_search=int(m.get("ef_search", 128)),
                storage=m.get("storage", "float32"),
                pq=pq,
            )
            self._probe = RecallProbe.load(directory, dim)
        except (TypeError, ValueError) as exc:
            raise IndexLoadError(f"{directory}: bad storage settings or probe ({exc})") from exc
        if kind == "ivfpq":
            try:
                store = IVFPQ.open(directory, dim, pq, row_ids, index=index, source=source,
                                   trained_on=int(m.get("trained_on", 0)),
                                   train_seconds=float(m.get("train_seconds", 0.0)))  # fmt: skip
            except (OSError, ValueError) as exc:
                raise IndexLoadError(f"{directory}: float16 rows unreadable ({exc})") from exc
        elif kind in ("flat", "flat16"):
            store = self._empty(kind, index=index, source=source)
        else:
            store = self._empty(kind, index=index, row_ids=row_ids, source=source)
        if not np.array_equal(store.row_ids(), row_ids) or len(store) != count:
            raise IndexLoadError(f"{directory}: ids.npy does not match the index's ids")
        self._store = store
        return self


def _pq_params(pq: PQParams | dict[str, Any] | None) -> PQParams:
    return pq if isinstance(pq, PQParams) else PQParams(**(pq or {}))
