"""Training (REINFORCE), beam-search inference and persistence of the path policy.

Williams, 1992 (REINFORCE); the recipe follows MINERVA (Das et al., 2018): several
rollouts per query, a baseline, an entropy bonus and action dropout for exploration.
The baseline is the mean reward of the *other* rollouts of the same query (leave-one-out),
which removes the query's difficulty from the gradient's variance. The reward of a walk
is the precision of the set it reaches (the chance that an answer picked from it is
right); in relation mode it may be shaped by a KGE model's score of the answers it
reaches (Lin et al., 2018, "Multi-Hop Knowledge Graph Reasoning with Reward Shaping"; see
:class:`kgagent.policy.shaping.KGEReward`).

Relation mode climbs the *log* of the expected reward by default
(``PolicyConfig.objective``): the advantages of a query's rollouts are divided by their
mean reward, the REINFORCE estimate of the gradient of log P(gold) (maximum marginal
likelihood; Guu et al., 2017, "From Language to Programs"). With one query per training
triple that is the log-likelihood of every tail, which covers all the answers of (h, r);
the expected reward alone is maximised by a path that surely reaches *some* of them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgagent._io import atomic_dir
from kgagent.artifact import write_manifest
from kgagent.errors import PolicyError
from kgagent.kg.adjacency import Adjacency
from kgagent.policy.config import FORMAT, BeamPath, PolicyConfig, Query
from kgagent.policy.env import RelationWalk
from kgagent.policy.network import PathPolicy
from kgagent.stopping import EarlyStopper

# PolicyConfig, Query, BeamPath (kgagent.policy.config) and PolicyError (kgagent.errors)
# are re-exported: they were defined here, and callers import them from here
__all__ = ["FORMAT", "BeamPath", "PathReasoner", "PolicyConfig", "PolicyError", "Query"]


class PathReasoner:
    """A policy network, the environment it walks, and the relation vocabulary it knows.

    Args:
        network: the :class:`PathPolicy`.
        adj: the graph to walk.
        relations: the relation terms (N-Triples), in id order: a checkpoint refuses a
            graph whose relations differ.
        config: hyper-parameters.
        reward: optional :class:`~kgagent.policy.shaping.KGEReward` (relation mode) that
            shapes the training reward; used by ``fit`` only, not saved.
    """

    def __init__(
        self,
        network: PathPolicy,
        adj: Adjacency,
        relations: Sequence[str],
        config: PolicyConfig,
        *,
        reward: Any = None,
    ) -> None:
        if reward is not None and config.mode != "relation":
            raise PolicyError("KGE reward shaping needs relation-mode queries")
        if config.walk != "set":
            raise PolicyError(f"walk {config.walk!r}: build it with kgagent.policy.create_reasoner")
        self.network = network
        self.config = config
        self.reward = reward
        self.relations = list(relations)
        self.env = RelationWalk(
            adj,
            max_hops=config.max_hops,
            revisit_start=config.revisits(),
            weights=config.weights(),
            topic_answers=config.topic_answers,
        )
        if self.env.num_actions != network.num_actions:
            raise PolicyError(
                f"the policy has {network.num_actions} actions but the graph offers "
                f"{self.env.num_actions} ({len(self.relations)} relations, each way, + STOP)"
            )
        self._lock = threading.Lock()

    #: the network class a checkpoint of this walk is rebuilt with (``from_spec``)
    network_class = PathPolicy

    @classmethod
    def create(
        cls,
        adj: Adjacency,
        relations: Sequence[str],
        *,
        config: PolicyConfig | None = None,
        query_dim: int = 384,
        action_features: np.ndarray | None = None,
        entity_features: np.ndarray | None = None,
        query_features: np.ndarray | None = None,
        reward: Any = None,
    ) -> PathReasoner:
        """A new, untrained policy for a graph, of the walk ``config.walk`` names: the same
        as :func:`kgagent.policy.create_reasoner` (kept for the callers of this name)."""
        from kgagent.policy.walks import create_reasoner

        return create_reasoner(
            adj,
            relations,
            config=config,
            query_dim=query_dim,
            action_features=action_features,
            entity_features=entity_features,
            query_features=query_features,
            reward=reward,
        )

    @classmethod
    def from_config(
        cls,
        adj: Adjacency,
        relations: Sequence[str],
        *,
        config: PolicyConfig,
        query_dim: int = 384,
        action_features: np.ndarray | None = None,
        entity_features: np.ndarray | None = None,
        query_features: np.ndarray | None = None,
        reward: Any = None,
    ) -> PathReasoner:
        """A new, untrained set walk (features: see :class:`PathPolicy`); what the walk
        registry calls for ``walk="set"``."""
        torch.manual_seed(config.seed)
        n_rel = adj.num_base_relations
        network = PathPolicy(
            num_actions=2 * n_rel + 1,
            mode=config.mode,
            query_dim=query_dim,
            num_query_relations=2 * n_rel if config.mode == "relation" else 0,
            num_entities=adj.num_entities
            if config.mode == "relation" and config.start_entity
            else 0,
            dim=config.dim,
            action_features=_tensor(action_features),
            entity_features=_tensor(entity_features),
            query_features=_tensor(query_features),
        )
        return cls(network, adj, relations, config, reward=reward)

    # -- rollouts -----------------------------------------------------------------------

    def _queries_tensor(self, queries: Sequence[Query]) -> torch.Tensor:
        if self.config.mode == "question":
            return torch.as_tensor(np.stack([np.asarray(q.query) for q in queries]))
        return torch.as_tensor([int(q.query) for q in queries])

    def _encode(self, queries: Sequence[Query]) -> torch.Tensor:
        starts = torch.as_tensor([q.start for q in queries])
        return self.network.encode_query(self._queries_tensor(queries), starts)  # (B, dim)

    def _masks(
        self, queries: Sequence[Query], owner, starts: np.ndarray, paths: list[tuple[int, ...]]
    ) -> torch.Tensor:
        """(N, A) available actions; in relation mode the first step may not take the
        query relation itself (the edge a link-prediction query asks about is what the
        walk must explain by *other* paths, as in MINERVA)."""
        mask = self.env.masks(starts, paths)
        for row, qi in enumerate(owner):
            allowed = queries[int(qi)].allowed
            if allowed is not None:
                mask[row] &= allowed  # STOP is always allowed (the router keeps it)
        if self.config.mode == "relation":
            for row, (qi, path) in enumerate(zip(owner, paths, strict=True)):
                if not path:
                    mask[row, int(queries[int(qi)].query)] = False
        return torch.as_tensor(mask)

    def _rollout(
        self, queries: Sequence[Query], k: int, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Samples ``k`` walks per query: (sum log-probs (N,), mean entropy (N,), rewards)."""
        cfg = self.config
        n = len(queries) * k
        starts = np.repeat([q.start for q in queries], k)
        q = self._encode(queries).repeat_interleave(k, dim=0)  # (N, dim)
        table = self.network.action_table()
        state = self.network.initial_state(n)
        paths: list[tuple[int, ...]] = [()] * n
        logp_sum = torch.zeros(n)
        entropy = torch.zeros(n)
        for _ in range(cfg.max_hops):
            mask = self._masks(queries, np.arange(n) // k, starts, paths)  # (N, A)
            logp, (h, c) = self.network.step(q, state, mask, table)
            entropy = entropy - (logp.exp() * logp.masked_fill(~mask, 0.0)).sum(-1)
            # action dropout: each available action is hidden with some probability and
            # the walk samples from the rest, renormalized; the gradient follows the
            # distribution actually sampled from (hiding the argmax then costs nothing)
            explore = mask & (torch.rand(mask.shape, generator=gen) >= cfg.action_dropout)
            explore = torch.where(explore.any(-1, keepdim=True), explore, mask)
            behaviour = torch.log_softmax(logp.masked_fill(~explore, float("-inf")), dim=-1)
            action = torch.multinomial(behaviour.exp(), 1, generator=gen).squeeze(1)  # (N,)
            logp_sum = logp_sum + behaviour.gather(1, action[:, None]).squeeze(1)
            acts = action.tolist()
            paths = [(*p, a) for p, a in zip(paths, acts, strict=True)]
            state = (h, c, action)
        return logp_sum, entropy / cfg.max_hops, self._rewards(queries, k, starts, paths)

    def _rewards(
        self, queries: Sequence[Query], k: int, starts: np.ndarray, paths: list[tuple[int, ...]]
    ) -> np.ndarray:
        """(N,) the precision of each walk's answers, or with a KGE model its shaped reward."""
        env = self.env
        walks = enumerate(zip(starts.tolist(), paths, strict=True))
        if self.reward is None:
            return np.array([env.precision(s, p, queries[i // k].answers) for i, (s, p) in walks])
        belief = self.reward.probabilities(
            np.array([q.start for q in queries]), np.array([int(q.query) for q in queries])
        )  # (B, E)
        return np.array(
            [
                self.reward.shaped(
                    env.answers(s, p),
                    queries[i // k].answers,
                    belief[i // k],
                    weights=env.answer_weights(s, p),
                )
                for i, (s, p) in walks
            ]
        )

    # -- training -----------------------------------------------------------------------

    def fit(
        self,
        train: Sequence[Query],
        valid: Sequence[Query] | None = None,
        *,
        progress: bool = False,
        log: Callable[[str], None] | None = None,
        time_budget: float | None = None,
        callback: Callable[[dict[str, Any]], bool | None] | None = None,
        validate: Callable[[], float] | None = None,
    ) -> dict[str, Any]:
        """Trains with REINFORCE; keeps the weights of the best validation epoch.

        Args:
            train: the training queries (those without a gold answer are dropped).
            valid: validation queries: model selection and the patience counter.
            progress: show a progress bar.
            log: receives one line per epoch.
            time_budget: seconds after which training ends at the next epoch boundary.
            callback: called after every optimizer step with ``{"epoch", "step",
                "walks", "seconds", "reward"}`` (step counts from 1, walks sampled in the
                step, seconds since the start, reward the batch's mean); returning True
                ends training after that step (the epoch is recorded as it stands).
                Learning curves at step resolution (``kgagent.transfer``) hang here;
                the callback draws no random numbers from the trainer, so it does not
                change the run.
            validate: the model-selection score after each epoch, higher is better, in
                place of the Hits@1 of ``valid`` (link prediction: the filtered MRR of
                held-out triples, recorded as ``valid_mrr``).

        Returns a report with the learning curve (``history``: epoch, seconds, mean
        reward, validation Hits@1), the best epoch, and the training time.
        """
        cfg = self.config
        train = [q for q in train if len(q.answers)]
        if not train:
            raise PolicyError("no training query has a gold answer in the graph")
        gen = torch.Generator().manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        opt = torch.optim.Adam(self.network.parameters(), lr=cfg.lr)
        k = max(2, cfg.rollouts)
        likelihood = cfg.objective_for_mode() == "likelihood"
        history: list[dict[str, Any]] = []
        stopper, best_state = EarlyStopper(cfg.patience), None
        step, stop = 0, False
        t0 = time.perf_counter()
        bar = _bar(cfg.epochs, progress)
        for epoch in range(1, cfg.epochs + 1):
            self.network.train()
            order = rng.permutation(len(train))
            rewards = []
            for b in range(0, len(order), cfg.batch_size):
                batch = [train[i] for i in order[b : b + cfg.batch_size]]
                logp, ent, reward = self._rollout(batch, k, gen)
                r = torch.as_tensor(reward, dtype=torch.float32).view(-1, k)  # (B, k)
                baseline = (r.sum(1, keepdim=True) - r) / (k - 1)  # leave-one-out
                advantage = r - baseline
                if likelihood:
                    advantage = advantage / r.mean(1, keepdim=True).clamp_min(cfg.reward_floor)
                advantage = advantage.reshape(-1)
                loss = -(advantage * logp).mean() - cfg.entropy * ent.mean()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), 5.0)
                opt.step()
                rewards.append(float(r.mean()))
                step += 1
                if callback is not None:
                    info = {
                        "epoch": epoch,
                        "step": step,
                        "walks": len(batch) * k,
                        "seconds": time.perf_counter() - t0,
                        "reward": rewards[-1],
                    }
                    stop = bool(callback(info))
                    self.network.train()  # the callback may have evaluated
                    if stop:
                        break
            if validate is not None:
                score = float(validate())
            else:
                score = self.evaluate(valid)["hits_at_1"] if valid else float(np.mean(rewards))
            history.append(
                {
                    "epoch": epoch,
                    "seconds": round(time.perf_counter() - t0, 2),
                    "reward": round(float(np.mean(rewards)), 4),
                    "valid_hits_at_1": round(score, 4) if valid and validate is None else None,
                    **({"valid_mrr": round(score, 4)} if validate is not None else {}),
                }
            )
            if log:
                log(f"epoch {epoch}: reward {np.mean(rewards):.3f}, valid {score:.3f}")
            bar.update(1)
            halt = stopper.report(epoch, score)
            if stopper.best_epoch == epoch:
                best_state = {k_: v.detach().clone() for k_, v in self.network.state_dict().items()}
            if stop or halt:
                break
            if time_budget and time.perf_counter() - t0 > time_budget:
                break
        bar.close()
        if best_state is not None:
            self.network.load_state_dict(best_state)
        self.network.eval()
        return {
            "epochs": len(history),
            "best_epoch": stopper.best_epoch or history[-1]["epoch"],  # None: all NaN
            "train_queries": len(train),
            "train_seconds": round(time.perf_counter() - t0, 2),
            "history": history,
        }

    # -- inference ----------------------------------------------------------------------

    @torch.inference_mode()
    def beam_search(
        self, queries: Sequence[Query], *, beam: int | None = None
    ) -> list[list[BeamPath]]:
        """The ``beam`` most likely walks per query, best first, with their answer sets.

        Walks ending in the same relation sequence are one path; walks that reach nothing
        (or only the start) are dropped.
        """
        if not queries:
            return []
        env, width = self.env, int(beam or self.config.beam)
        with self._lock:  # the environment's caches are shared
            self.network.eval()
            q_all = self._encode(queries)  # (B, dim)
            table = self.network.action_table()
            # live beams: (query index, path, logp); one LSTM state row per beam
            owner = list(range(len(queries)))
            paths: list[tuple[int, ...]] = [()] * len(queries)
            scores = np.zeros(len(queries))
            state = self.network.initial_state(len(queries))
            starts = np.array([q.start for q in queries])
            for _ in range(env.max_hops):
                mask = self._masks(queries, owner, starts[owner], paths)
                logp, (h, c) = self.network.step(q_all[owner], state, mask, table)
                total = torch.as_tensor(scores)[:, None] + logp.double()  # (N, A)
                keep_rows, keep_acts, new_scores = [], [], []
                by_query: dict[int, list[int]] = {}
                for row, qi in enumerate(owner):
                    by_query.setdefault(qi, []).append(row)
                for rows in by_query.values():
                    flat = total[rows].reshape(-1)
                    top = torch.topk(flat, min(width, int(torch.isfinite(flat).sum())))
                    for value, pos in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                        keep_rows.append(rows[pos // env.num_actions])
                        keep_acts.append(pos % env.num_actions)
                        new_scores.append(value)
                rows_t = torch.as_tensor(keep_rows)
                owner = [owner[r] for r in keep_rows]
                paths = [(*paths[r], a) for r, a in zip(keep_rows, keep_acts, strict=True)]
                scores = np.array(new_scores)
                state = (h[rows_t], c[rows_t], torch.as_tensor(keep_acts))
        out: list[list[BeamPath]] = [[] for _ in queries]
        for qi, path, score in zip(owner, paths, scores.tolist(), strict=True):
            actions = tuple(a for a in path if a != env.stop)
            answers = env.answers(int(starts[qi]), actions)
            if actions and len(answers):
                weights = env.answer_weights(int(starts[qi]), actions)
                out[qi].append(BeamPath(actions, float(score), answers, weights))
        for paths_ in out:
            paths_.sort(key=lambda p: -p.logp)
        return out

    def answer_probabilities(
        self, queries: Sequence[Query], *, beam: int | None = None
    ) -> np.ndarray:
        """(B, E) the probability of each entity under the kept walks: a walk's
        probability shared among its answers by their weights."""
        out = np.zeros((len(queries), self.env.adj.num_entities))
        for row, paths in enumerate(self.beam_search(queries, beam=beam)):
            for p in paths:
                out[row, p.answers] += np.exp(p.logp) * p.weights
        return out

    def evaluate(self, queries: Sequence[Query] | None, *, beam: int | None = None) -> dict:
        """Hits@1 as the expected precision of the best path's answers (question mode),
        and the share of queries whose best path reaches a gold answer (``recall``)."""
        if not queries:
            return {"hits_at_1": 0.0, "queries": 0}
        hits, reach = [], []
        for b in range(0, len(queries), 256):
            chunk = queries[b : b + 256]
            for q, paths in zip(chunk, self.beam_search(chunk, beam=beam), strict=True):
                if not paths:
                    hits.append(0.0)
                    reach.append(0.0)
                    continue
                got = paths[0].answers
                inter = np.isin(got, q.answers).sum()
                hits.append(inter / len(got))
                reach.append(float(inter > 0))
        return {
            "hits_at_1": float(np.mean(hits)),
            "reach": float(np.mean(reach)),
            "queries": len(queries),
        }

    # -- persistence --------------------------------------------------------------------

    def network_spec(self) -> dict[str, Any]:
        """The network's constructor arguments (feature tables as their widths)."""
        return self.network.spec()

    def save(
        self,
        directory: str | Path,
        *,
        metrics: dict | None = None,
        extra: dict[str, Any] | None = None,
        write: Callable[[Path], Any] | None = None,
    ) -> None:
        """config.json, weights.safetensors, relations.json (and metrics.json, and each
        ``extra`` object as NAME.json), atomically; ``write(tmp)`` adds files of its own
        (a link-prediction policy's KGE companion) before the directory is published."""
        from safetensors.torch import save_file

        with atomic_dir(directory) as tmp:
            weights = {k: v.detach().contiguous() for k, v in self.network.state_dict().items()}
            save_file(weights, str(tmp / "weights.safetensors"))
            (tmp / "relations.json").write_text(json.dumps(self.relations) + "\n")
            write_manifest(
                tmp,
                "config.json",
                format=FORMAT,
                sort_keys=False,  # in this order, as every policy saved so far
                # sizes and digests checked on load (metrics.json and reader.json are
                # written beside later: not listed)
                inventory=["weights.safetensors", "relations.json"],
                policy=asdict(self.config),
                network=self.network_spec(),
            )
            if metrics is not None:
                (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
            for name, obj in (extra or {}).items():
                (tmp / f"{name}.json").write_text(json.dumps(obj) + "\n")
            if write is not None:
                write(tmp)

    @classmethod
    def load(cls, directory: str | Path, adj: Adjacency, relations: Sequence[str]) -> PathReasoner:
        """Reads a saved policy of any walk for a graph; refuses one trained on other
        relations. The same as :func:`kgagent.policy.load_reasoner` (kept for the callers
        of this name)."""
        from kgagent.policy.walks import load_reasoner

        return load_reasoner(directory, adj, relations)


def _tensor(x: np.ndarray | None) -> torch.Tensor | None:
    return None if x is None else torch.as_tensor(x)


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="policy", unit="epoch", disable=not enabled)
