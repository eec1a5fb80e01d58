"""Filtered rank-based evaluation: MRR and Hits@k, both directions, realistic ties.

Protocol of Bordes et al. 2013 ("Translating Embeddings for Modeling Multi-relational
Data"), filtered setting: for a test triple (h, r, t), every entity e is scored as the
tail of (h, r, e); all other *known* true tails of (h, r) (from train, valid and test) are
removed before ranking t; the same for heads. Ties are ranked realistically, the mean of
the optimistic and the pessimistic rank (Berrendorf et al. 2020, "Interpretable and Fair
Comparison of Link Prediction or Entity Alignment Methods"; PyKEEN's default): a model
that scores every entity the same gets rank (E + 1) / 2, not 1.

Memory stays bounded (PyKEEN users hit out-of-memory here, pykeen issue 119): triples are
scored in batches of at most ``max_scores`` scores, and the filter is a sorted key array
(CSR over (h, r) and (r, t)) from which each batch's mask is gathered — never an
all-pairs matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["FilterIndex", "RankResult", "evaluate", "rank_triples"]

HITS_AT = (1, 3, 10)


@dataclass(frozen=True)
class _Side:
    keys: torch.Tensor  # (n,) sorted query keys
    values: torch.Tensor  # (n,) the answer entity of each key, in key order


class FilterIndex:
    """All known true answers of (h, r, ?) and (?, r, t) queries, as sorted key arrays.

    Args:
        triples: (n, 3) id triples that are true (train + valid + test, usually).
        num_entities, num_relations: sizes of the id spaces.
    """

    def __init__(self, triples, *, num_entities: int, num_relations: int) -> None:
        t = torch.as_tensor(np.asarray(triples, dtype=np.int64).reshape(-1, 3))
        self.num_entities = num_entities
        self.num_relations = num_relations
        self.tails = self._side(t[:, 0] * num_relations + t[:, 1], t[:, 2])
        self.heads = self._side(t[:, 2] * num_relations + t[:, 1], t[:, 0])

    @staticmethod
    def _side(keys: torch.Tensor, values: torch.Tensor) -> _Side:
        # sort by (key, value): stable sorts, so the layout is deterministic
        order = torch.argsort(values, stable=True)
        order = order[torch.argsort(keys[order], stable=True)]
        return _Side(keys[order].contiguous(), values[order].contiguous())

    def mask_coordinates(
        self, known: torch.Tensor, r: torch.Tensor, *, tail: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, entity) coordinates of every known answer of a batch of queries.

        Args:
            known: (B,) the given entity (the head when predicting tails).
            r: (B,) relations.
            tail: predict tails (else heads).
        """
        side = self.tails if tail else self.heads
        query = known * self.num_relations + r  # (B,)
        lo = torch.searchsorted(side.keys, query)  # (B,)
        hi = torch.searchsorted(side.keys, query, right=True)
        counts = hi - lo
        rows = torch.repeat_interleave(torch.arange(len(query)), counts)  # (M,)
        starts = torch.repeat_interleave(lo - (torch.cumsum(counts, 0) - counts), counts)
        cols = side.values[starts + torch.arange(len(rows))]  # (M,)
        return rows, cols


@dataclass(frozen=True)
class RankResult:
    """Ranks of each evaluated triple: optimistic, pessimistic and realistic, per side."""

    head: torch.Tensor  # (n, 3): optimistic, pessimistic, realistic head ranks
    tail: torch.Tensor  # (n, 3): the same for tails

    def metrics(self) -> dict[str, Any]:
        """MRR and Hits@k over both sides (realistic), plus per-side figures."""
        both = torch.cat([self.head[:, 2], self.tail[:, 2]])
        out = _metrics(both)
        out["num_triples"] = len(self.tail)
        for side, ranks in (("head", self.head), ("tail", self.tail)):
            out[side] = _metrics(ranks[:, 2])
        out["optimistic"] = _metrics(torch.cat([self.head[:, 0], self.tail[:, 0]]))
        out["pessimistic"] = _metrics(torch.cat([self.head[:, 1], self.tail[:, 1]]))
        return out


def _metrics(ranks: torch.Tensor) -> dict[str, float]:
    if not len(ranks):
        return {"mrr": 0.0, **{f"hits_at_{k}": 0.0 for k in HITS_AT}, "mean_rank": 0.0}
    ranks = ranks.double()
    out = {"mrr": float((1.0 / ranks).mean())}
    for k in HITS_AT:
        out[f"hits_at_{k}"] = float((ranks <= k).double().mean())
    out["mean_rank"] = float(ranks.mean())
    return out


def _ranks(scores: torch.Tensor, target: torch.Tensor, rows, cols) -> torch.Tensor:
    """(B, E) scores, (B,) targets, filter coordinates -> (B, 3) ranks (opt, pess, real)."""
    idx = torch.arange(len(target))
    # a scorer may give -inf to what it cannot reach (the path policy): a target among
    # those ties with all of them, so -inf becomes the lowest finite score before the
    # known answers leave the race (-inf minus itself would be NaN: no tie, an
    # optimistic rank for every unreached target)
    scores = scores.nan_to_num(
        nan=float("nan"), posinf=float("inf"), neginf=torch.finfo(scores.dtype).min
    )
    true = scores[idx, target].clone()  # (B,)
    scores[rows, cols] = float("-inf")  # known answers (the target included) leave the race
    diff = scores - true.unsqueeze(1)  # (B, E); NaN scores never count as better
    greater = (diff > 0).sum(dim=1)
    ties = (diff == 0).sum(dim=1)  # filtered (-inf) entries never tie with the target
    optimistic = (greater + 1).double()
    pessimistic = (greater + ties + 1).double()
    return torch.stack([optimistic, pessimistic, (optimistic + pessimistic) / 2], dim=1)


@torch.inference_mode()
def rank_triples(
    model,
    triples,
    *,
    filter_index: FilterIndex | None = None,
    max_scores: int = 1 << 22,
    sides: tuple[str, ...] = ("head", "tail"),
) -> RankResult:
    """Filtered ranks of ``triples`` (n, 3) under ``model`` in batches of bounded size.

    Without ``filter_index`` only the target itself is excluded (the raw setting).
    """
    t = torch.as_tensor(np.asarray(triples, dtype=np.int64).reshape(-1, 3))
    n, num_e = len(t), model.num_entities
    batch = max(1, min(n, max_scores // max(1, num_e)))
    out = {s: torch.zeros((n, 3), dtype=torch.float64) for s in ("head", "tail")}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, batch):
            h, r, tl = t[start : start + batch].unbind(1)
            for side in sides:
                tail = side == "tail"
                scores = model.score_t(h, r) if tail else model.score_h(r, tl)  # (B, E)
                known, target = (h, tl) if tail else (tl, h)
                if filter_index is not None:
                    rows, cols = filter_index.mask_coordinates(known, r, tail=tail)
                else:
                    rows, cols = torch.arange(len(target)), target
                scores = scores.float()
                out[side][start : start + batch] = _ranks(scores, target, rows, cols)
    finally:
        model.train(was_training)
    return RankResult(head=out["head"], tail=out["tail"])


def evaluate(
    model,
    triples,
    *,
    filter_triples=None,
    filter_index: FilterIndex | None = None,
    max_scores: int = 1 << 22,
) -> dict[str, Any]:
    """Filtered MRR, Hits@1/3/10 (both directions, realistic ties) of ``triples`` (n, 3).

    Args:
        model: a :class:`~kgagent.embeddings.models.KGEModel`.
        triples: the (n, 3) id triples to rank (test or valid).
        filter_triples: every known true triple (e.g. ``data.all_triples()``); the
            triples being ranked are added to it. Ignored when ``filter_index`` is given.
        filter_index: a prebuilt filter (reuse it across repeated evaluations).
        max_scores: the most scores held at once (batch rows x entities).

    Returns:
        ``{"mrr", "hits_at_1", "hits_at_3", "hits_at_10", "mean_rank", "num_triples",
        "head": {...}, "tail": {...}, "optimistic": {...}, "pessimistic": {...}}``.
    """
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    if filter_index is None:
        known = triples if filter_triples is None else np.concatenate([filter_triples, triples])
        filter_index = FilterIndex(
            known, num_entities=model.num_entities, num_relations=model.num_relations
        )
    return rank_triples(model, triples, filter_index=filter_index, max_scores=max_scores).metrics()
