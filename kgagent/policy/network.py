"""The policy network: which relation to follow next, given the query and the walk so far.

Das et al., 2018, "Go for a Walk and Arrive at the Answer: Reasoning over Paths in
Knowledge Bases using Reinforcement Learning" (MINERVA): an LSTM over the history of
actions, and a score for each available action from the history and the query. Here an
action is a relation (see :mod:`kgagent.policy.env`). Two query modes:

- ``question``: the question's sentence embedding (frozen encoder), projected;
- ``relation``: a learned embedding of the query relation (link prediction, (h, r, ?)),
  plus the start entity's embedding; both may be initialised from a trained KGE model
  (:func:`kgagent.policy.shaping.kge_features`).

Action embeddings may be initialised from features of the relations — the sentence
embeddings of their phrases, which carry meaning across graphs (transfer), or KGE
relation vectors — plus a learned residual.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["PathPolicy"]


class PathPolicy(nn.Module):
    """History-aware policy over relation actions.

    Args:
        num_actions: relations (forward + inverse) + STOP.
        mode: "question" or "relation".
        query_dim: size of the question embeddings (question mode).
        num_query_relations: relations that can be asked (relation mode).
        num_entities: entity embeddings for the start entity (relation mode; 0: none).
        dim: hidden size.
        action_features: optional (num_actions, f) tensor to initialise action embeddings.
        entity_features: optional (num_entities, f) tensor for the start entities
            (relation mode), e.g. a KGE model's entity table.
        query_features: optional (num_query_relations, f) tensor for the query relations
            (relation mode), e.g. a KGE model's relation table.

    Each feature table is a frozen buffer seen through a learned projection, plus a learned
    residual embedding that starts small, so the initial policy sees what the features say.
    """

    def __init__(
        self,
        *,
        num_actions: int,
        mode: str = "question",
        query_dim: int = 384,
        num_query_relations: int = 0,
        num_entities: int = 0,
        dim: int = 128,
        action_features: torch.Tensor | None = None,
        entity_features: torch.Tensor | None = None,
        query_features: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if mode not in ("question", "relation"):
            raise ValueError(f"mode must be 'question' or 'relation', not {mode!r}")
        self.mode = mode
        self.num_actions = int(num_actions)
        self.dim = int(dim)
        if mode == "question":
            self.query = nn.Sequential(nn.Linear(query_dim, dim), nn.Tanh())
        else:
            self.query_relation = nn.Embedding(max(1, num_query_relations), dim)
        self.entity = nn.Embedding(num_entities, dim) if num_entities else None
        self.entity_proj = self._features("entity_features", entity_features, num_entities)
        self.query_proj = None
        if mode == "relation":
            self.query_proj = self._features("query_features", query_features,
                                             num_query_relations)  # fmt: skip
        if self.entity_proj is not None:
            nn.init.normal_(self.entity.weight, std=0.1)
        if self.query_proj is not None:
            nn.init.normal_(self.query_relation.weight, std=0.1)
        self.action = nn.Embedding(self.num_actions + 1, dim)  # + a START token
        nn.init.normal_(self.action.weight, std=0.1)
        self.action_proj: nn.Linear | None = None
        if action_features is not None:
            feats = torch.as_tensor(action_features, dtype=torch.float32)  # (A, f)
            self.register_buffer("action_features", feats)
            self.action_proj = nn.Linear(feats.shape[1], dim, bias=False)
        self.lstm = nn.LSTMCell(dim, dim)
        self.head = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def spec(self) -> dict[str, Any]:
        """The constructor arguments, feature tables as their widths (0: none): what a
        checkpoint's config.json records beside the weights."""
        return {
            "num_actions": self.num_actions,
            "mode": self.mode,
            "dim": self.dim,
            "query_dim": int(self.query[0].in_features) if self.mode == "question" else 0,
            "num_query_relations": _rows(self, "query_relation"),
            "num_entities": _rows(self, "entity"),
            "action_features": _width(self, "action_features")
            if self.action_proj is not None
            else 0,
            "entity_features": _width(self, "entity_features"),
            "query_features": _width(self, "query_features"),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> PathPolicy:
        """An untrained network of the shapes :meth:`spec` recorded; the feature buffers
        are zeros of the right shape until the checkpoint's weights are loaded."""
        spec = dict(spec)
        feats = spec.pop("action_features")
        ent, qry = spec.pop("entity_features", 0), spec.pop("query_features", 0)
        return cls(
            **spec,
            action_features=torch.zeros(spec["num_actions"], feats) if feats else None,
            entity_features=torch.zeros(spec["num_entities"], ent) if ent else None,
            query_features=torch.zeros(spec["num_query_relations"], qry) if qry else None,
        )

    def _features(self, name: str, feats: torch.Tensor | None, rows: int) -> nn.Linear | None:
        if feats is None:
            return None
        feats = torch.as_tensor(feats, dtype=torch.float32)
        if feats.ndim != 2 or feats.shape[0] != rows:
            raise ValueError(f"{name}: expected ({rows}, f) rows, got {tuple(feats.shape)}")
        self.register_buffer(name, feats)
        return nn.Linear(feats.shape[1], self.dim, bias=False)

    def action_table(self) -> torch.Tensor:
        """(A + 1, dim) action embeddings (the last row is START)."""
        table = self.action.weight
        if self.action_proj is not None:
            feats = self.action_proj(self.action_features)  # (A, dim)
            table = table + torch.cat([feats, torch.zeros_like(table[-1:])])
        return table

    def encode_query(self, query: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
        """(B, dim) query representation from (B, query_dim) vectors or (B,) relation ids."""
        if self.mode == "question":
            q = self.query(query.float())
        else:
            query = query.long()
            q = self.query_relation(query)
            if self.query_proj is not None:
                q = q + self.query_proj(self.query_features[query])
        if self.entity is not None and start is not None:
            start = start.long()
            q = q + self.entity(start)
            if self.entity_proj is not None:
                q = q + self.entity_proj(self.entity_features[start])
        return q

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(h, c, previous action = START) for a batch of new walks."""
        h = torch.zeros(batch, self.dim)
        return h, torch.zeros_like(h), torch.full((batch,), self.num_actions, dtype=torch.long)

    def step(
        self,
        q: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        mask: torch.Tensor,
        table: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Masked action log-probabilities (B, A) and the LSTM state after reading the
        previous action."""
        table = self.action_table() if table is None else table
        h, c, prev = state
        h, c = self.lstm(table[prev], (h, c))  # (B, dim)
        scores = self.head(torch.cat([h, q], dim=-1)) @ table[:-1].T  # (B, A)
        scores = scores.masked_fill(~mask, float("-inf"))
        return torch.log_softmax(scores, dim=-1), (h, c)


def _rows(net: nn.Module, name: str) -> int:
    module = getattr(net, name, None)
    return int(module.num_embeddings) if module is not None else 0


def _width(net: nn.Module, name: str) -> int:
    buf = getattr(net, name, None)
    return int(buf.shape[1]) if buf is not None else 0
