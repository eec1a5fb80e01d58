"""Transfer experiments: does what one agent learned make another learn faster or better?

:class:`TransferExperiment` trains the target's path policy twice per seed under the
same budget of optimizer steps — from scratch, and from the source's weights moved
through the vocabulary alignment (:mod:`kgagent.transfer.warmstart`) under a strategy
(:mod:`kgagent.transfer.strategy`) — evaluating both on the same held-out queries every
few steps, and compares the curves with Taylor & Stone's metrics
(:mod:`kgagent.transfer.metrics`). Both arms share the architecture (the source's), the
training options, the queries and the seed; only the initial weights differ.

    exp = TransferExperiment(source="bundles/metaqa-12", target="ws/metaqa",
                             train="3hop_train.txt", eval="3hop_eval.txt",
                             budget=Budget(steps=200, eval_every=10), seeds=[0, 1, 2])
    results = exp.run(out="runs/metaqa-3hop")
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.transfer.checkpoint import Bundle, TransferError
from kgagent.transfer.metrics import compare, flat_curve, summarize
from kgagent.transfer.strategy import apply_strategy, get_strategy

#: the strategy an experiment uses unless told: per task, what the evidence favours
DEFAULT_STRATEGY = {"qa": "shrink-perturb", "linkpred": "finetune"}

__all__ = ["Budget", "TransferExperiment", "learning_curve"]

#: the flat keys of metrics.json (each the mean over seeds)
HEADLINE = (
    "jumpstart",
    "asymptote_transfer",
    "asymptote_scratch",
    "area_ratio",
    "time_to_threshold_ratio",
)


@dataclass(frozen=True)
class Budget:
    """The training each arm gets, and how often its curve is measured.

    Attributes:
        steps: optimizer steps (batches) per run.
        eval_every: steps between evaluations (step 0 is always measured).
        seconds: optional wall-time cap per run (training time, evaluation excluded).
    """

    steps: int = 200
    eval_every: int = 10
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.steps < 0 or self.eval_every < 1:
            raise TransferError(f"budget {self}: steps >= 0 and eval_every >= 1 required")


def learning_curve(reasoner, train, evaluation, *, budget: Budget) -> dict[str, list[float]]:
    """Trains ``reasoner`` for the budget, measuring Hits@1 on ``evaluation`` at step 0,
    every ``eval_every`` steps and at the end; evaluation time is not training time.

    A reasoner with nothing left to train (a fully frozen transfer) is measured once and
    its curve held flat over the budget's steps at zero training time.
    """
    curve: dict[str, list[float]] = {"step": [], "episodes": [], "seconds": [], "metric": []}
    spent = {"eval": 0.0, "walks": 0}

    def measure(step: int, seconds: float) -> None:
        t = time.perf_counter()
        metric = reasoner.evaluate(evaluation)["hits_at_1"]
        spent["eval"] += time.perf_counter() - t
        for key, value in (
            ("step", step),
            ("episodes", spent["walks"]),
            ("seconds", round(seconds, 4)),
            ("metric", round(float(metric), 6)),
        ):
            curve[key].append(value)

    measure(0, 0.0)
    trainable = any(p.requires_grad for p in reasoner.network.parameters())
    if not trainable or budget.steps == 0:
        return flat_curve(curve, steps=budget.steps, every=budget.eval_every)

    def callback(info: dict[str, Any]) -> bool:
        spent["walks"] += info["walks"]
        train_seconds = info["seconds"] - spent["eval"]
        step = info["step"]
        done = step >= budget.steps or bool(budget.seconds and train_seconds >= budget.seconds)
        if step % budget.eval_every == 0 or done:
            measure(step, train_seconds)
        return done

    batches = math.ceil(len(train) / reasoner.config.batch_size)
    epochs = math.ceil(budget.steps / max(1, batches)) + 1
    # the budget ends training (the callback), never early stopping
    reasoner.config = dataclasses.replace(reasoner.config, epochs=epochs, patience=None)
    reasoner.fit(train, None, callback=callback)
    return curve


class TransferExperiment:
    """Scratch vs transfer on a target task, over seeds, with Taylor & Stone's metrics.

    Args:
        source: a bundle (or its directory), or a source workspace (exported on the fly).
        target: the target agent, or its workspace (indexed; its graph is the task's).
        train: the target task's training data: QA pairs or a QA file (MetaQA,
            PathQuestion, JSONL) for the policy; a triple file for an embedding.
        eval: the target task's evaluation data, in the same form.
        components: the learned part measured: ``["policy"]`` (trained with REINFORCE,
            metric Hits@1) or ``["embeddings"]`` (the KGE trainer, metric filtered MRR,
            a step = an epoch).
        strategy: "finetune", "partial", "frozen", "reset-head", "shrink-perturb"
            (policies) or ``freeze:PREFIX,...`` (see :mod:`kgagent.transfer.strategy`).
            Default (None or "auto"): "shrink-perturb" for a policy, the best strategy in
            every policy transfer measured (bench/transfer.py: area ratio 1.26 / 1.61
            where "finetune" gave 0.46 / 0.61), and "finetune" for an embedding.
        budget: steps per run and evaluation interval.
        seeds: one scratch and one transfer run each.
        config: the policy's training options for both arms (default: the source
            policy's); ``mode`` and ``dim`` always come from the source network.
        threshold: the performance for time to threshold (default ``threshold_share``
            of the scratch arm's mean asymptote: a level scratch itself reaches).
        use_labels: align by normalised label after IRI (False: IRIs only, an ablation).
        use_encoder: align unmatched labels by encoder similarity too.
        name: the experiment's name (default: the output directory's).
    """

    def __init__(
        self,
        *,
        source: Bundle | str | Path,
        target: Any,
        train: Any,
        eval: Any,
        components: Sequence[str] = ("policy",),
        strategy: str | None = None,
        budget: Budget | None = None,
        seeds: Sequence[int] = (0, 1, 2),
        config: Any = None,
        threshold: float | None = None,
        threshold_share: float = 0.9,
        use_labels: bool = True,
        use_encoder: bool = False,
        name: str | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.train, self.eval = train, eval
        self.components = list(components)
        if self.components == ["policy"]:
            self.task = "qa"
        elif self.components == ["embeddings"]:
            self.task = "linkpred"
        else:
            raise TransferError(
                f"components {self.components}: an experiment measures one learned part on "
                "the target task: ['policy'] (QA files) or ['embeddings'] (triple files); "
                "move the others with `kgagent transfer import`"
            )
        self._queries: tuple | None = None
        if strategy in (None, "auto"):
            strategy = DEFAULT_STRATEGY[self.task]
        self.strategy = get_strategy(strategy)
        self.budget = budget or Budget()
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise TransferError("give at least one seed")
        self.config = config
        self.threshold = threshold
        self.threshold_share = float(threshold_share)
        self.use_labels = use_labels
        self.use_encoder = use_encoder
        self.name = name

    def run(
        self, *, out: str | Path | None = None, log: Callable[[str], None] | None = None
    ) -> dict[str, Any]:
        """Runs every seed's two arms; writes metrics.json, curves.png, summary.md to ``out``."""
        from kgagent.agents import Agent
        from kgagent.transfer.exchange import align_agent, open_source

        bundle = (
            self.source
            if isinstance(self.source, Bundle)
            else open_source(self.source, components=self.components)
        )
        agent = self.target if isinstance(self.target, Agent) else Agent.open(self.target)
        try:
            encoder = agent.encoder if self.use_encoder else None
            ents, rels = align_agent(bundle, agent.kg, labels=self.use_labels, encoder=encoder)
            arms = self._qa_arms if self.task == "qa" else self._linkpred_arms
            runs, sizes = [], {}
            for seed in self.seeds:
                run, sizes = arms(bundle, agent, ents, rels, seed)
                runs.append(run)
                if log:
                    sc, tr = run["scratch"]["metric"], run["transfer"]["metric"]
                    log(
                        f"seed {seed}: scratch {sc[0]:.3f} -> {sc[-1]:.3f}, "
                        f"transfer {tr[0]:.3f} -> {tr[-1]:.3f}"
                    )
            results = self._results(bundle, agent, runs, ents, rels, sizes)
        finally:
            if agent is not self.target:
                agent.close()
        if out is not None:
            from kgagent.transfer.report import write_results

            results["files"] = {k: str(v) for k, v in write_results(results, out).items()}
        return results

    def _qa_arms(self, bundle, agent, ents, rels, seed):
        """One seed of the QA task: the policy from scratch and from the transfer."""
        from kgagent.agents.builder import qa_pairs
        from kgagent.pipeline.policy import policy_queries
        from kgagent.transfer.exchange import warm_policy_for

        if self._queries is None:  # linked and encoded once for every seed
            retriever = agent.retriever
            train_q, _ = policy_queries(retriever, qa_pairs(self.train))
            eval_q, _ = policy_queries(retriever, qa_pairs(self.eval))
            if not train_q or not eval_q:
                raise TransferError(
                    f"{len(train_q)} training and {len(eval_q)} evaluation questions link to "
                    "the target graph with an answer in it: nothing to run"
                )
            self._queries = (train_q, eval_q)
        train_q, eval_q = self._queries
        config = self._config(bundle, seed)
        scratch = self._scratch(bundle, agent.retriever, config)
        c_scratch = learning_curve(scratch, train_q, eval_q, budget=self.budget)
        s = self.strategy
        warm, transferred, warm_report = warm_policy_for(
            agent, bundle, ents, rels, config=config, reset=s.reset, shrink=s.shrink, keep=s.keep
        )
        frozen = apply_strategy(warm.network, self.strategy, transferred)
        c_transfer = learning_curve(warm, train_q, eval_q, budget=self.budget)
        run = {"seed": seed, "scratch": c_scratch, "transfer": c_transfer}
        run["warm_start"] = {**warm_report, **frozen}
        return run, {"train": len(train_q), "eval": len(eval_q)}

    def _linkpred_arms(self, bundle, agent, ents, rels, seed):
        """One seed of the link-prediction task: the embedding from scratch and transferred."""
        from kgagent.embeddings import TripleSplits
        from kgagent.transfer.exchange import warm_embedding_for
        from kgagent.transfer.linkpred_experiment import (
            embedding_curve,
            scratch_embedding,
            task_triples,
            training_options,
        )

        if self._queries is None:
            train, train_report = task_triples(agent.kg, self.train)
            evaluation, eval_report = task_triples(agent.kg, self.eval)
            vocab = agent.kg.vocab
            data = TripleSplits(
                entities=list(vocab.entities.terms),
                relations=list(vocab.relations.terms),
                train=train,
                valid=evaluation,
                unseen={"train": train_report, "eval": eval_report},
            )
            self._queries = (data,)
        (data,) = self._queries
        options = training_options(bundle)
        scratch = scratch_embedding(
            bundle, num_entities=data.num_entities, num_relations=data.num_relations, seed=seed
        )
        c_scratch = embedding_curve(scratch, data, budget=self.budget, options=options, seed=seed)
        warm, transferred, warm_report = warm_embedding_for(agent, bundle, ents, rels)
        frozen = apply_strategy(warm, self.strategy, transferred)
        c_transfer = embedding_curve(warm, data, budget=self.budget, options=options, seed=seed)
        run = {"seed": seed, "scratch": c_scratch, "transfer": c_transfer}
        run["warm_start"] = {**warm_report, **frozen}
        return run, {"train": len(data.train), "eval": len(data.valid), "unseen": data.unseen}

    # -- steps ----------------------------------------------------------------------------

    def _config(self, bundle: Bundle, seed: int):
        from kgagent.policy import PolicyConfig

        net = bundle.config("policy")["network"]
        if self.config is not None:
            base = self.config
        else:
            known = {f.name for f in dataclasses.fields(PolicyConfig)}
            saved = bundle.config("policy").get("policy", {})
            base = PolicyConfig(**{k: v for k, v in saved.items() if k in known})
        return dataclasses.replace(base, mode=net["mode"], dim=net["dim"], seed=seed)

    def _linkpred_config(self, bundle: Bundle) -> dict[str, Any]:
        from kgagent.transfer.linkpred_experiment import training_options

        cfg = bundle.config("embeddings")
        return {"model": cfg["model"], "dim": cfg["dim"], **training_options(bundle)}

    def _scratch(self, bundle: Bundle, retriever, config):
        """A fresh policy of the source's architecture on the target graph."""
        from kgagent.policy import create_reasoner
        from kgagent.transfer.exchange import action_features

        net = bundle.config("policy")["network"]
        if net["mode"] != "question":
            raise TransferError(
                f"{bundle.directory}: a {net['mode']!r}-mode policy; experiments on QA "
                "tasks need a question-mode one"
            )
        return create_reasoner(
            retriever.adj,
            retriever.relation_terms,
            config=config,
            query_dim=int(net.get("query_dim") or 384),
            action_features=action_features(retriever) if net.get("action_features") else None,
        )

    def _threshold(self, runs: list[dict]) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        from kgagent.transfer.metrics import asymptote

        mean = float(np.mean([asymptote(r["scratch"]["metric"]) for r in runs]))
        return self.threshold_share * mean

    def _results(self, bundle, agent, runs, ents, rels, sizes) -> dict[str, Any]:
        threshold = self._threshold(runs)
        for r in runs:
            r["metrics"] = compare(r["transfer"], r["scratch"], threshold=threshold)
        summary = summarize([r["metrics"] for r in runs])
        name = self.name or "transfer"
        return {
            **{k: summary[k]["mean"] for k in HEADLINE},
            "name": name,
            "metric": "hits_at_1" if self.task == "qa" else "mrr",
            "task_kind": self.task,
            "threshold": threshold,
            "threshold_rule": (
                "given"
                if self.threshold is not None
                else f"{self.threshold_share} x scratch asymptote"
            ),
            "summary": summary,
            "source": str(bundle.directory),
            "source_agent": bundle.manifest.get("source", {}),
            "target": str(agent.workspace) if agent.workspace else agent.config.name,
            "components": self.components,
            "strategy": self.strategy.name,
            "alignment": (
                "iri"
                + ("+label" if self.use_labels else "")
                + ("+encoder" if self.use_encoder and self.use_labels else "")
            ),
            "budget": dataclasses.asdict(self.budget),
            "seeds": self.seeds,
            "task": sizes,
            "coverage": {"entities": ents.coverage(), "relations": rels.coverage()},
            "config": (
                dataclasses.asdict(self._config(bundle, self.seeds[0]))
                if self.task == "qa"
                else self._linkpred_config(bundle)
            ),
            "runs": runs,
        }
