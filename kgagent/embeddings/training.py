"""Training of KG embeddings: sLCWA negative sampling or 1-N (KvsAll), early stopping.

Two training regimes, as surveyed by Ali et al. 2021 ("Bringing Light Into the Dark: A
Large-scale Evaluation of Knowledge Graph Embedding Models", TPAMI):

- ``slcwa``: each positive triple against K corruptions of its head or tail, drawn
  uniformly or with the Bernoulli trick (Wang et al. 2014, "Knowledge Graph Embedding by
  Translating on Hyperplanes": corrupt the head with probability tph / (tph + hpt) of the
  relation, which makes false negatives rarer); margin ranking, softplus or
  self-adversarial loss (Sun et al. 2019, RotatE).
- ``kvsall`` (1-N): each (h, r, ?) and (?, r, t) query of the training set scored
  against every entity with binary cross-entropy and label smoothing (Dettmers et al.
  2018, "Convolutional 2D Knowledge Graph Embeddings").

The loop is lean on purpose: on small graphs per-batch Python overhead dominates, so one
batch is a handful of tensor ops (one gather for all negatives, one broadcast score). It
runs unchanged under torch.distributed (gloo on CPU, one process per shard; see
:mod:`kgagent.embeddings.distributed`): every rank takes its slice of each global batch,
gradients are averaged, rank 0 evaluates, decides early stopping and saves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from kgagent.embeddings import distributed as dist_utils
from kgagent.embeddings import get_model_class
from kgagent.embeddings.data import TripleSplits
from kgagent.embeddings.evaluation import FilterIndex, evaluate
from kgagent.embeddings.models import KGEModel
from kgagent.errors import EmbeddingError
from kgagent.stopping import EarlyStopper

__all__ = ["TrainConfig", "TrainResult", "train"]

MODES = ("slcwa", "kvsall")
LOSSES = {"slcwa": ("margin", "nssa", "softplus"), "kvsall": ("bce",)}
OPTIMIZERS = ("adam", "adagrad")
SAMPLERS = ("uniform", "bernoulli")

#: fallbacks for options neither the caller nor the model's ``defaults`` set
_FALLBACK = {
    "dim": 200,
    "mode": "slcwa",
    "loss": None,  # margin for distance models, softplus otherwise (slcwa); bce (kvsall)
    "negatives": 32,
    "margin": 1.0,
    "adversarial_temperature": 1.0,
    "label_smoothing": 0.0,
    "regularization": 0.0,
    "lr": 0.001,
    "epochs": 100,
    "batch_size": 256,
}


@dataclass
class TrainConfig:
    """Every training option; ``None`` means the model's default (see ``Model.defaults``).

    Attributes:
        eval_every: epochs between validation runs (early stopping checks); 0: never
            (train all epochs, keep the last state).
        patience: validation runs without MRR improvement before stopping (0 or None:
            never; :class:`~kgagent.stopping.EarlyStopper`).
        num_threads: torch intra-op threads while training (None: leave as is).
    """

    model: str = "rotate"
    dim: int | None = None
    mode: str | None = None
    loss: str | None = None
    negatives: int | None = None
    sampler: str = "uniform"
    margin: float | None = None
    adversarial_temperature: float | None = None
    label_smoothing: float | None = None
    regularization: float | None = None
    optimizer: str = "adam"
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    eval_every: int = 10
    patience: int | None = 5
    seed: int = 0
    num_threads: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` filled from the model's defaults, then fallbacks."""
        cls = get_model_class(self.model)
        out = dataclasses.replace(self, model=cls.name, model_kwargs=dict(self.model_kwargs))
        for key, fallback in _FALLBACK.items():
            if getattr(out, key) is None:
                setattr(out, key, cls.defaults.get(key, fallback))
        if out.loss is None:
            out.loss = (
                "bce" if out.mode == "kvsall" else "margin" if cls.distance_based else "softplus"
            )
        out.validate()
        return out

    def validate(self) -> None:
        def bad(what: str) -> EmbeddingError:
            return EmbeddingError(f"training option {what}")

        if self.mode not in MODES:
            raise bad(f"mode={self.mode!r}: expected one of {', '.join(MODES)}")
        if self.loss not in LOSSES[self.mode]:
            raise bad(f"loss={self.loss!r}: mode {self.mode} takes {', '.join(LOSSES[self.mode])}")
        if self.optimizer not in OPTIMIZERS:
            raise bad(f"optimizer={self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        if self.sampler not in SAMPLERS:
            raise bad(f"sampler={self.sampler!r}: expected one of {', '.join(SAMPLERS)}")
        if self.eval_every < 0:
            raise bad(f"eval_every={self.eval_every}: must be 0 (never) or more")
        for key in ("dim", "epochs", "batch_size", "negatives"):
            if getattr(self, key) < 1:
                raise bad(f"{key}={getattr(self, key)}: must be at least 1")
        if not self.lr > 0:
            raise bad(f"lr={self.lr}: must be positive")
        if not 0 <= self.label_smoothing < 1:
            raise bad(f"label_smoothing={self.label_smoothing}: must be in [0, 1)")


@dataclass
class TrainResult:
    """The trained model (best validation epoch), its metrics and the resolved config."""

    model: KGEModel
    metrics: dict[str, Any]
    config: TrainConfig
    out: Path | None = None


def train(
    *,
    data: TripleSplits,
    model: str | KGEModel | None = None,
    out: str | Path | None = None,
    config: TrainConfig | None = None,
    nproc: int = 1,
    progress: bool = True,
    **options: Any,
) -> TrainResult:
    """Trains a KG embedding on ``data``, evaluates it (filtered) and optionally saves it.

    Args:
        data: the splits (``TripleSplits.from_files`` / ``from_kg``).
        model: a registered model name (default: ``config.model``, else "rotate"), or
            a model instance to keep training.
        out: directory to write atomically: config.json, weights.safetensors,
            entities.txt, relations.txt, metrics.json.
        config: all options at once; ``**options`` (TrainConfig fields) override it.
        nproc: data-parallel processes on this machine (gloo); under ``torchrun`` the
            process group from the environment is used instead.
        progress: show a progress bar (rank 0 only).

    Returns:
        The model restored to its best validation epoch, with ``metrics`` holding
        ``mrr``, ``hits_at_1/3/10`` (test split, or valid without one), ``train_seconds``,
        ``epochs`` and the full per-split reports.
    """
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise EmbeddingError(
            f"unknown training option(s) {', '.join(unknown)} (model constructor arguments "
            "go in model_kwargs)"
        )
    cfg = config or TrainConfig()
    name = model.name if isinstance(model, KGEModel) else model or cfg.model
    cfg = dataclasses.replace(cfg, model=name, **options).resolved()
    if nproc > 1 and not dist_utils.is_distributed():
        return dist_utils.spawn_training(
            nproc=nproc, data=data, config=cfg, out=out, progress=progress
        )
    rank, world = dist_utils.setup_from_env()
    threads = contextlib.nullcontext() if cfg.num_threads is None else _threads(cfg.num_threads)
    with threads:
        module = model if isinstance(model, KGEModel) else _build(cfg, data)
        if (module.num_entities, module.num_relations) != (data.num_entities, data.num_relations):
            raise EmbeddingError(
                f"model has {module.num_entities} entities / {module.num_relations} relations, "
                f"the data {data.num_entities} / {data.num_relations}"
            )
        dist_utils.broadcast_parameters(module)
        started = time.perf_counter()
        history = _fit(module, data, cfg, rank=rank, world=world, progress=progress)
        seconds = time.perf_counter() - started
        metrics = _final_metrics(module, data, history, seconds) if rank == 0 else {}
    metrics["world_size"] = world
    path = None
    if out is not None and rank == 0:
        from kgagent.embeddings.artifact import save_embedding

        path = save_embedding(out, model=module, data=data, config=cfg, metrics=metrics)
    dist_utils.barrier()
    return TrainResult(model=module, metrics=metrics, config=cfg, out=path)


@contextlib.contextmanager
def _threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _build(cfg: TrainConfig, data: TripleSplits) -> KGEModel:
    generator = torch.Generator().manual_seed(cfg.seed)
    return get_model_class(cfg.model)(
        num_entities=data.num_entities,
        num_relations=data.num_relations,
        dim=cfg.dim,
        generator=generator,
        **cfg.model_kwargs,
    )


def _optimizer(module: KGEModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(module.parameters(), lr=cfg.lr)
    return torch.optim.Adam(module.parameters(), lr=cfg.lr)


def _fit(module, data, cfg, *, rank: int, world: int, progress: bool) -> dict[str, Any]:
    """The epoch loop with periodic validation; restores the best state at the end."""
    from tqdm import tqdm

    opt = _optimizer(module, cfg)
    shuffle = torch.Generator().manual_seed(cfg.seed + 1)  # same on every rank
    sample = torch.Generator().manual_seed(cfg.seed + 2 + 7919 * rank)  # own per rank
    step = _slcwa_epoch if cfg.mode == "slcwa" else _kvsall_epoch
    state = _prepare(cfg, data)
    valid_filter = None
    if len(data.valid) and rank == 0 and cfg.eval_every:
        valid_filter = FilterIndex(
            data.all_triples(), num_entities=data.num_entities, num_relations=data.num_relations
        )
    history: dict[str, Any] = {"loss": [], "valid_mrr": [], "valid_seconds": [], "best_epoch": None}
    # patience 0 (or None, or below 0): never stop early, still keep the best state
    patience = cfg.patience if cfg.patience is not None and cfg.patience > 0 else None
    stopper, best_state, epoch = EarlyStopper(patience), None, 0
    started, eval_seconds = time.perf_counter(), 0.0  # training time excludes validation
    bar = tqdm(
        range(1, cfg.epochs + 1),
        desc=f"kge {cfg.model}",
        unit="epoch",
        file=sys.stderr,
        disable=not progress or rank != 0,
        leave=False,
    )
    module.train()
    for epoch in bar:
        loss = step(module, opt, cfg, state, shuffle, sample, rank=rank, world=world)
        history["loss"].append(loss)
        stop = False
        if valid_filter is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            t = time.perf_counter()
            mrr = evaluate(module, data.valid, filter_index=valid_filter)["mrr"]
            eval_seconds += time.perf_counter() - t
            history["valid_mrr"].append((epoch, mrr))
            # training seconds so far, validation excluded (learning curves in transfer)
            history["valid_seconds"].append(round(time.perf_counter() - started - eval_seconds, 4))
            stop = stopper.report(epoch, mrr)
            if stopper.best_epoch == epoch:
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            bar.set_postfix(loss=f"{loss:.4f}", valid_mrr=f"{mrr:.3f}", refresh=False)
        else:
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        if dist_utils.decide(stop, world=world):
            break
    bar.close()
    history["epochs"] = epoch
    history["best_epoch"] = stopper.best_epoch or epoch
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


def _prepare(cfg: TrainConfig, data: TripleSplits) -> dict[str, Any]:
    """Tensors the epoch function needs, built once."""
    triples = torch.as_tensor(data.train, dtype=torch.long)
    state: dict[str, Any] = {"triples": triples}
    if cfg.mode == "slcwa":
        state["p_head"] = _head_probability(triples, data.num_relations, cfg.sampler)
        return state
    # kvsall: one query per distinct (h, r) and (r, t), answers gathered from a filter index
    h, r, t = triples.unbind(1)
    tails = torch.unique(h * data.num_relations + r)
    heads = torch.unique(t * data.num_relations + r)
    queries = torch.cat(
        [
            torch.stack([tails // data.num_relations, tails % data.num_relations], 1),
            torch.stack([heads // data.num_relations, heads % data.num_relations], 1),
        ]
    )  # (Q, 2): known entity, relation
    is_tail = torch.cat(
        [torch.ones(len(tails), dtype=torch.bool), torch.zeros(len(heads), dtype=torch.bool)]
    )
    state.update(
        queries=queries,
        is_tail=is_tail,
        answers=FilterIndex(
            data.train, num_entities=data.num_entities, num_relations=data.num_relations
        ),
    )
    return state


def _head_probability(triples: torch.Tensor, num_relations: int, sampler: str) -> torch.Tensor:
    """(R,) probability of corrupting the head: 0.5, or tph / (tph + hpt) (Bernoulli)."""
    probs = torch.full((num_relations,), 0.5)
    if sampler == "uniform":
        return probs
    h, r, t = triples.unbind(1)
    base = int(triples.max()) + 1

    def distinct(e: torch.Tensor) -> torch.Tensor:  # distinct entities per relation
        pairs = torch.unique(r * base + e)
        return torch.bincount(pairs // base, minlength=num_relations).double()

    n = torch.bincount(r, minlength=num_relations).double()
    tph = n / distinct(h).clamp_min(1)  # tails per head
    hpt = n / distinct(t).clamp_min(1)  # heads per tail
    seen = n > 0
    probs[seen] = (tph / (tph + hpt))[seen].float()
    return probs


def _batches(n: int, cfg: TrainConfig, shuffle: torch.Generator, rank: int, world: int):
    """This rank's index slice of each global batch of a fresh permutation."""
    perm = torch.randperm(n, generator=shuffle)
    for start in range(0, n, cfg.batch_size):
        idx = perm[start : start + cfg.batch_size]
        yield idx[rank::world] if world > 1 else idx


def _step(module, opt, loss: torch.Tensor, world: int) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if world > 1:
        dist_utils.average_gradients(module)
    opt.step()
    module.post_step()


def _slcwa_epoch(module, opt, cfg, state, shuffle, sample, *, rank, world) -> float:
    triples, p_head = state["triples"], state["p_head"]
    num_e, k = module.num_entities, cfg.negatives
    total, count = torch.zeros(()), 0
    for idx in _batches(len(triples), cfg, shuffle, rank, world):
        batch = triples[idx]  # (B, 3)
        h, r, t = batch.unbind(1)
        b = len(idx)
        corrupt_head = torch.rand(b, generator=sample) < p_head[r]  # (B,): side per row
        # draw from E - 1 and skip the entity being replaced: never the positive itself
        neg = torch.randint(num_e - 1, (b, k), generator=sample)  # (B, K)
        neg += neg >= torch.where(corrupt_head, h, t).unsqueeze(1)
        pos, negs, emb = module.score_negatives(h, r, t, neg, corrupt_head)
        loss = _slcwa_loss(pos, negs, cfg)
        if cfg.regularization:
            loss = loss + cfg.regularization * module.regularization(*emb)
        _step(module, opt, loss, world)
        total += loss.detach() * b
        count += b
    return float(total) / max(1, count)


def _slcwa_loss(pos: torch.Tensor, neg: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """pos (B,), neg (B, K) -> scalar loss."""
    if cfg.loss == "margin":  # Bordes et al. 2013
        return F.relu(cfg.margin - pos.unsqueeze(1) + neg).mean()
    if cfg.loss == "nssa":  # Sun et al. 2019: negatives weighted by their own softmax
        weights = torch.softmax(neg * cfg.adversarial_temperature, dim=1).detach()  # (B, K)
        pos_loss = -F.logsigmoid(cfg.margin + pos).mean()
        neg_loss = -(weights * F.logsigmoid(-neg - cfg.margin)).sum(dim=1).mean()
        return (pos_loss + neg_loss) / 2
    return F.softplus(-pos).mean() + F.softplus(neg).mean()  # logistic (Trouillon 2016)


def _kvsall_epoch(module, opt, cfg, state, shuffle, sample, *, rank, world) -> float:
    queries, is_tail, answers = state["queries"], state["is_tail"], state["answers"]
    num_e, eps = module.num_entities, cfg.label_smoothing
    total, count = torch.zeros(()), 0
    for idx in _batches(len(queries), cfg, shuffle, rank, world):
        known, r = queries[idx].unbind(1)
        tail = is_tail[idx]
        scores, targets = [], []
        for side in (True, False):  # tail queries, then head queries of this batch
            sel = tail if side else ~tail
            kr, rr = known[sel], r[sel]
            if not len(kr):
                continue
            s = module.score_t(kr, rr) if side else module.score_h(rr, kr)  # (b, E)
            y = torch.zeros_like(s)
            qi, cols = answers.mask_coordinates(kr, rr, tail=side)
            y[qi, cols] = 1.0
            scores.append(s)
            targets.append(y)
        scores, targets = torch.cat(scores), torch.cat(targets)  # (B, E)
        if eps:  # label smoothing as in ConvE
            targets = targets * (1.0 - eps) + eps / num_e
        loss = F.binary_cross_entropy_with_logits(scores, targets)
        if cfg.regularization:
            loss = loss + cfg.regularization * module.regularization(
                module.entity[known], module.relation[r]
            )
        _step(module, opt, loss, world)
        total += loss.detach() * len(idx)
        count += len(idx)
    return float(total) / max(1, count)


def _final_metrics(module, data, history, seconds) -> dict[str, Any]:
    filt = FilterIndex(
        data.all_triples(), num_entities=data.num_entities, num_relations=data.num_relations
    )
    reports = {
        split: evaluate(module, getattr(data, split), filter_index=filt)
        for split in ("valid", "test")
        if len(getattr(data, split))
    }
    main = reports.get("test") or reports.get("valid") or {}
    return {
        "mrr": main.get("mrr"),
        "hits_at_1": main.get("hits_at_1"),
        "hits_at_3": main.get("hits_at_3"),
        "hits_at_10": main.get("hits_at_10"),
        "evaluated_on": "test" if "test" in reports else "valid" if reports else None,
        "train_seconds": round(seconds, 3),
        "epochs": history["epochs"],
        "best_epoch": history["best_epoch"],
        "final_loss": history["loss"][-1] if history["loss"] else None,
        "valid_mrr_history": history["valid_mrr"],
        "valid_seconds_history": history["valid_seconds"],
        **reports,
        "data": data.summary(),
    }
