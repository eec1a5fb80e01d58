"""MINERVA's entity walk for link prediction: one edge per step, an entity at the end.

The set walk (:mod:`kgagent.policy.env`) picks relations and carries every entity they
reach. On questions that is what the signal asks for, but on a dense graph (UMLS: 135
entities, ~77 edges each) a relation path reaches a large set and the walk cannot say
which member answers (h, r, ?). MINERVA (Das et al., 2018) walks edges instead: the
walker stands on one entity, reads its history (an LSTM over the (relation, entity)
pairs it took), and picks one out-edge, or stays (a self-loop, ``NO_OP``, so shorter
paths fit the fixed length); where it stands after ``max_hops`` steps is its answer. The
recipe follows Lin et al., 2018 (MultiHopKG): a three-layer LSTM, an action scored by
the dot product of an MLP of (history, current entity, query relation) with the action's
[relation; entity] embedding, action dropout during training, and, at test time, a beam
over (entity, history) states whose probabilities, summed per final entity, rank the
entities. Entities no kept walk ends on get probability 0 and tie below the rest.

The edges a query asks about are not walkable: from the start, no edge of the query
relation, and into the start, no edge of its inverse (training and test alike: at test
time they lead only to known answers, which the filtered ranking removes anyway).

Differences from MINERVA's code: the baseline is the leave-one-out mean of the query's
other rollouts (MINERVA learns one), training queries group every gold answer of an
(h, r) pair, action dropout is Lin et al.'s, and the beam sums the probabilities of the
walks ending on an entity (MINERVA can also take their maximum). On UMLS this walk ranks
below the set walk (docs/benchmarks.md).

Everything is a tensor: each entity's actions are one row of a padded (E, W) table built
from the CSR arrays, rollouts and the beam are gathers over it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from kgagent.errors import PolicyError
from kgagent.kg.adjacency import Adjacency
from kgagent.policy.config import BeamPath, PolicyConfig
from kgagent.policy.reasoner import PathReasoner

__all__ = ["EdgePolicy", "EdgeReasoner", "EdgeWalk"]


class EdgeWalk:
    """The padded action table of a graph: per entity, NO_OP and its out-edges.

    Args:
        adj: the graph (inverse edges are added if missing).
        max_hops: steps per walk.
        max_actions: actions an entity offers (NO_OP included); an entity with more
            out-edges keeps a seeded random subset (MultiHopKG's ``bandwidth``).
        seed: for that subset.

    Attributes:
        relations, targets, valid: (E, W) tensors; column 0 is NO_OP (target: itself).
        no_op, start_token: relation-table rows after the 2R relations.
    """

    def __init__(
        self, adj: Adjacency, *, max_hops: int = 3, max_actions: int = 512, seed: int = 0
    ) -> None:
        if max_actions < 2:
            raise ValueError("max_actions must leave room for NO_OP and one edge")
        self.adj = adj.with_inverse()
        self.max_hops = int(max_hops)
        self.num_base_relations = self.adj.num_base_relations
        self.num_relations = self.adj.num_relations  # forward + inverse
        self.no_op = self.num_relations
        self.start_token = self.num_relations + 1
        num_e = self.adj.num_entities
        degree = self.adj.out_degree()
        width = 1 + min(int(degree.max(initial=0)), int(max_actions) - 1)
        rows, edges = self.adj.out_edge_index(np.arange(num_e))
        if len(edges) and int(degree.max()) > width - 1:  # a seeded subset of crowded rows
            key = np.random.default_rng(seed).random(len(edges))
            order = np.lexsort((key, rows))
            rows, edges = rows[order], edges[order]
        rank = np.arange(len(edges)) - self.adj.indptr[rows]  # position within its row
        keep = rank < width - 1
        rel = np.full((num_e, width), self.no_op, dtype=np.int64)
        ent = np.repeat(np.arange(num_e, dtype=np.int64)[:, None], width, axis=1)
        valid = np.zeros((num_e, width), dtype=bool)
        valid[:, 0] = True
        rel[rows[keep], 1 + rank[keep]] = self.adj.relations[edges[keep]]
        ent[rows[keep], 1 + rank[keep]] = self.adj.targets[edges[keep]]
        valid[rows[keep], 1 + rank[keep]] = True
        self.relations = torch.as_tensor(rel)
        self.targets = torch.as_tensor(ent)
        self.valid = torch.as_tensor(valid)
        self.dropped_edges = int((~keep).sum())

    @property
    def width(self) -> int:
        return int(self.relations.shape[1])

    def actions(
        self, cur: torch.Tensor, start: torch.Tensor, query: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(relations, targets, mask), each (N, W), for walkers on ``cur`` answering
        (start, query, ?): the query's own edges are masked (see the module doc)."""
        rel, ent, ok = self.relations[cur], self.targets[cur], self.valid[cur]
        r = self.num_base_relations
        inverse = torch.where(query < r, query + r, query - r)
        asked = (cur == start)[:, None] & (rel == query[:, None])
        back = (ent == start[:, None]) & (rel == inverse[:, None])
        return rel, ent, ok & ~(asked | back)


class EdgePolicy(nn.Module):
    """MINERVA's policy network (Lin et al.'s variant) over edge actions.

    Args:
        num_entities: entity embeddings.
        num_relations: relations, forward + inverse (NO_OP and START rows are added).
        dim: embedding size of entities and relations.
        hidden: LSTM size.
        layers: LSTM layers.
        dropout: on the MLP's hidden layer.
        emb_dropout: on the entity and relation embeddings the LSTM and MLP read (not on
            the action embeddings they score): Lin et al.'s regulariser against a policy
            that memorises which entities answer a start entity's queries.
    """

    def __init__(
        self,
        *,
        num_entities: int,
        num_relations: int,
        dim: int = 200,
        hidden: int = 200,
        layers: int = 3,
        dropout: float = 0.1,
        emb_dropout: float = 0.3,
        entities: bool = True,
    ) -> None:
        super().__init__()
        self.entities = bool(entities)
        self.num_entities, self.num_relations = int(num_entities), int(num_relations)
        self.dim, self.hidden, self.layers = int(dim), int(hidden), int(layers)
        self.dropout, self.emb_dropout = float(dropout), float(emb_dropout)
        self.drop = nn.Dropout(self.emb_dropout)
        self.mode = "relation"
        self.entity = nn.Embedding(self.num_entities, self.dim)
        self.relation = nn.Embedding(self.num_relations + 2, self.dim)  # + NO_OP, START
        nn.init.xavier_normal_(self.entity.weight)
        nn.init.xavier_normal_(self.relation.weight)
        self.lstm = nn.LSTM(2 * self.dim, self.hidden, num_layers=self.layers)
        self.head = nn.Sequential(
            nn.Linear(self.hidden + 2 * self.dim, self.hidden),
            nn.ReLU(),
            nn.Dropout(self.dropout),
            nn.Linear(self.hidden, 2 * self.dim),
        )

    @property
    def num_actions(self) -> int:
        """Relation-table rows (2R + NO_OP + START): what a checkpoint is checked by."""
        return self.num_relations + 2

    def spec(self) -> dict[str, Any]:
        return {"kind": "edge", "num_entities": self.num_entities,
                "num_relations": self.num_relations, "dim": self.dim, "hidden": self.hidden,
                "layers": self.layers, "dropout": self.dropout,
                "emb_dropout": self.emb_dropout,
                "entities": self.entities}  # fmt: skip

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> EdgePolicy:
        """An untrained network of the shapes :meth:`spec` recorded."""
        return cls(**{k: v for k, v in spec.items() if k != "kind"})

    def initial_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.zeros(self.layers, n, self.hidden)
        return h, torch.zeros_like(h)

    def step(
        self,
        state: tuple[torch.Tensor, torch.Tensor],
        prev: torch.Tensor,
        cur: torch.Tensor,
        query: torch.Tensor,
        rel: torch.Tensor,
        ent: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Masked log-probabilities (N, W) of the actions (rel, ent) of walkers that came
        to ``cur`` by relation ``prev``, and the LSTM state after reading that step."""
        here = self.drop(self.entity(cur))
        if not self.entities:
            here = torch.zeros_like(here)
        x = torch.cat([self.drop(self.relation(prev)), here], dim=-1)[None]  # (1, N, 2d)
        out, state = self.lstm(x, state)
        asked = self.drop(self.relation(query))
        u = self.head(torch.cat([out[0], here, asked], dim=-1))  # (N, 2d)
        u_rel, u_ent = u[:, : self.dim], u[:, self.dim :]
        scores = (u_rel @ self.relation.weight.T).gather(1, rel)  # (N, W)
        if not self.entities:
            pass
        elif self.num_entities <= 4 * rel.shape[1]:  # small graphs: score every entity once
            scores = scores + (u_ent @ self.entity.weight.T).gather(1, ent)
        else:
            scores = scores + torch.einsum("nwd,nd->nw", self.entity(ent), u_ent)
        scores = scores.masked_fill(~mask, float("-inf"))
        return torch.log_softmax(scores, dim=-1), state


class EdgeReasoner(PathReasoner):
    """A relation-mode policy that walks edges (MINERVA) instead of relation sets.

    Same interface as :class:`~kgagent.policy.PathReasoner` (``fit``, ``beam_search``,
    ``answer_probabilities``, ``evaluate``, ``save``/``load``); its beam paths end on
    one entity each and list the entities they pass (``BeamPath.entities``).
    """

    def __init__(self, network, adj, relations, config, *, reward: Any = None) -> None:
        if config.mode != "relation":
            raise PolicyError("edge walks answer link-prediction (relation-mode) queries")
        self.network = network
        self.config = config
        self.reward = reward
        self.relations = list(relations)
        self.env = EdgeWalk(adj, max_hops=config.max_hops, max_actions=config.max_actions,
                            seed=config.seed)  # fmt: skip
        if (network.num_entities, network.num_relations) != (
            self.env.adj.num_entities,
            self.env.num_relations,
        ):
            raise PolicyError(
                f"the policy knows {network.num_entities} entities and "
                f"{network.num_relations} relations (each way); the graph has "
                f"{self.env.adj.num_entities} and {self.env.num_relations}"
            )
        self._lock = threading.Lock()

    network_class = EdgePolicy

    @classmethod
    def create(cls, adj, relations, *, config=None, reward=None, **_features):
        """An untrained edge walk whatever ``config.walk`` says (default config: relation
        mode, edge walk; feature tables ignored): the old entry point, kept for its
        callers; :func:`kgagent.policy.create_reasoner` is the one to use."""
        config = config or PolicyConfig(mode="relation", walk="edge")
        return cls.from_config(adj, relations, config=config, reward=reward)

    @classmethod
    def from_config(
        cls,
        adj: Adjacency,
        relations: Sequence[str],
        *,
        config: PolicyConfig,
        reward: Any = None,
        query_dim: int | None = None,
        action_features: np.ndarray | None = None,
        entity_features: np.ndarray | None = None,
        query_features: np.ndarray | None = None,
    ) -> EdgeReasoner:
        """A new, untrained edge walk; what the walk registry calls for ``walk="edge"``
        (``query_dim`` is ignored: edge walks answer relation-mode queries only)."""
        if any(x is not None for x in (action_features, entity_features, query_features)):
            raise PolicyError("edge walks learn their own tables (no feature init)")
        torch.manual_seed(config.seed)
        network = EdgePolicy(
            num_entities=adj.num_entities,
            num_relations=2 * adj.num_base_relations,
            dim=config.dim,
            hidden=config.dim,
            layers=config.edge_layers,
            entities=config.edge_entities,
        )
        return cls(network, adj, relations, config, reward=reward)

    # -- rollouts -------------------------------------------------------------------

    def _ids(self, queries: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        start = torch.as_tensor([int(q.start) for q in queries], dtype=torch.long)
        query = torch.as_tensor([int(q.query) for q in queries], dtype=torch.long)
        return start, query

    def _rollout(self, queries, k: int, gen: torch.Generator):
        cfg, env, net = self.config, self.env, self.network
        start, query = (x.repeat_interleave(k) for x in self._ids(queries))
        n = len(start)
        cur, prev = start.clone(), torch.full((n,), env.start_token, dtype=torch.long)
        state = net.initial_state(n)
        logp_sum, entropy = torch.zeros(n), torch.zeros(n)
        for _ in range(env.max_hops):
            rel, ent, mask = env.actions(cur, start, query)
            logp, state = net.step(state, prev, cur, query, rel, ent, mask)
            entropy = entropy - (logp.exp() * logp.masked_fill(~mask, 0.0)).sum(-1)
            # action dropout, as in the set walk: the sample and its gradient follow
            # the distribution over the actions left
            explore = mask & (torch.rand(mask.shape, generator=gen) >= cfg.action_dropout)
            explore = torch.where(explore.any(-1, keepdim=True), explore, mask)
            behaviour = torch.log_softmax(logp.masked_fill(~explore, float("-inf")), -1)
            action = torch.multinomial(behaviour.exp(), 1, generator=gen)  # (N, 1)
            logp_sum = logp_sum + behaviour.gather(1, action).squeeze(1)
            prev, cur = rel.gather(1, action).squeeze(1), ent.gather(1, action).squeeze(1)
        owner = torch.arange(len(queries)).repeat_interleave(k)
        gold = _gold_matrix(queries, env.adj.num_entities)  # (B, E)
        reward = gold[owner, cur].float()
        if self.reward is not None:  # Lin et al.: a miss earns the KGE model's belief
            s, q = self._ids(queries)
            belief = torch.as_tensor(self.reward.probabilities(s.numpy(), q.numpy()))
            reward = torch.where(reward > 0, reward, belief[owner, cur].float())
        return logp_sum, entropy / env.max_hops, reward.numpy()

    # -- inference ------------------------------------------------------------------

    @torch.inference_mode()
    def _beam(self, queries, width: int):
        """(scores (B, k) log-probabilities, -inf for dead beams; final entities
        (B, k); relations (B, k, T); entities (B, k, T))."""
        env, net = self.env, self.network
        net.eval()
        start, query = self._ids(queries)
        b = len(queries)
        w = 1  # beams per query so far
        cur = start[:, None]  # (B, w)
        prev = torch.full((b, 1), env.start_token, dtype=torch.long)
        score = torch.zeros(b, 1, dtype=torch.float64)
        hist_rel = torch.empty(b, 1, 0, dtype=torch.long)
        hist_ent = torch.empty(b, 1, 0, dtype=torch.long)
        state = net.initial_state(b)
        for _ in range(env.max_hops):
            s_rep, q_rep = start.repeat_interleave(w), query.repeat_interleave(w)
            rel, ent, mask = env.actions(cur.reshape(-1), s_rep, q_rep)  # (B w, W)
            logp, state = net.step(state, prev.reshape(-1), cur.reshape(-1), q_rep,
                                   rel, ent, mask)  # fmt: skip
            total = (score.reshape(-1, 1) + logp.double()).view(b, w * env.width)
            k = min(width, w * env.width)
            top, idx = torch.topk(total, k, dim=1)  # (B, k)
            parent = idx // env.width  # (B, k) beam within its query
            flat = (torch.arange(b)[:, None] * w + parent).reshape(-1)
            state = (state[0][:, flat], state[1][:, flat])
            prev = rel.view(b, -1).gather(1, idx)
            cur = ent.view(b, -1).gather(1, idx)
            hist_rel = torch.cat([_pick(hist_rel, parent), prev[..., None]], dim=2)
            hist_ent = torch.cat([_pick(hist_ent, parent), cur[..., None]], dim=2)
            score, w = top, k
        return score, cur, hist_rel, hist_ent

    def answer_probabilities(self, queries, *, beam: int | None = None) -> np.ndarray:
        """(B, E) the probability that a kept walk ends on each entity."""
        out = np.zeros((len(queries), self.env.adj.num_entities))
        with self._lock:
            for lo in range(0, len(queries), 256):
                chunk = queries[lo : lo + 256]
                score, cur, _, _ = self._beam(chunk, int(beam or self.config.beam))
                p = torch.zeros(len(chunk), out.shape[1], dtype=torch.float64)
                p.scatter_add_(1, cur, score.exp())  # exp(-inf) = 0: dead beams add 0
                out[lo : lo + len(chunk)] = p.numpy()
        return out

    def beam_search(self, queries, *, beam: int | None = None) -> list[list[Any]]:
        """The kept walks per query, most likely first; walks with the same edges (the
        NO_OP steps placed differently) are one path, their probabilities summed."""
        if not queries:
            return []
        with self._lock:
            score, _, rels, ents = self._beam(queries, int(beam or self.config.beam))
        out = []
        for row in range(len(queries)):
            merged: dict[tuple, float] = {}
            for j in torch.isfinite(score[row]).nonzero().flatten().tolist():
                keep = rels[row, j] != self.env.no_op
                key = (tuple(rels[row, j][keep].tolist()), tuple(ents[row, j][keep].tolist()))
                merged[key] = float(np.logaddexp(merged.get(key, -np.inf), float(score[row, j])))
            start = int(queries[row].start)
            paths = [
                BeamPath(
                    actions,
                    logp,
                    np.array([nodes[-1] if nodes else start]),
                    np.ones(1),
                    entities=nodes,
                )
                for (actions, nodes), logp in merged.items()
            ]
            paths.sort(key=lambda p: -p.logp)
            out.append(paths)
        return out

    def evaluate(self, queries, *, beam: int | None = None) -> dict:
        """Hits@1: the share of queries whose most probable entity is gold; ``reach``:
        the share where some kept walk ends on a gold entity."""
        if not queries:
            return {"hits_at_1": 0.0, "queries": 0}
        p = self.answer_probabilities(queries, beam=beam)
        gold = _gold_matrix(queries, p.shape[1]).numpy()
        best = p.argmax(1)
        hits = gold[np.arange(len(queries)), best] & (p.max(1) > 0)
        reach = ((p > 0) & gold).any(1)
        return {"hits_at_1": float(hits.mean()), "reach": float(reach.mean()),
                "queries": len(queries)}  # fmt: skip


def _pick(hist: torch.Tensor, parent: torch.Tensor) -> torch.Tensor:
    """(B, k, T) the histories of the chosen parents (B, k) of (B, w, T) histories."""
    return hist.gather(1, parent[..., None].expand(-1, -1, hist.shape[2]))


def _gold_matrix(queries, num_entities: int) -> torch.Tensor:
    """(B, E) bool: entity e is a gold answer of query b."""
    lengths = [len(q.answers) for q in queries]
    rows = np.repeat(np.arange(len(queries)), lengths)
    cols = np.concatenate([np.asarray(q.answers, dtype=np.int64) for q in queries] or [[]])
    gold = torch.zeros(len(queries), num_entities, dtype=torch.bool)
    gold[torch.as_tensor(rows), torch.as_tensor(cols.astype(np.int64))] = True
    return gold
