"""Relation relevance: how much each relation (each direction) matches a question.

Dense similarity of the relation's phrasing to the question, plus the share of the
phrasing's word stems the question uses: small encoders miss that "director" asks for
"directed by". The same component scores the relations of one graph and of a team's
federation, so a team weighs a question exactly as its members would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kgagent.text import content_stems

__all__ = ["RelationRelevance"]


class RelationRelevance:
    """Scores relations against a question.

    Args:
        texts: (2R,) how each relation reads, forward then inverse.
        vectors: (2R, d) the encoder's unit vectors of ``texts``.
        lexical: weight of the stem overlap beside the cosine.
    """

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, *, lexical: float) -> None:
        self.texts = list(texts)
        self.vectors = np.asarray(vectors, dtype=np.float32)  # (2R, d)
        self.lexical = float(lexical)
        self._stems = [content_stems(t) for t in self.texts]

    def scores(self, question: str, qvec: np.ndarray) -> np.ndarray:
        """(2R,) relevance of each relation and inverse to the question (``qvec``: (d,))."""
        stems = content_stems(question)
        overlap = np.array(
            [len(stems & rs) / len(rs) if rs else 0.0 for rs in self._stems], dtype=np.float32
        )
        return self.vectors @ qvec + self.lexical * overlap  # (2R,)
