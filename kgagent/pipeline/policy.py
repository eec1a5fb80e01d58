"""Path-policy training data from questions, and training over one graph's retriever.

A question becomes a policy query by linking its topic entity (the walk's start),
masking that mention in the text before encoding it (the policy should learn how a
relation is asked about, not which names go with which relations), and resolving its
gold answers to entity ids, by IRI or by label.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent.errors import KGAgentError
from kgagent.kg.terms import iri_of
from kgagent.pipeline.pipeline import mask_mention

if TYPE_CHECKING:
    from kgagent.pipeline.retriever import Retriever
    from kgagent.policy import PathReasoner, PolicyConfig, Query

__all__ = ["action_features", "fit_policy", "policy_queries"]


def action_features(relation_vectors: np.ndarray) -> np.ndarray:
    """(2R + 1, d): the phrasing vector of each relation and direction; STOP has none."""
    v = np.asarray(relation_vectors)
    return np.concatenate([v, np.zeros((1, v.shape[1]), dtype=v.dtype)])


def policy_queries(
    retriever: Retriever, pairs: Sequence[tuple[str, Sequence[str]]], *, batch_size: int = 256
) -> tuple[list[Query], int]:
    """Policy queries for (question, answers) pairs, and how many pairs were unusable
    (no linked entity in the graph, or no answer found in it)."""
    from kgagent.policy import Query

    by_label: dict[str, list[int]] = {}
    for i, term in enumerate(retriever.entity_terms):
        by_label.setdefault(retriever.label(iri_of(term)).casefold(), []).append(i)
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


def fit_policy(
    retriever: Retriever,
    pairs: Sequence[tuple[str, Sequence[str]]],
    *,
    config: PolicyConfig | None = None,
    topic_answers: bool = False,
    valid_share: float = 0.1,
    progress: bool = False,
    time_budget: float | None = None,
) -> tuple[PathReasoner, dict[str, Any]]:
    """Trains a question-mode path policy over the retriever's graph on QA pairs:
    (reasoner, report with the learning curve and held-out validation)."""
    from kgagent.policy import PolicyConfig, create_reasoner

    config = config or PolicyConfig()
    if topic_answers and not config.topic_answers:
        config = dataclasses.replace(config, topic_answers=True)  # the workspace's rule
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
    vectors = retriever.relation_vectors
    reasoner = create_reasoner(
        retriever.adj,
        retriever.relation_terms,
        config=config,
        query_dim=int(vectors.shape[1]),
        action_features=action_features(vectors),
    )
    report = reasoner.fit(train, valid, progress=progress, time_budget=time_budget)
    report["valid"] = reasoner.evaluate(valid)
    report["skipped_questions"] = skipped
    return reasoner, report
