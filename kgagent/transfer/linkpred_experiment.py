"""Transfer experiments on link prediction: a KG embedding warm-started from a bundle vs
one from scratch (the ``"linkpred"`` task of :class:`~kgagent.transfer.TransferExperiment`;
not to be confused with :mod:`kgagent.policy.linkpred`, the path policy on link prediction).

The target task is a pair of triple files over the target graph (``head<TAB>relation<TAB>
tail``, each term an IRI, an N-Triples term or an unambiguous label). Both arms are the
bundle's model type and size, trained by the project's KGE trainer with the source's
training options for the same number of epochs, and measured by filtered MRR on the
evaluation triples (filter: the target graph, the training and the evaluation triples)
before training and every ``eval_every`` epochs; a step here is an epoch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.transfer.checkpoint import Bundle, TransferError
from kgagent.transfer.metrics import flat_curve

__all__ = ["embedding_curve", "scratch_embedding", "task_triples", "training_options"]

#: TrainConfig fields an experiment sets itself (the rest come from the source's training)
_OWN = {"model", "dim", "epochs", "eval_every", "patience", "seed", "num_threads", "model_kwargs"}


def task_triples(kg, path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """(n, 3) target ids of a triple file, and what was dropped (unknown terms)."""
    from kgagent.embeddings.data import read_triples
    from kgagent.transfer.align import normalize_label
    from kgagent.transfer.exchange import vocabulary_of

    (ent_t, ent_l), (rel_t, rel_l) = vocabulary_of(kg)

    def index(terms: list[str], labels: list[str]) -> dict[str, int]:
        by_label: dict[str, list[int]] = {}
        for i, lab in enumerate(labels):
            by_label.setdefault(normalize_label(lab), []).append(i)
        out = {k: v[0] for k, v in by_label.items() if len(v) == 1}  # unambiguous labels
        for i, t in enumerate(terms):
            out[t] = i
            if t.startswith("<"):
                out[t[1:-1]] = i
        return out

    ents, rels = index(ent_t, ent_l), index(rel_t, rel_l)

    def look(table: dict[str, int], key: str) -> int | None:
        hit = table.get(key)
        return hit if hit is not None else table.get(normalize_label(key))

    rows = read_triples(path)
    ids, unknown = [], set()
    for h, r, t in rows:
        row = (look(ents, h), look(rels, r), look(ents, t))
        if None in row:
            unknown.update(x for x, i in zip((h, r, t), row, strict=True) if i is None)
            continue
        ids.append(row)
    report = {"triples": len(ids), "dropped": len(rows) - len(ids)}
    report["unknown_terms"] = sorted(unknown)[:20]
    return np.asarray(ids, dtype=np.int64).reshape(-1, 3), report


def training_options(bundle: Bundle) -> dict[str, Any]:
    """The source embedding's training options (loss, lr, negatives, ...), for both arms."""
    from kgagent.embeddings import TrainConfig

    saved = bundle.config("embeddings").get("training", {})
    known = {f.name for f in dataclasses.fields(TrainConfig)} - _OWN
    return {k: v for k, v in saved.items() if k in known}


def scratch_embedding(bundle: Bundle, *, num_entities: int, num_relations: int, seed: int):
    """A fresh model of the bundle's type and size for the target vocabulary."""
    import torch

    from kgagent.embeddings import get_model_class

    cfg = bundle.config("embeddings")
    return get_model_class(cfg["model"])(
        num_entities=num_entities,
        num_relations=num_relations,
        dim=int(cfg["dim"]),
        generator=torch.Generator().manual_seed(seed),
        **cfg.get("hyperparameters", {}),
    )


def embedding_curve(model, data, *, budget, options: dict[str, Any], seed: int) -> dict:
    """Trains ``model`` on ``data.train`` for ``budget.steps`` epochs; filtered MRR on
    ``data.valid`` at epoch 0, every ``eval_every`` epochs and at the end."""
    from kgagent.embeddings import train
    from kgagent.embeddings.evaluation import FilterIndex, evaluate

    if not len(data.valid):
        raise TransferError("no evaluation triples map to the target graph")
    filt = FilterIndex(
        data.all_triples(), num_entities=data.num_entities, num_relations=data.num_relations
    )
    start = evaluate(model, data.valid, filter_index=filt)["mrr"]
    curve = {"step": [0], "episodes": [0], "seconds": [0.0], "metric": [round(start, 6)]}
    trainable = any(p.requires_grad for p in model.parameters())
    if not trainable or budget.steps == 0:
        return flat_curve(curve, steps=budget.steps, every=budget.eval_every)
    result = train(
        data=data,
        model=model,
        epochs=budget.steps,
        eval_every=budget.eval_every,
        patience=None,  # both arms train the whole budget
        seed=seed,
        progress=False,
        **options,
    )
    m = result.metrics
    for (epoch, mrr), seconds in zip(
        m["valid_mrr_history"], m["valid_seconds_history"], strict=True
    ):
        curve["step"].append(int(epoch))
        curve["episodes"].append(int(epoch) * len(data.train))  # triples seen
        curve["seconds"].append(float(seconds))
        curve["metric"].append(round(float(mrr), 6))
    return curve
