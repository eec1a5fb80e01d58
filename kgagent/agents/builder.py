"""The builder: the only code that reads an agent's configuration.

It turns ``AgentConfig`` sections into the plain constructor arguments of the components
(pipeline, proposers, reader, LLM), so components never see the configuration.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kgagent.config import AgentConfig, RetrievalConfig
from kgagent.errors import KGAgentError

__all__ = ["build_llm", "build_reader", "build_retriever", "policy_proposer", "qa_pairs",
           "reader_settings", "reads_with_llm", "retrieval_weights", "saved_policy"]  # fmt: skip

log = logging.getLogger(__name__)


def qa_pairs(examples) -> list[tuple[str, tuple[str, ...]]]:
    """(question, answers) pairs from a QA file path or an iterable of pairs / QAItems."""
    from kgagent.qa import QAItem, read_qa

    if isinstance(examples, (str, Path)):
        examples = read_qa(examples)
    out = []
    for ex in examples:
        if isinstance(ex, QAItem):
            out.append((ex.question, ex.answers))
        else:
            q, answers = ex
            out.append((str(q), (answers,) if isinstance(answers, str) else tuple(answers)))
    return out


def retrieval_weights(rc: RetrievalConfig):
    """The pipeline's weights with the configuration's overrides."""
    from kgagent.pipeline.settings import RetrievalWeights

    return RetrievalWeights(
        relation=rc.relation_weight,
        linked=rc.link_weight,
        dense_k=rc.dense_k,
        max_hops=rc.max_hops,
        topic_answers=rc.topic_answers,
    )


def reader_settings(config: AgentConfig) -> dict[str, Any]:
    """The reader's settings (``Reader(llm, **settings)``); a team takes its lead's."""
    return {
        "min_confidence": config.llm.min_confidence,
        "prior_weight": config.llm.prior_weight,
        "policy_weight": config.policy.prior_weight,
        "decisive": config.policy.decisive,
        "same_hops": config.llm.same_hops,
    }


def reads_with_llm(config: AgentConfig, adapter_dir: Path | None, *, given: bool = False) -> bool:
    """Whether the LLM reads questions: as training chose where it did
    (:data:`~kgagent.agents.training.READER_FILE` beside the adapter); else one the caller
    set itself (``given``), or the configured one, but not the shipped base model alone
    (``llm.base_model_reads``: measured, it lowers Hits@1)."""
    from kgagent.agents.training import reader_calibration

    return _reads(config, adapter_dir, reader_calibration(adapter_dir), given)


def _reads(config: AgentConfig, adapter_dir: Path | None, chosen: dict, given: bool) -> bool:
    from kgagent.llm.models import DEFAULT_LLM

    if chosen:
        return bool(chosen.get("use_llm", True))
    cfg = config.llm
    if given:
        return True
    if cfg.backend == "none":
        return False
    shipped_base = (adapter_dir is None and cfg.backend == "transformers"
                    and cfg.model.lower() == DEFAULT_LLM)  # fmt: skip
    return cfg.base_model_reads or not shipped_base


def build_reader(config: AgentConfig, adapter_dir: Path | None, llm, *, given: bool = False):
    """The chain reader as training chose it (:data:`~kgagent.agents.training.READER_FILE`
    beside the adapter: its weight against retrieval, or no LLM at all; see
    :func:`reads_with_llm`); ``llm()`` gives the LLM, called only where one is used.
    ``given``: the caller set that LLM itself."""
    from kgagent.agents.training import reader_calibration
    from kgagent.llm.reader import Reader

    settings = reader_settings(config)
    chosen = reader_calibration(adapter_dir)  # read once per reader
    if chosen.get("weight") is not None:
        settings.update(prior_weight=chosen["weight"], policy_weight=chosen["weight"])
    use = _reads(config, adapter_dir, chosen, given)
    return Reader(llm() if use else None, **settings)


def policy_proposer(reasoner, config: AgentConfig, *, linked: float | None = None):
    """The pipeline's proposer for a trained path policy (None for no policy)."""
    from kgagent.pipeline.proposers import PolicyProposer

    if reasoner is None:
        return None
    pc = config.policy
    return PolicyProposer(
        reasoner,
        beam=pc.beam,
        options=pc.options,
        min_share=pc.min_share,
        linked=config.retrieval.link_weight if linked is None else linked,
    )


def build_pipeline(*, linker, encoder, graph, relevance_texts, relevance_vectors, weights,
                   policy=None, spread=None):  # fmt: skip
    """The question pipeline over a graph view, from its parts and the weights; ``spread``:
    ``(relation, inverse) -> things per value`` in the graph, for the ranker."""
    from kgagent.pipeline import CandidateBuilder, ChainPlanner, QuestionPipeline
    from kgagent.pipeline.kinds import AnswerKinds
    from kgagent.pipeline.ranker import ChainRanker
    from kgagent.pipeline.relevance import RelationRelevance

    w = weights
    ranker = (
        ChainRanker(
            encoder,
            relevance_texts,
            relevance_vectors,
            lexical=w.lexical,
            hop_cost=w.hop_cost,
            chain_weight=w.chain_weight,
            shared_weight=w.shared_weight,
            kinds=AnswerKinds(graph),
            type_weight=w.type_weight,
            spread=spread,
            kind_weight=w.kind_weight,
            order_penalty=w.order_penalty,
            retrieval_weight=w.ranker_retrieval,
            # the link keeps the weight retrieval gives it (``linked``) in full
            link_weight=w.linked * (1.0 - w.ranker_retrieval),
        )
        if w.zero_shot
        else None
    )
    return QuestionPipeline(
        linker=linker,
        encoder=encoder,
        graph=graph,
        relevance=RelationRelevance(relevance_texts, relevance_vectors, lexical=w.lexical),
        planner=ChainPlanner(
            graph,
            max_hops=w.max_hops,
            beam=w.relation_beam,
            plan_nodes=w.plan_nodes,
            linked=w.linked,
        ),
        candidates=CandidateBuilder(
            graph,
            max_answers=w.max_answers,
            walks_per_answer=w.walks_per_answer,
            topic_answers=w.topic_answers,
            max_candidates=w.max_candidates,
            others_with_policy=w.others_with_policy,
        ),
        policy=policy,
        ranker=ranker,
        link_min=w.link_min,
        max_anchors=w.max_anchors,
    )


def build_retriever(index, kg, encoder, config: AgentConfig):
    """One graph's :class:`~kgagent.pipeline.Retriever` over a retrieval index (no policy:
    install one with ``retriever.with_policy``)."""
    import numpy as np

    from kgagent.errors import IndexMismatchError
    from kgagent.pipeline import GraphLinker, LocalGraph, Retriever
    from kgagent.pipeline.graph import relation_spread

    w = retrieval_weights(config.retrieval)
    rel_terms = [r[0] for r in index.relations]
    vocab = kg.vocab
    if rel_terms != vocab.relations.terms:
        raise IndexMismatchError("the index's relations differ from the graph's; run agent.index()")
    texts = [r[1] for r in index.relations] + [r[2] for r in index.relations]  # (2R,)
    graph = LocalGraph(
        facts=index.facts,
        adjacency=kg.adjacency(),
        entity_terms=vocab.entities.terms,
        relation_terms=rel_terms,
        relation_texts=texts,
        label=kg.ontology.label,
        linked=w.linked,
        neighbourhood_cap=w.neighbourhood_cap,
    )
    pipeline = build_pipeline(
        linker=GraphLinker(index.linker, graph),
        encoder=encoder,
        graph=graph,
        relevance_texts=texts,
        relevance_vectors=np.asarray(encoder.encode(texts), dtype=np.float32),  # (2R, d)
        weights=w,
        spread=lambda rel, inverse: relation_spread([graph.adj], rel_terms, rel, inverse),
    )
    return Retriever(pipeline=pipeline, index=index.vectors, weights=w)


def build_llm(cfg, adapter: Path | None):
    """The LLM of an ``LLMConfig`` (False for backend none: read without an LLM)."""
    import os

    from kgagent.llm import get_llm

    if cfg.backend == "none":
        return False
    if cfg.backend == "openai":
        if not cfg.base_url:
            raise KGAgentError("llm.base_url is required for the openai backend")
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        return get_llm(
            "openai", base_url=cfg.base_url, model=cfg.model, api_key=key, timeout=cfg.timeout
        )
    return get_llm(
        "transformers",
        model=cfg.model,
        adapter=adapter,
        precision=cfg.precision,
        quantize=cfg.quantize,
        batch_size=cfg.batch_size,
    )


def build_program_reader(retriever, encoder):
    """The :class:`~kgagent.programs.reader.ProgramReader` over a retriever's graph: typed
    questions proposed from its evidence and executed on its arrays."""
    from kgagent.programs.graph import LocalProgramGraph
    from kgagent.programs.propose import ProgramProposer
    from kgagent.programs.reader import ProgramReader

    graph = LocalProgramGraph(retriever.graph)
    proposer = ProgramProposer(
        graph,
        encoder,
        retriever.relation_terms,
        retriever.relation_texts,
        retriever.relation_vectors,
    )
    return ProgramReader(proposer, graph)


def saved_policy(ws, config: AgentConfig, retriever):
    """The policy ``config`` names, if workspace ``ws`` has it, checked against the graph
    (``retriever``'s adjacency and relations) and kept only where training found it
    better than the zero-shot ranker; None otherwise, with the reason logged."""
    from kgagent.agents.training import policy_in_use
    from kgagent.errors import PolicyError
    from kgagent.policy import load_reasoner

    name = config.policy.name
    if not name or ws is None:
        return None
    directory = ws.policy_dir(name)
    if not (directory / "config.json").exists():
        return None
    if not policy_in_use(directory):
        log.info("%s: weaker than the zero-shot ranker on validation; not used", directory)
        return None
    try:
        reasoner = load_reasoner(directory, retriever.adj, retriever.relation_terms)
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
