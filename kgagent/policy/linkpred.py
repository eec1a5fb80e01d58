"""The path policy on link prediction: (h, r, ?) queries, entity rankings, evaluation.

A query asks for the tails of (h, r) (heads are the tails of (t, r⁻¹)); the policy walks
from h by other relations (the rule-like paths MINERVA learns) and every entity gets the
probability that the walk ends on a set containing it and a pick from that set is it: by
default the mass of a random walk along the path's relations (``PolicyConfig.
answer_weights = "walk"``), so that an entity many edges lead to ranks above one a single
edge reaches. Entities no kept walk reaches tie below the rest; a trained KGE model, if
given, orders them (and mixes in with weight ``kge_weight``): P(e) = (1 - w) P_walk(e) +
w P_kge(e). Ranks come from :func:`kgagent.embeddings.evaluation.rank_triples`, the same
filtered, tie-aware evaluation as the KGE models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from kgagent.errors import PolicyError
from kgagent.kg.adjacency import Adjacency
from kgagent.policy.config import PolicyConfig, Query
from kgagent.policy.mixture import COMPANION_MODEL, Companion, choose_weight, save_mixture
from kgagent.policy.reasoner import PathReasoner
from kgagent.policy.shaping import KGEReward, kge_features
from kgagent.policy.walks import create_reasoner, load_reasoner

__all__ = [
    "PolicyScorer",
    "default_configs",
    "evaluate_link_prediction",
    "load_for_splits",
    "relation_queries",
    "train_link_prediction",
    "train_on_splits",
    "workspace_splits",
]


def relation_queries(
    triples: np.ndarray,
    num_relations: int,
    *,
    known: np.ndarray | None = None,
    per_triple: bool = False,
) -> list[Query]:
    """One query per (h, r) and per (t, r⁻¹) of ``triples``; its gold answers are every
    answer of that query among ``known`` (default: ``triples`` themselves).

    ``per_triple``: one query per triple and direction instead, whose one gold answer is
    that triple's tail (head): what a likelihood objective needs, so that every answer of
    (h, r) must be found, not just one that a path reaches surely.
    """
    asked = _both_ways(triples, num_relations)
    if per_triple:
        return [Query(h, r, np.array([t], dtype=np.int64)) for h, r, t in asked.tolist()]
    pool = _both_ways(known, num_relations) if known is not None else asked
    span = 2 * num_relations
    keys = pool[:, 0] * span + pool[:, 1]  # sorted
    out = []
    for key in np.unique(asked[:, 0] * span + asked[:, 1]).tolist():
        lo, hi = np.searchsorted(keys, key), np.searchsorted(keys, key, side="right")
        out.append(Query(key // span, key % span, np.unique(pool[lo:hi, 2])))
    return out


def _both_ways(triples: np.ndarray, num_relations: int) -> np.ndarray:
    """(2n, 3) triples plus their inverses (t, r + R, h), sorted by (head, relation)."""
    t = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    both = np.concatenate([t, np.stack([t[:, 2], t[:, 1] + num_relations, t[:, 0]], 1)])
    return both[np.lexsort((both[:, 2], both[:, 1], both[:, 0]))]


class PolicyScorer:
    """Duck-types a KGE model (``score_t``, ``score_h``, ``num_entities``) for ranking.

    Args:
        reasoner: a relation-mode :class:`PathReasoner`.
        beam: walks kept per query.
        kge: optional KGE model (``score_t(h, r)`` -> (B, E)) for unreached entities.
        kge_weight: its share of the probability mass.
        memo: walk probabilities kept by query batch, shared by scorers of the same
            policy and beam over the same triples (the mixture weights tried on one
            split walk it once); sparse, as a walk reaches few entities.
    """

    def __init__(
        self,
        reasoner: PathReasoner,
        *,
        beam: int = 64,
        kge=None,
        kge_weight: float = 0.05,
        memo: dict | None = None,
    ) -> None:
        self.reasoner = reasoner
        self.beam = int(beam)
        self.kge = kge
        self.kge_weight = float(kge_weight) if kge is not None else 0.0
        self.memo = memo
        self.num_entities = reasoner.env.adj.num_entities
        self.num_relations = reasoner.env.adj.num_base_relations
        self.training = False

    def eval(self) -> PolicyScorer:
        return self

    def train(self, mode: bool = True) -> PolicyScorer:
        return self

    def walk_probabilities(self, heads: Sequence[int], relations: Sequence[int]) -> np.ndarray:
        """(B, E) probability of each entity under the policy's kept walks."""
        key = (self.beam, tuple(heads), tuple(relations))
        if self.memo is not None and key in self.memo:
            rows, cols, vals = self.memo[key]
            p = np.zeros((len(heads), self.num_entities))
            p[rows, cols] = vals
            return p
        queries = [
            Query(int(h), int(r), np.empty(0, dtype=np.int64))
            for h, r in zip(heads, relations, strict=True)
        ]
        p = self.reasoner.answer_probabilities(queries, beam=self.beam)
        if self.memo is not None:
            rows, cols = np.nonzero(p)
            self.memo[key] = (rows, cols, p[rows, cols])
        return p

    def score_t(self, h: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        p = torch.as_tensor(self.walk_probabilities(h.tolist(), r.tolist()))  # (B, E)
        if self.kge is not None:
            with torch.no_grad():
                k = self.kge.score_t(h, r) if r.max() < self.num_relations else None
                if k is None:  # an inverse query: the KGE model predicts heads
                    k = self.kge.score_h(r - self.num_relations, h)
            p = (1 - self.kge_weight) * p + self.kge_weight * torch.softmax(k.double(), dim=1)
        return torch.log(p)  # unreached entities without a KGE model: -inf, tied

    def score_h(self, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.score_t(t, r + self.num_relations)


def train_link_prediction(
    train: np.ndarray,
    valid: np.ndarray,
    *,
    num_entities: int,
    relations: Sequence[str],
    config: PolicyConfig | None = None,
    graph: np.ndarray | None = None,
    kge=None,
    kge_offset: float = 0.0,
    shape_reward: bool = True,
    init_from_kge: bool = True,
    progress: bool = False,
    log=None,
    time_budget: float | None = None,
) -> tuple[PathReasoner, dict[str, Any]]:
    """A relation-mode policy trained with REINFORCE on the training graph's own edges.

    Args:
        train: (n, 3) id triples, the training queries (both directions).
        valid: (m, 3) id triples for early stopping (their expected precision).
        graph: the triples walked (default: ``train``).
        kge: a KGE model over the same ids; with ``shape_reward`` it shapes the reward
            (Lin et al., 2018; :class:`~kgagent.policy.shaping.KGEReward`, its scores
            shifted by ``kge_offset`` before the sigmoid), with ``init_from_kge`` its
            entity and relation tables initialise the policy's embeddings.
        time_budget: seconds after which training ends at the next epoch boundary.
    """
    config = config or PolicyConfig(mode="relation")
    if config.mode != "relation":
        raise ValueError("link prediction trains a relation-mode policy")
    walked = train if graph is None else graph
    adj = Adjacency.from_triples(walked, num_entities=num_entities, num_relations=len(relations))
    extra: dict[str, Any] = {}
    if kge is not None:
        if (kge.num_entities, kge.num_relations) != (num_entities, len(relations)):
            raise PolicyError(
                f"the KGE model has {kge.num_entities} entities and {kge.num_relations} "
                f"relations; the graph has {num_entities} and {len(relations)}"
            )
        if init_from_kge and config.walk == "set":  # edge walks learn their own tables
            ent, rel = kge_features(kge)  # (E, w), (2R, f)
            stop = np.zeros((1, rel.shape[1]), dtype=rel.dtype)
            extra.update(query_features=rel, action_features=np.vstack([rel, stop]))
            if config.start_entity:
                extra["entity_features"] = ent
        if shape_reward:
            extra["reward"] = KGEReward(kge, num_relations=len(relations), offset=kge_offset)
    reasoner = create_reasoner(adj, relations, config=config, **extra)
    train_q = relation_queries(train, len(relations),
                               per_triple=config.objective_for_mode() == "likelihood")  # fmt: skip
    known = np.concatenate([walked, train, valid])

    def validate() -> float:  # the filtered MRR of the held-out triples, as on test
        return evaluate_link_prediction(reasoner, valid, known=known)["mrr"]

    report = reasoner.fit(train_q, progress=progress, log=log, time_budget=time_budget,
                          validate=validate if len(valid) else None)  # fmt: skip
    report["kge"] = {
        "reward_shaping": "reward" in extra,
        "initialised": "query_features" in extra,
    }
    return reasoner, report


def evaluate_link_prediction(
    reasoner: PathReasoner,
    triples: np.ndarray,
    *,
    known: np.ndarray,
    beam: int | None = None,
    kge=None,
    kge_weight: float = 0.05,
    memo: dict | None = None,
) -> dict[str, Any]:
    """Filtered, tie-aware MRR and Hits@1/3/10 of ``triples``, both directions, and per
    direction (``tail``: (h, r, ?), ``head``: (?, r, t)).

    ``known``: every true triple (train, valid, test) for the filter; ``beam``: walks kept
    per query (default: the policy's ``config.beam``); ``kge``: rank the entities no walk
    reaches (see :class:`PolicyScorer`); ``memo``: the walks of earlier evaluations of
    this policy on these triples (see :class:`PolicyScorer`).
    """
    from kgagent.embeddings.evaluation import FilterIndex, rank_triples

    adj = reasoner.env.adj
    filt = FilterIndex(known, num_entities=adj.num_entities,
                       num_relations=adj.num_base_relations)  # fmt: skip
    scorer = PolicyScorer(reasoner, beam=beam or reasoner.config.beam, kge=kge,
                          kge_weight=kge_weight, memo=memo)  # fmt: skip
    m = rank_triples(scorer, triples, filter_index=filt).metrics()
    keys = ("mrr", "hits_at_1", "hits_at_3", "hits_at_10")
    out: dict[str, Any] = {k: float(m[k]) for k in keys}
    for side in ("tail", "head"):  # MINERVA and Lin et al. report (h, r, ?) only: "tail"
        out[side] = {k: float(m[side][k]) for k in keys}
    return out


def train_on_splits(
    splits,
    *,
    config: PolicyConfig | Sequence[PolicyConfig] | None = None,
    graph: np.ndarray | None = None,
    kge=None,
    kge_offset: float = 0.0,
    companion: Companion | str | None = COMPANION_MODEL,
    beam: int = 64,
    out=None,
    progress: bool = False,
    time_budget: float | None = None,
) -> tuple[PathReasoner, dict[str, Any]]:
    """Trains on :class:`~kgagent.embeddings.data.TripleSplits` and reports filtered
    metrics of the test split (valid without one), as ``kgagent kge train`` does.

    ``kge``: a KGE model that shapes the reward and initialises the embeddings.
    ``companion``: a KGE model mixed into the ranking by a weight chosen on the validation
    split (:mod:`kgagent.policy.mixture`; 0, the walk alone, is one of the choices): a
    :class:`~kgagent.policy.mixture.Companion`, or the name of a model to train on the
    walked triples first (its seconds count in ``time_budget``; none is trained beside a
    ``kge`` or without a validation split); None: the walk alone.
    ``metrics["mixture"]`` records the choice, ``metrics["walk"]`` the walk alone's test
    metrics where the weight is not 0.

    ``config``: one configuration, or several to choose from on the validation split
    (each trains; the best validation MRR is kept and the choice recorded under
    ``"selection"``), e.g. the path lengths :func:`default_configs` offers.
    ``time_budget``: seconds for all of them, shared evenly (a configuration that stops
    early on its own validation leaves its time to the next ones); each keeps its best
    validation epoch.

    Writes ``out`` (if given) atomically: the checkpoint, metrics.json and entities.json
    (the labels of the entity ids, checked when the checkpoint is evaluated again).
    """
    import time

    t0 = time.perf_counter()
    if isinstance(companion, str) and (kge is not None or not len(splits.valid)):
        companion = None  # the caller's own model (pass it as a Companion), or no validation
    if isinstance(companion, str):
        seed = (config[0] if isinstance(config, Sequence) else config or PolicyConfig()).seed
        companion = Companion.train(splits, graph=graph, model=companion, seed=seed)
    configs = list(config) if isinstance(config, Sequence) else [config]
    tried: list[dict[str, Any]] = []
    best = None
    for i, cfg in enumerate(configs):
        share, started = None, time.perf_counter()
        if time_budget is not None:
            share = max(0.0, time_budget - (time.perf_counter() - t0)) / (len(configs) - i)
        reasoner, report = train_link_prediction(
            splits.train, splits.valid, num_entities=splits.num_entities,
            relations=splits.relations, config=cfg, graph=graph, kge=kge,
            kge_offset=kge_offset, progress=progress, time_budget=share,
        )  # fmt: skip
        valid = max((h.get("valid_mrr", -1.0) for h in report["history"]), default=-1.0)
        tried.append({"max_hops": reasoner.config.max_hops, "entropy": reasoner.config.entropy,
                      "epochs": report["epochs"], "valid_mrr": round(float(valid), 4),
                      "seconds": round(time.perf_counter() - started, 1)})  # fmt: skip
        if best is None or valid > best[0]:
            best = (valid, reasoner, report)
    _, reasoner, report = best
    seconds = time.perf_counter() - t0
    split = "test" if len(splits.test) else "valid"
    triples = splits.test if len(splits.test) else splits.valid
    known = np.concatenate([splits.all_triples(), *([] if graph is None else [graph])])
    weight, mixture = 0.0, None
    if companion is not None and len(splits.valid):
        walks: dict = {}  # each weight tried re-ranks the same walks
        weight, valid_mrr = choose_weight(lambda w: evaluate_link_prediction(
            reasoner, splits.valid, known=known, beam=beam, kge=companion.model, kge_weight=w,
            memo=walks,
        )["mrr"])  # fmt: skip
        mixture = {"kge_weight": weight, "valid_mrr": valid_mrr, "companion": companion.report}
    metrics: dict[str, Any] = {"split": split, "triples": len(triples)}
    if len(triples):
        mixed = {"kge": companion.model, "kge_weight": weight} if weight else {}
        walks = {}  # the walk alone re-ranks the mixture's walks
        metrics.update(evaluate_link_prediction(reasoner, triples, known=known, beam=beam,
                                                memo=walks, **mixed))  # fmt: skip
        if weight:
            metrics["walk"] = evaluate_link_prediction(reasoner, triples, known=known, beam=beam,
                                                       memo=walks)  # fmt: skip
    if mixture is not None:
        metrics["mixture"] = mixture
    metrics.update(
        train_seconds=round(seconds, 2),
        epochs=report["epochs"],
        best_epoch=report["best_epoch"],
        kge=report["kge"],
        unseen=splits.unseen,
        data=splits.summary(),
        history=report["history"],
    )
    if len(configs) > 1:
        metrics["selection"] = {"by": "valid_mrr", "tried": tried,
                                "chosen": {"max_hops": reasoner.config.max_hops}}  # fmt: skip
    if time_budget is not None:
        metrics["time_budget_s"] = float(time_budget)
    if out is not None:
        reasoner.save(out, metrics=metrics, extra={"entities": list(splits.entities)},
                      write=None if mixture is None else
                      lambda tmp: save_mixture(tmp, companion, weight))  # fmt: skip
    return reasoner, metrics


def default_configs(**overrides: Any) -> list[PolicyConfig]:
    """The relation-mode configurations tried when the user sets none: the path lengths
    MINERVA searched (2 and 3, chosen on validation), with the training length, patience
    and entropy bench/policy.py found on UMLS and Nations (tail MRR 0.92 / 0.78 in
    bench/results/policy.json). ``overrides`` (e.g. ``seed``) apply to each."""
    base = {"mode": "relation", "epochs": 80, "patience": 20, "entropy": 0.1, **overrides}
    hops = [base.pop("max_hops")] if "max_hops" in base else [2, 3]
    return [PolicyConfig(**base, max_hops=h) for h in hops]


def load_for_splits(directory, splits, *, graph: np.ndarray | None = None) -> PathReasoner:
    """A checkpoint of :func:`train_on_splits` over ``graph`` (default: the training
    triples of ``splits``); refuses splits whose entity labels differ from the checkpoint's
    (relations are checked by :func:`~kgagent.policy.load_reasoner`)."""
    import json
    from pathlib import Path

    directory = Path(directory)
    path = directory / "entities.json"
    try:
        entities = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PolicyError(f"{path}: unreadable ({exc}); not a link-prediction policy") from exc
    if entities != list(splits.entities):
        raise PolicyError(
            f"{path}: the checkpoint knows {len(entities)} entities, the training split has "
            f"{splits.num_entities} (or in another order): evaluate with the files it was "
            "trained on"
        )
    walked = splits.train if graph is None else graph
    adj = Adjacency.from_triples(walked, num_entities=splits.num_entities,
                                 num_relations=splits.num_relations)  # fmt: skip
    return load_reasoner(directory, adj, splits.relations)


def workspace_splits(kg, rows: Sequence[tuple[str, str, str]], *, valid_share: float = 0.1,
                     seed: int = 0):  # fmt: skip
    """Relation-mode queries over a workspace graph: ``rows`` of (head, relation, tail) IRIs
    (or N-Triples terms) mapped to the graph's stable ids, a seeded ``valid_share`` held out;
    returns (splits, walked triples). Rows naming unknown terms are counted in ``unseen``."""
    from kgagent.embeddings.data import TripleSplits

    entities = list(kg.vocab.entities.terms)
    relations = list(kg.vocab.relations.terms)
    ent = {t: i for i, t in enumerate(entities)}
    rel = {t: i for i, t in enumerate(relations)}

    def term(x: str) -> str:
        return x if x.startswith(("<", "_:", '"')) else f"<{x}>"

    ids, bad = [], set()
    for h, r, t in rows:
        hi, ri, ti = ent.get(term(h)), rel.get(term(r)), ent.get(term(t))
        if hi is None or ri is None or ti is None:
            bad.update(x for x, i in ((h, hi), (r, ri), (t, ti)) if i is None)
            continue
        ids.append((hi, ri, ti))
    if not ids:
        raise PolicyError(f"none of the {len(rows)} query triples names entities of the graph")
    ids = np.asarray(ids, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(ids))
    n_valid = max(1, int(len(ids) * valid_share)) if len(ids) > 1 else 0
    splits = TripleSplits(
        entities=entities,
        relations=relations,
        train=ids[order[n_valid:]],
        valid=ids[order[:n_valid]],
        source={"kg": repr(kg)},
    )
    if bad:
        splits.unseen["queries"] = {"triples": len(rows) - len(ids), "terms": sorted(bad)[:20]}
    return splits, kg.adjacency().triples()
