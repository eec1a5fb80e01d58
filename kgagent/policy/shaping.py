"""What a trained KG embedding gives the path policy: a shaped reward and initial features.

Lin et al., 2018, "Multi-Hop Knowledge Graph Reasoning with Reward Shaping" (EMNLP): a walk
that ends on a wrong entity gets, instead of 0, the KGE model's belief f(h, r, e) in
[0, 1] that e answers the query, R = R_b + (1 - R_b) f, so the policy learns from the
near misses that a sparse 0/1 reward throws away (false negatives of an incomplete graph
among them). This walker ends on an entity *set* S and an answer is a uniform pick from it,
so its reward is the expectation of Lin et al.'s over that pick::

    R(S) = |S ∩ gold| / |S| + Σ_{e ∈ S \\ gold} f(h, r, e) / |S|

The same model also provides features to initialise the policy's embeddings: entity rows,
and relation rows for the query relation and the actions (forward r as [r, 0], inverse
as [0, r], so the policy's projection learns what an inverse is for any interaction).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["KGEReward", "kge_features", "score_offset"]


def score_offset(loss: str | None, margin: float | None) -> float:
    """What to add to a KGE model's scores before the sigmoid, given how it was trained:
    its margin for the distance losses (scores are negated distances), else 0 (logistic
    losses already produce logits)."""
    return float(margin or 0.0) if loss in ("nssa", "margin") else 0.0


class KGEReward:
    """Lin et al.'s soft reward from a KGE model, for relation-mode queries.

    Args:
        model: a KGE model (``score_t(h, r)`` / ``score_h(r, t)`` -> (B, E) scores) over the
            graph's entity and relation ids.
        num_relations: base relations R; query ids ``r >= R`` ask for heads of ``r - R``.
        offset: added to the scores before the sigmoid: 0 for models trained with a
            logistic loss (BCE, softplus), the margin for distance models trained with
            self-adversarial or margin losses (their scores are negated distances).
    """

    def __init__(self, model: Any, *, num_relations: int, offset: float = 0.0) -> None:
        self.model = model
        self.num_relations = int(num_relations)
        self.offset = float(offset)

    @classmethod
    def from_training(cls, model: Any, *, num_relations: int, loss: str, margin: float):
        """The reward for a model trained with ``loss`` (and ``margin``), as the trainer saw it."""
        return cls(model, num_relations=num_relations, offset=score_offset(loss, margin))

    @torch.no_grad()
    def probabilities(self, starts: np.ndarray, relations: np.ndarray) -> np.ndarray:
        """(B, E) f(start, relation, e) for every entity e."""
        h = torch.as_tensor(np.asarray(starts, dtype=np.int64))
        r = torch.as_tensor(np.asarray(relations, dtype=np.int64))
        forward = r < self.num_relations
        scores = torch.empty(len(h), int(self.model.num_entities))
        if forward.any():
            scores[forward] = self.model.score_t(h[forward], r[forward]).float()
        if (~forward).any():
            inv = ~forward
            scores[inv] = self.model.score_h(r[inv] - self.num_relations, h[inv]).float()
        return torch.sigmoid(scores + self.offset).numpy()

    @staticmethod
    def shaped(
        got: np.ndarray, gold: np.ndarray, belief: np.ndarray, *, weights: np.ndarray | None = None
    ) -> float:
        """Expected reward of a pick from ``got`` (sorted ids; uniform, or by ``weights``),
        given the gold ids and the (E,) beliefs of this query."""
        if len(got) == 0:
            return 0.0
        w = np.full(len(got), 1.0 / len(got)) if weights is None else weights
        hit = np.isin(got, gold, assume_unique=True)
        return float(w[hit].sum() + (w[~hit] * belief[got[~hit]]).sum())


def kge_features(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """(E, w) entity features and (2R, 2w') relation features from a KGE model's tables.

    Rows are scaled to unit mean norm so the policy's projections start at the scale of its
    own embeddings whatever the model's (TransE's unit entities, RotatE's phases).
    """
    ent = model.entity.detach().float().cpu().numpy()
    rel = model.relation.detach().float().cpu().numpy()
    ent = ent / max(float(np.linalg.norm(ent, axis=1).mean()), 1e-12)
    rel = rel / max(float(np.linalg.norm(rel, axis=1).mean()), 1e-12)
    zeros = np.zeros_like(rel)
    both = np.concatenate([np.hstack([rel, zeros]), np.hstack([zeros, rel])])  # (2R, 2w')
    return ent.astype(np.float32), both.astype(np.float32)
