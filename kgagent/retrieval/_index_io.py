"""Reading helpers of :class:`~kgagent.retrieval.index.FactIndex` (kept apart so that
index.py stays a readable size): the exact index's rows, id checks, faiss's errors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.artifact import read_manifest
from kgagent.errors import IndexLoadError, IndexMismatchError
from kgagent.retrieval.faiss_kinds import faiss_module

__all__ = [
    "FORMAT",
    "TYPES",
    "check_ids",
    "check_sizes",
    "digest",
    "faiss_reason",
    "read_flat",
    "read_index_manifest",
    "reusable",
]

FORMAT = "kgagent-faiss/1"


#: the faiss classes each kind is saved as
TYPES = {
    "flat": ("IndexIDMap2",),
    "flat16": ("IndexIDMap2",),
    "hnsw": ("IndexHNSWFlat",),
    "hnsw16": ("IndexHNSWSQ",),
    "ivfpq": ("IndexIVFPQ", "IndexPreTransform"),
}


def read_flat(directory: Path, dim: int, row_ids: np.ndarray) -> Any:
    """An exact index from ``vectors.npy`` (+ ``vectors.tail.npy``, see
    :func:`kgagent._io.save_rows`), read through a mapping a block at a time: faiss keeps
    its own copy, so reading the file whole first would hold the vectors twice."""
    faiss = faiss_module()
    parts = []
    for name in ("vectors.npy", "vectors.tail.npy"):
        path = directory / name
        if name == "vectors.npy" or path.is_file():
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise IndexLoadError(f"{path}: unreadable ({exc})") from exc
            if arr.ndim != 2 or arr.dtype != np.float32 or arr.shape[1] != dim:
                want = f"float32 (n, {dim})"
                raise IndexLoadError(f"{path}: {arr.dtype} {arr.shape}, expected {want}")
            parts.append(arr)
    n = sum(len(a) for a in parts)
    if row_ids.shape != (n,) or row_ids.dtype != np.int64:
        raise IndexLoadError(f"{directory}: {n} vectors but ids of shape {row_ids.shape}")
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    at = 0
    for arr in parts:
        for start in range(0, len(arr), 65_536):
            block = np.ascontiguousarray(arr[start : start + 65_536])
            index.add_with_ids(block, row_ids[at : at + len(block)])
            at += len(block)
    return index


def check_ids(ids: np.ndarray) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"ids must be 1-d, not shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be integers, not {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError("ids must be >= 0 (-1 marks padding in search results)")
    return arr


def faiss_reason(exc: BaseException) -> str:
    """faiss's own explanation without its C++ location (``Error in f() at x.cpp:12: ``)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return re.sub(r"^Error in .*? at \S+:\d+: ", "", text)


def digest(row_ids: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(row_ids).tobytes(), digest_size=16).hexdigest()


def check_sizes(directory: Path, sizes: dict[str, int]) -> None:
    """Refuses a saved index whose files are missing or not of the manifest's sizes."""
    for name, size in sizes.items():
        path = directory / name
        if not path.is_file():
            raise IndexLoadError(f"{path}: missing")
        if path.stat().st_size != size:
            raise IndexLoadError(
                f"{path}: {path.stat().st_size} bytes, the manifest says {size} (truncated "
                "or replaced); rebuild the index"
            )
    if "ids.npy" not in sizes or not ({"index.faiss", "vectors.npy"} & set(sizes)):
        raise IndexLoadError(f"{directory}/manifest.json: lists no index or ids file")


def read_index_manifest(
    directory: str | Path,
    *,
    format: str | None,
    expect: dict[str, Any] | None = None,
    check_files: bool = True,
) -> dict[str, Any]:
    """A saved index's manifest through the shared checks (:mod:`kgagent.artifact`):
    IndexLoadError if missing, unreadable, of another format or if a file differs from
    its inventory (``check_files``), IndexMismatchError if an ``expect`` field differs
    (the index was built with other settings)."""
    return read_manifest(
        directory,
        "manifest.json",
        format=format,
        expect=expect,
        error=IndexLoadError,
        mismatch=IndexMismatchError,
        check_files=check_files,
        what="a saved fact index",
        hint="rebuild the index",
    )


def reusable(reuse: str | Path | None) -> Path | None:
    """A previous save's directory, if it holds a readable manifest of this format."""
    if reuse is None:
        return None
    try:  # its rows are compared before reuse (save_rows), not trusted: no digests here
        read_index_manifest(reuse, format=FORMAT, check_files=False)
    except IndexLoadError:
        return None
    return Path(reuse)
