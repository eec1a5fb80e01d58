"""The agent's path policy: training queries from QA pairs, training, loading.

A question becomes a policy query by linking its topic entity (the walk's start),
masking that mention in the text before encoding it (the policy should learn how a
relation is asked about, not which names go with which relations), and resolving its
gold answers to entity ids, by IRI or by label.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent.errors import KGAgentError

if TYPE_CHECKING:
    from kgagent.agents.agent import Agent
    from kgagent.policy import PathReasoner, PolicyConfig, Query
    from kgagent.retrieval.retriever import Retriever

__all__ = ["load_policy", "policy_queries", "train_policy"]

log = logging.getLogger(__name__)


def policy_queries(
    retriever: Retriever, pairs: Sequence[tuple[str, Sequence[str]]], *, batch_size: int = 256
) -> tuple[list[Query], int]:
    """Policy queries for (question, answers) pairs, and how many pairs were unusable
    (no linked entity in the graph, or no answer found in it)."""
    from kgagent.policy import Query
    from kgagent.retrieval.retriever import mask_mention

    by_label: dict[str, list[int]] = {}
    for i, term in enumerate(retriever.entity_terms):
        iri = term[1:-1] if term.startswith("<") else term
        by_label.setdefault(retriever.label(iri).casefold(), []).append(i)
    starts, texts, golds = [], [], []
    for question, answers in pairs:
        start = None
        for e in retriever.linker.link(question, top_k=1):
            start = retriever.entity_id.get(f"<{e.iri}>")
            if start is not None:
                texts.append(mask_mention(question, e.start, e.end))
        if start is None:
            continue
        gold = set()
        for a in answers:
            a = str(a).strip()
            node = retriever.entity_id.get(f"<{a}>")
            gold.update([node] if node is not None else by_label.get(a.casefold(), []))
        if not gold:
            texts.pop()
            continue
        starts.append(start)
        golds.append(np.array(sorted(gold), dtype=np.int64))
    vectors = []
    for b in range(0, len(texts), batch_size):
        vectors.append(np.asarray(retriever.encoder.encode(texts[b : b + batch_size])))
    vecs = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, 1))
    queries = [Query(s, v, g) for s, v, g in zip(starts, vecs, golds, strict=True)]
    return queries, len(pairs) - len(queries)


def train_policy(
    agent: Agent,
    pairs: Sequence[tuple[str, Sequence[str]]],
    *,
    name: str,
    config: PolicyConfig | None = None,
    valid_share: float = 0.1,
    progress: bool = False,
    time_budget: float | None = None,
) -> dict[str, Any]:
    """Trains a path policy on QA pairs and saves it under ``WORKSPACE/policy/NAME``."""
    from kgagent.policy import PathReasoner, PolicyConfig

    if agent.workspace is None:
        raise KGAgentError("training a policy saves it: give the agent a workspace")
    config = config or PolicyConfig()
    if agent.config.retrieval.topic_answers and not config.topic_answers:
        config = dataclasses.replace(config, topic_answers=True)  # the workspace's rule
    retriever = agent.retriever
    queries, skipped = policy_queries(retriever, pairs)
    if len(queries) < 2:
        raise KGAgentError(
            f"only {len(queries)} of {len(pairs)} questions have a linked entity and an "
            "answer in the graph: nothing to train the policy on"
        )
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(queries))
    n_valid = max(1, int(len(queries) * valid_share))
    valid = [queries[i] for i in order[:n_valid]]
    train = [queries[i] for i in order[n_valid:]]
    features = np.concatenate(
        [retriever.relation_vectors, np.zeros((1, retriever.relation_vectors.shape[1]))]
    )  # (2R + 1, d): the phrasing of each relation and direction; STOP has none
    reasoner = PathReasoner.create(
        retriever.adj,
        retriever.relation_terms,
        config=config,
        query_dim=int(agent.encoder.dim),
        action_features=features,
    )
    report = reasoner.fit(train, valid, progress=progress, time_budget=time_budget)
    report["valid"] = reasoner.evaluate(valid)
    report["skipped_questions"] = skipped
    reasoner.save(agent.workspace / "policy" / name, metrics=report)
    with agent._lock:
        if name == agent.config.policy.name:
            retriever.policy = reasoner
    return report


def load_policy(agent: Agent, retriever: Retriever) -> PathReasoner | None:
    """The policy the config names, if the workspace has it (checked against the graph)."""
    from kgagent.policy import PathReasoner, PolicyError

    name = agent.config.policy.name
    if not name or agent.workspace is None:
        return None
    directory = Path(agent.workspace) / "policy" / name
    if not (directory / "config.json").exists():
        return None
    try:
        reasoner = PathReasoner.load(directory, retriever.adj, retriever.relation_terms)
    except PolicyError as exc:  # e.g. a relation added since: answer without the policy
        log.warning("%s; answering without the path policy", exc)
        return None
    if reasoner.config.mode != "question":
        log.warning(
            "%s: a %s-mode policy (link prediction) does not answer questions; answering "
            "without the path policy",
            directory,
            reasoner.config.mode,
        )
        return None
    return reasoner
