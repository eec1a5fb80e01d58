"""The static encoder fitted to its teacher on the graph's own facts, at index time.

A static model distilled token by token (:mod:`kgagent.retrieval.distill`) reads each word
piece out of context, and on MetaQA its dense recall@10 was 0.924 of MiniLM's. Tokenlearn
(MinishLab, the model2vec authors) closes such gaps by training the token vectors on a
corpus the teacher has embedded; a user's graph brings its own corpus, its fact sentences.
So a full build of the index with the static encoder first

1. verbalizes a uniform sample of the graph's facts (one scan; :func:`sample_fact_texts`),
2. encodes them with the teacher (the transformer the static model was distilled from),
3. moves the static rows of the word pieces in them so that each sampled sentence's static
   vector points where the teacher's does (:func:`fit_rows`):

       min_D  mean_i ‖norm(x_i (E + D)) − t_i‖²  +  λ · mean_v ‖D_v‖² / s²

   with x_i the counts of sentence i's word pieces, E the distilled rows of the pieces
   seen, s their mean norm (λ keeps rows near their distilled value), and the target
   t_i = norm(m_i A): the teacher's vector m_i mapped into the static space by the
   least-squares A that best maps the teacher's vectors of the sample to the static
   ones. The space stays the distilled one, so the word pieces no sampled fact holds
   (question words) keep their rows and still read the same way; Adam, full batch.

The fitted model is saved in the workspace (``encoder/``, :class:`StaticModel`'s files,
the fit recorded in its ``config.json``) and used for facts and questions alike from then
on; its name (the distilled one's, plus a digest of the rows) goes into the index's
manifest, so vectors of another fit are never mixed in. An incremental build keeps the
fit; delete ``encoder/`` and re-index to fit again.

Measured (bench/static_encoder.py: MetaQA's 129k facts; 300 one-hop dev questions; dense
recall@10 as a share of MiniLM's, a gold answer at either end of a top-10 fact / a top-10
fact that joins topic and answer; 2 cores): distilled 0.924 / 0.944, fitted 0.978 / 0.993.
The fit took 31 s of the 42 s build: 15,162 facts drawn (20,000 asked of 170k triples,
labels among them) in 2 s, MiniLM on them 21 s, 150 steps 9 s.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent.errors import EncoderError
from kgagent.retrieval.static import StaticEncoder, StaticModel, load_tokenizer

if TYPE_CHECKING:
    from kgagent.config import RetrievalConfig
    from kgagent.kg.graph import KnowledgeGraph

__all__ = [
    "FIT_DIR",
    "describe",
    "fit_rows",
    "fit_static",
    "fitted_encoder",
    "ridge_map",
    "sample_fact_texts",
    "teacher_for",
    "worker_spec",
    "workspace_encoder",
]

log = logging.getLogger(__name__)

FIT_DIR = "encoder"  # the fitted static model, under the workspace root
#: Adam steps and step size (a share of the rows' mean norm): how far rows move. Farther
#: fits the sampled facts closer but reads questions worse (MetaQA dev, dense recall@10
#: as a share of MiniLM's, answer / gold fact: lr 0.0017 x 150 steps 0.978 / 0.993,
#: x 300 0.971 / 0.985, lr 0.004 x 300 0.953 / 0.967, lr 0.01 x 300 0.928 / 0.940)
STEPS = 150
LR = 0.0017
L2 = 1e-3  # λ: how strongly rows stay at their distilled value (1e-4: about the same)


def workspace_encoder(rc: RetrievalConfig, root: Path | None):
    """The encoder ``rc`` names; for ``static`` with a fitted model in the workspace at
    ``root``, that model (its own name, so manifests tell fits apart)."""
    from kgagent.retrieval.encoder import get_encoder

    encoder = get_encoder(rc.encoder, **rc.encoder_kwargs)
    fitted = None if root is None else Path(root) / FIT_DIR
    if fittable(encoder, rc) and fitted is not None and (fitted / "config.json").exists():
        config = StaticModel.read_config(fitted)
        if config.get("fit", {}).get("base") == encoder.name:  # fitted from this very model
            return StaticEncoder(path=fitted, name=config.get("name"), **_max_tokens(rc))
    return encoder


def _max_tokens(rc: RetrievalConfig) -> dict[str, Any]:
    return {k: v for k, v in rc.encoder_kwargs.items() if k == "max_tokens"}


def teacher_for(encoder: StaticEncoder):
    """The transformer ``encoder`` was distilled from, as a sentence encoder."""
    from kgagent.retrieval.encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(encoder.source)


def fittable(encoder: Any, rc: RetrievalConfig) -> bool:
    """Whether ``encoder`` is a distilled static model that a build should fit first."""
    return (
        isinstance(encoder, StaticEncoder)
        and encoder.source is not None  # a model given by path is used as it is
        and rc.static_fit > 0
    )


def fit_static(
    kg: KnowledgeGraph,
    encoder: StaticEncoder,
    *,
    sample: int,
    steps: int = STEPS,
    seed: int = 0,
    progress: bool = False,
) -> StaticModel:
    """``encoder``'s distilled model fitted to its teacher on ``sample`` of ``kg``'s facts
    (see the module docstring); its config records the fit and the new name."""
    if encoder.source is None:
        raise EncoderError("static encoder: a model given by path has no teacher to fit to")
    t0 = time.perf_counter()
    texts = sample_fact_texts(kg, sample, seed=seed)
    t_sample = time.perf_counter() - t0
    model = encoder.model
    if len(texts) < 2:  # nothing to fit on: the distilled rows as they are
        return model
    teacher = teacher_for(encoder)
    targets = np.asarray(teacher.encode(texts, show_progress=progress), np.float32)
    t_teacher = time.perf_counter() - t0 - t_sample
    tokenizer = load_tokenizer(model.tokenizer_json, "tokenizer.json")
    ids = [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    vectors, stats = fit_rows(model.vectors, ids, targets, steps=steps, lr=LR, l2=L2, seed=seed)
    digest = hashlib.sha256(vectors.tobytes()).hexdigest()[:12]
    fit = {
        "base": encoder.name,
        "teacher": teacher.name,
        "facts_sampled": len(texts),
        "steps": steps,
        "seed": seed,
        **stats,
        "seconds": {
            "sample": round(t_sample, 1),
            "teacher": round(t_teacher, 1),
            "fit": round(time.perf_counter() - t0 - t_sample - t_teacher, 1),
        },
    }
    config = {**model.config, "name": f"{encoder.name}:fit-{digest}", "fit": fit}
    log.info("static encoder fitted to %s on %d facts: %s", teacher.name, len(texts), fit)
    return StaticModel(vectors, model.tokenizer_json, config)


def sample_fact_texts(kg: KnowledgeGraph, n: int, *, seed: int = 0) -> list[str]:
    """About ``n`` fact sentences of ``kg``, a uniform sample, in one scan of its triples
    (each kept with probability n / triples), verbalized as the index verbalizes them."""
    from kgagent.kg.scan import triple_chunks
    from kgagent.retrieval.fact_stream import FactTableBuilder
    from kgagent.retrieval.verbalize import Verbalizer

    total = max(len(kg), 1)
    share = min(1.0, n / total)
    rng = np.random.default_rng(seed)
    builder = FactTableBuilder(Verbalizer(kg.ontology))
    texts: list[str] = []
    for frame in triple_chunks(kg):
        kept = frame if share >= 1.0 else frame[rng.random(len(frame)) < share]
        if len(kept):
            texts.extend(builder.add(kept.reset_index(drop=True)).texts)
    return texts[:n] if len(texts) > n else texts


def fit_rows(
    vectors: np.ndarray,
    ids: list[list[int]],
    targets: np.ndarray,
    *,
    steps: int = STEPS,
    lr: float = LR,
    l2: float = L2,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, float]]:
    """(V, d) rows moved so each text's normalized sum of rows points where its teacher
    vector does, mapped into the rows' space (the module docstring's objective).

    Args:
        vectors: (V, d) the distilled rows.
        ids: per text, its word piece ids.
        targets: (n, h) the teacher's unit vectors of the same texts.

    Returns the new (V, d) float32 rows (only those of the pieces seen differ) and the
    mean squared distance to the targets before and after; rows that end no closer to
    the targets than they began are not kept.
    """
    import torch

    if len(ids) != len(targets):
        raise EncoderError(f"static fit: {len(ids)} texts but {len(targets)} teacher vectors")
    torch.manual_seed(seed)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))  # (n,)
    keep = lengths > 0
    flat = np.concatenate([np.asarray(t, np.int64) for t, k in zip(ids, keep, strict=True) if k])
    seen, cols = np.unique(flat, return_inverse=True)  # (V',), (tokens,)
    rows = np.repeat(np.arange(int(keep.sum())), lengths[keep])  # (tokens,)
    x = torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([rows, cols])),
        torch.ones(len(flat)),
        (int(keep.sum()), len(seen)),
        check_invariants=False,  # built right here: ids in range
    ).coalesce()  # (n', V') word piece counts
    base = torch.from_numpy(np.ascontiguousarray(vectors[seen], np.float32))  # (V', d)
    teacher = torch.from_numpy(np.ascontiguousarray(targets[keep], np.float32))  # (n', h)
    with torch.no_grad():
        static = torch.nn.functional.normalize(torch.sparse.mm(x, base), dim=1)  # (n', d)
        a = torch.from_numpy(ridge_map(teacher.numpy(), static.numpy()))  # (h, d)
        target = torch.nn.functional.normalize(teacher @ a, dim=1)  # (n', d)
        before = float(((static - target) ** 2).sum(1).mean())
    scale = float(base.norm(dim=1).mean()) or 1.0
    delta = torch.zeros_like(base, requires_grad=True)  # (V', d)
    opt = torch.optim.Adam([delta], lr=lr * scale)
    for _ in range(steps):
        y = torch.nn.functional.normalize(torch.sparse.mm(x, base + delta), dim=1)  # (n', d)
        loss = ((y - target) ** 2).sum(1).mean() + l2 * (delta**2).sum(1).mean() / scale**2
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        fitted = base + delta
        y = torch.nn.functional.normalize(torch.sparse.mm(x, fitted), dim=1)
        after = float(((y - target) ** 2).sum(1).mean())
    out = np.array(vectors, dtype=np.float32, copy=True)
    if after >= before:  # no closer to the teacher (rows of zeros, a degenerate sample)
        return out, {"distance_before": round(before, 4), "distance_after": round(before, 4),
                     "pieces_fitted": 0}  # fmt: skip
    out[seen] = fitted.numpy()
    return out, {"distance_before": round(before, 4), "distance_after": round(after, 4),
                 "pieces_fitted": len(seen)}  # fmt: skip


def fitted_encoder(kg, encoder, rc: RetrievalConfig, root: Path | None, *, progress=False):
    """``encoder`` fitted to ``kg`` (:func:`fit_static`) where it is a distilled static
    model and ``rc.static_fit`` asks for it, saved under ``root`` (a workspace) and loaded
    from there; any other encoder as it is."""
    if not fittable(encoder, rc):
        return encoder
    model = fit_static(kg, encoder, sample=rc.static_fit, progress=progress)
    name = model.config.get("name", encoder.name)
    if root is None:
        return StaticEncoder.from_model(model, name=name, **_max_tokens(rc))
    model.save(Path(root) / FIT_DIR)
    return StaticEncoder(path=Path(root) / FIT_DIR, name=name, **_max_tokens(rc))


def describe(encoder) -> str | None:
    """One line on ``encoder``'s fit (``kgagent index`` prints it); None if not fitted."""
    if not isinstance(encoder, StaticEncoder) or encoder.path is None:
        return None
    fit = encoder.model.config.get("fit")
    if not fit:
        return None
    took = sum(fit.get("seconds", {}).values())
    return (
        f"static encoder fitted to {fit['teacher']} on {fit['facts_sampled']:,} sampled facts "
        f"in {took:.0f}s (mean squared distance {fit['distance_before']:.3f} -> "
        f"{fit['distance_after']:.3f}), kept in {encoder.path}"
    )


def worker_spec(encoder, rc: RetrievalConfig) -> tuple[str, dict[str, Any]]:
    """(registry name, keyword arguments) that load ``encoder`` elsewhere (Ray actors):
    a fitted static model by its directory and name, anything else as configured."""
    if isinstance(encoder, StaticEncoder) and encoder.path is not None and rc.encoder == "static":
        return "static", {**rc.encoder_kwargs, "path": str(encoder.path), "name": encoder.name}
    return rc.encoder, dict(rc.encoder_kwargs)


def ridge_map(x: np.ndarray, y: np.ndarray, alpha: float = 1e-3) -> np.ndarray:
    """(h, d) ``argmin_A ‖x A − y‖² + α·tr(xᵀx)/h ‖A‖²`` in float64 by the normal equations.

    Not a plain least squares: sentence vectors are anisotropic (MiniLM's of 2,200 MetaQA
    facts have condition number 1e9, rank 381 of 384), where LAPACK's default solver gave
    another answer on each call."""
    x64 = x.astype(np.float64)  # (n, h)
    gram = x64.T @ x64  # (h, h)
    gram[np.diag_indices_from(gram)] += alpha * np.trace(gram) / len(gram)
    return np.linalg.solve(gram, x64.T @ y.astype(np.float64)).astype(np.float32)
