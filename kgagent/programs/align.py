"""Which words of a question ask for which relation of a program.

A program with a second entity holds two relation paths (the chain, and the constraint's
path to that entity) and each must be asked for by its own words: in "movies written by
A that B directed", "written" asks for the chain and "directed" for the constraint; a
reading that spends "directed" twice is wrong. Like the zero-shot chain ranker
(:class:`~kgagent.pipeline.ranker.ChainRanker`), every relation takes the word window
(one or two content words) it reads most like, no two relations the same words, and
each relation costs what the ranker's hops cost, so a relation earns its place only
where the question names it. Each relation also belongs to an entity (the chain to its
topic, the path to the other entity), and English puts a relation's words next to its
entity ("written by A", "B directed"): a window far from its entity costs a little per
character, so "movies written by A that B directed" is not read the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from kgagent.pipeline.vectors import TextVectors
from kgagent.text import STOP_WORDS, content_stems

__all__ = ["WindowAligner"]

_CACHE_MAX = 50_000  # window vectors kept
_WORD = re.compile(r"[a-z0-9]+")


class WindowAligner:
    """Aligns relations (direction indexes into ``relation_texts``) to word windows.

    Args:
        encoder: ``encode(list[str]) -> (n, d)`` unit vectors.
        relation_texts: (2R,) how each relation reads, forward then inverse.
        relation_vectors: (2R, d) unit vectors of ``relation_texts``.
        lexical: weight of the stem overlap beside the cosine.
        hop_cost: what each aligned relation must earn (the ranker's ``hop_cost``).
        distance: cost per character between a window and its relation's entity.
        max_distance: the most that distance costs.
        window: longest window, in words.
    """

    def __init__(
        self,
        encoder,
        relation_texts: Sequence[str],
        relation_vectors: np.ndarray,
        *,
        lexical: float = 0.5,
        hop_cost: float = 0.6,
        distance: float = 0.01,
        max_distance: float = 0.3,
        window: int = 2,
    ) -> None:
        self.encoder = encoder
        self.vectors = np.asarray(relation_vectors, dtype=np.float32)  # (2R, d)
        self.stems = [content_stems(t) for t in relation_texts]
        self.lexical = float(lexical)
        self.hop_cost = float(hop_cost)
        self.distance = float(distance)
        self.max_distance = float(max_distance)
        self.window = int(window)
        self._vectors = TextVectors(encoder, max_items=_CACHE_MAX)

    def sims(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """(2R, W) how much each window of ``text`` reads like each relation (in its
        better-reading direction, for both directions), and each window's character span
        in ``text``."""
        toks = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text.lower())]
        found = []
        for n in range(1, self.window + 1):
            for i in range(len(toks) - n + 1):
                w = toks[i : i + n]
                if w[0][0] not in STOP_WORDS and w[-1][0] not in STOP_WORDS:
                    found.append((w[0][1], w[-1][2], " ".join(t for t, _, _ in w)))
        if not found:
            return np.zeros((len(self.stems), 0), dtype=np.float32), []
        vecs = self._encode([w for _, _, w in found])  # (W, d)
        stems = [content_stems(w) for _, _, w in found]
        overlap = np.array(
            [[len(rs & ws) / len(rs) if rs else 0.0 for ws in stems] for rs in self.stems],
            dtype=np.float32,
        )  # (2R, W)
        sims = self.vectors @ vecs.T + self.lexical * overlap  # (2R, W)
        half = len(sims) // 2  # a relation reads either way ("written by" / "wrote")
        both = np.maximum(sims[:half], sims[half:])
        return np.concatenate([both, both]), [(a, b) for a, b, _ in found]

    def align(
        self,
        sims: np.ndarray,
        spans: Sequence[tuple[int, int]],
        slots: Sequence[tuple[int, tuple[int, int]]],
    ) -> float:
        """Σ over ``slots`` (relation direction, its entity's span) of the similarity of
        the window each takes less its distance cost (greedily, best pairs first, no two
        sharing a character), minus ``hop_cost`` per slot."""
        if sims.shape[1] == 0 or not slots:
            return -self.hop_cost * len(slots)
        gaps = np.array(
            [[max(a - e, s - b, 0) for a, b in spans] for _, (s, e) in slots], dtype=np.float32
        )  # (k, W) characters between each window and each slot's entity
        rows = sims[[k for k, _ in slots]] - np.minimum(
            self.distance * gaps, self.max_distance
        )  # (k, W)
        order = np.dstack(np.unravel_index(np.argsort(-rows, axis=None), rows.shape))[0]
        taken: set[int] = set()
        used: list[tuple[int, int]] = []
        total = 0.0
        for slot, j in order.tolist():
            if slot in taken:
                continue
            a, b = spans[j]
            if all(b <= x or a >= y for x, y in used):
                taken.add(slot)
                used.append((a, b))
                total += float(rows[slot, j])
                if len(taken) == len(slots):
                    break
        return total - self.hop_cost * len(slots)

    def _encode(self, texts: list[str]) -> np.ndarray:
        """(n, d) vectors of ``texts``; windows repeat across questions, so they are cached."""
        known = self._vectors.encode(texts)
        return np.stack([known[t] for t in texts])
