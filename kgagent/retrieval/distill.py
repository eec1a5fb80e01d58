"""Distilling a sentence transformer into a static model: model2vec's recipe, our code.

Tulkens & van Dongen, "Model2Vec: fast state-of-the-art static embeddings" (2024,
https://github.com/MinishLab/model2vec): every token of the source's vocabulary goes through
the transformer alone (``[CLS] token [SEP]``; the mean of the three output states), PCA
reduces the vectors (centered, to ``dim``), and each row is scaled by a SIF weight (Arora et
al., "A simple but tough-to-beat baseline for sentence embeddings", ICLR 2017) whose word
probability comes from Zipf's law over the vocabulary order, as there are no corpus counts.

Ours because model2vec's ``distill`` extra pins transformers < 5.4 (we run 5.x). For
all-MiniLM-L6-v2 on 2 cores: ~29.5k forward passes of 3 tokens, ~20 s in all.
:func:`distill` takes the transformer as a plain function of token ids, so tests run it on
a lookup table, and :func:`distill_dir` loads a local model directory (offline, safetensors
only) for it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.errors import EncoderError
from kgagent.retrieval.static import (
    DEFAULT_DIM,
    DEFAULT_SIF,
    RECIPE_VERSION,
    StaticModel,
    load_tokenizer,
)

__all__ = ["TransformerStates", "distill", "distill_dir", "embeddable_tokens", "zipf_sif_weights"]

_UNUSED = re.compile(r"\[unused\d+\]")

#: ``states(ids)``: (b, 3) int64 token ids -> (b, 3, h) last hidden states
States = Callable[[np.ndarray], np.ndarray]


def embeddable_tokens(tokenizer: Any) -> np.ndarray:
    """Ids worth a vector, in vocabulary order: all but special and ``[unusedN]`` tokens.

    BERT's vocabulary lists its ~1,000 placeholders and specials first and its word pieces
    roughly by frequency after, so skipping the former makes the Zipf ranks of the latter
    their frequency ranks. The skipped rows stay zero: a text tokenized to ``[UNK]`` adds
    nothing (model2vec drops the unknown token too).
    """
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    vocab = tokenizer.get_vocab(with_added_tokens=True)  # token -> id
    ids = [i for t, i in vocab.items() if t not in special and not _UNUSED.fullmatch(t)]
    return np.array(sorted(ids), dtype=np.int64)


def zipf_sif_weights(n: int, coefficient: float = DEFAULT_SIF) -> np.ndarray:
    """SIF weights ``a / (a + p(r))`` of ``n`` tokens given in frequency order.

    With no corpus counts, ``p(r)`` is Zipf's law over the order: ``p(r) ∝ 1/r`` for ranks
    ``r = 2 .. n + 1`` (model2vec's numbering), normalized to sum to 1. Frequent tokens
    (``the``, ``of``, punctuation) get small weights, rare ones close to 1.
    """
    inv_rank = 1.0 / np.arange(2, n + 2, dtype=np.float64)  # (n,)
    p = inv_rank / inv_rank.sum()  # (n,)
    return coefficient / (coefficient + p)  # (n,)


def _pca(x: np.ndarray, dim: int) -> np.ndarray:
    """``x`` centered and projected on its ``dim`` leading principal axes (float32).

    An eigendecomposition of the (h, h) covariance, cheaper than an SVD of the (n, h)
    matrix; each axis's sign is fixed (largest entry positive) so the result does not
    depend on the LAPACK build.
    """
    x = x.astype(np.float64)  # (n, h)
    x -= x.mean(axis=0)
    _, vecs = np.linalg.eigh(x.T @ x)  # (h, h), eigenvalues ascending
    axes = vecs[:, ::-1][:, :dim]  # (h, dim), leading first
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(dim)])  # (dim,)
    return (x @ (axes * signs)).astype(np.float32)  # (n, dim)


def distill(
    states: States,
    tokenizer: Any,
    *,
    dim: int = DEFAULT_DIM,
    sif_coefficient: float = DEFAULT_SIF,
    tokens: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 1024,
    config: dict[str, Any] | None = None,
) -> StaticModel:
    """Distils a transformer into a :class:`StaticModel` (see the module docstring).

    Args:
        states: the transformer as a function of (b, 3) token ids to their (b, 3, h) last
            hidden states (:class:`TransformerStates` wraps a Hugging Face model; tests pass
            a lookup table).
        tokenizer: the source's ``tokenizers.Tokenizer``; its vocabulary is the one embedded.
        dim: PCA output size, at most ``h`` and the number of tokens embedded.
        sif_coefficient: ``a`` in the SIF weight ``a / (a + p)``.
        tokens: ids to embed, in frequency order (default: :func:`embeddable_tokens`); the
            others get zero rows. Tests pass a few hundred to stay fast.
        batch_size: tokens per forward pass.
        config: recorded in the model's ``config.json`` (source, fingerprint ...).
    """
    if not 0 < sif_coefficient < float("inf"):
        raise EncoderError(f"static encoder: sif_coefficient must be > 0, not {sif_coefficient}")
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    ids = embeddable_tokens(tokenizer) if tokens is None else np.asarray(tokens, np.int64)
    if ids.ndim != 1 or not len(ids) or ids.min() < 0 or ids.max() >= vocab_size:
        raise EncoderError(f"static encoder: tokens must be ids below {vocab_size}")
    if len(np.unique(ids)) != len(ids):
        raise EncoderError("static encoder: tokens must not repeat an id")
    if not isinstance(dim, int) or not 0 < dim <= len(ids):
        raise EncoderError(
            f"static encoder: dim must be an int in 1..{len(ids)} (tokens embedded), not {dim!r}"
        )
    cls_id, sep_id = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]"))
    if cls_id is None or sep_id is None:
        raise EncoderError("static encoder: the tokenizer has no [CLS] and [SEP] tokens")
    means = []
    for start in range(0, len(ids), batch_size):
        b = ids[start : start + batch_size]  # (b,)
        seq = np.stack([np.full_like(b, cls_id), b, np.full_like(b, sep_id)], axis=1)  # (b, 3)
        means.append(np.asarray(states(seq), dtype=np.float32).mean(axis=1))  # (b, h)
        if dim > means[0].shape[1]:  # known after the first batch, not the last
            raise EncoderError(
                f"static encoder: dim {dim} exceeds the source's size {means[0].shape[1]}"
            )
    x = np.concatenate(means)  # (n, h)
    rows = _pca(x, dim) * zipf_sif_weights(len(ids), sif_coefficient)[:, None]  # (n, d)
    vectors = np.zeros((vocab_size, dim), dtype=np.float32)  # (V, d)
    vectors[ids] = rows
    recipe = {
        "recipe": "model2vec: [CLS] token [SEP] mean-pooled, PCA, Zipf-rank SIF weights",
        "recipe_version": RECIPE_VERSION,
        "sif_coefficient": sif_coefficient,
        "tokens_embedded": len(ids),
        "kgagent_version": _version(),
    }
    return StaticModel(vectors, tokenizer.to_str(), {**(config or {}), **recipe})


class TransformerStates:
    """A Hugging Face transformer as the ``states`` function :func:`distill` takes.

    Runs under ``torch.inference_mode``; sequences are all three tokens long, so no padding
    or attention mask is involved.
    """

    def __init__(self, model: Any) -> None:
        self.model = model.eval()

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))  # (b, 3)
            out = self.model(input_ids=x, attention_mask=torch.ones_like(x))
            hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
            return hidden.float().numpy()  # (b, 3, h)


def _version() -> str:
    from kgagent import __version__

    return __version__


def distill_dir(
    path: Path, *, dim: int = DEFAULT_DIM, sif_coefficient: float = DEFAULT_SIF, **config: Any
) -> StaticModel:
    """Loads a local transformer directory (safetensors only, offline) and distils it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from transformers import AutoModel
    except ImportError as exc:
        raise EncoderError(
            "distilling a static encoder needs the ml extras: pip install -c constraints.txt "
            "-e .[ml]"
        ) from exc
    tok_path = path / "tokenizer.json"
    try:
        tokenizer = load_tokenizer(tok_path.read_text("utf-8"), tok_path)
    except (OSError, UnicodeDecodeError) as exc:
        raise EncoderError(f"{tok_path}: unreadable ({exc})") from None
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):  # load bars
            model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True)
    except Exception as exc:  # OSError, ValueError, safetensors errors ...
        raise EncoderError(f"{path}: cannot load the transformer to distil ({exc})") from exc
    return distill(
        TransformerStates(model), tokenizer, dim=dim, sif_coefficient=sif_coefficient,
        config=config,
    )  # fmt: skip
