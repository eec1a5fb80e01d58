"""Encoder vectors of short texts that repeat across questions, kept between calls."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["TextVectors"]


class TextVectors:
    """Encoder vectors of short texts that repeat across questions (word windows, chain
    phrasings), kept between calls; thread-safe. Shared by the chain ranker and the
    program proposer's aligner (:mod:`kgagent.programs.align`).

    Args:
        encoder: sentence encoder (unit vectors).
        max_items: the cache is emptied when it grows past this many texts.
    """

    def __init__(self, encoder, *, max_items: int) -> None:
        self.encoder = encoder
        self.max_items = int(max_items)
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many texts are kept."""
        return len(self._cache)

    def encode(self, cached: Iterable[str], fresh: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """text -> (d,) vector of every ``cached`` and ``fresh`` text, in one encoder call
        for those not known; only ``cached`` texts are kept (``fresh`` ones, such as whole
        questions, rarely repeat)."""
        cached = set(cached)
        with self._lock:
            known = {t: self._cache[t] for t in cached if t in self._cache}
        texts = list(dict.fromkeys([*fresh, *(t for t in cached if t not in known)]))
        vecs = np.asarray(self.encoder.encode(texts), dtype=np.float32) if texts else []
        out = dict(zip(texts, vecs, strict=True))
        with self._lock:
            if len(self._cache) > self.max_items:
                self._cache.clear()
            self._cache.update({t: out[t] for t in cached if t in out})
        out.update(known)
        return out
