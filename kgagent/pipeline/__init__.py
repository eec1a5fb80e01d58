"""The path of a question: link -> relevance -> propose -> candidates (-> read -> answer).

One flat pipeline (:class:`QuestionPipeline`) of small components with plain constructor
arguments, run by an agent over its graph (:class:`LocalGraph`) and by a team over its
federation; see docs/architecture.md. Names load lazily: the configuration imports
:mod:`kgagent.pipeline.settings` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgagent._lazy import lazy_attributes

__all__ = [
    "HOP_PENALTY",
    "Anchor",
    "CandidateBuilder",
    "ChainPlanner",
    "GraphLinker",
    "GraphView",
    "Linker",
    "LocalGraph",
    "Mention",
    "PolicyProposer",
    "Proposal",
    "Proposer",
    "QuestionPipeline",
    "RelationRelevance",
    "RetrievalWeights",
    "Retriever",
    "is_schema",
    "mask_mention",
]

_LAZY = {
    "HOP_PENALTY": "settings",
    "RetrievalWeights": "settings",
    "CandidateBuilder": "candidates",
    "GraphView": "graph",
    "LocalGraph": "graph",
    "is_schema": "graph",
    "Linker": "pipeline",
    "Mention": "pipeline",
    "QuestionPipeline": "pipeline",
    "mask_mention": "pipeline",
    "Anchor": "proposers",
    "ChainPlanner": "proposers",
    "PolicyProposer": "proposers",
    "Proposal": "proposers",
    "Proposer": "proposers",
    "RelationRelevance": "relevance",
    "GraphLinker": "retriever",
    "Retriever": "retriever",
}

if TYPE_CHECKING:
    from kgagent.pipeline.candidates import CandidateBuilder
    from kgagent.pipeline.graph import GraphView, LocalGraph, is_schema
    from kgagent.pipeline.pipeline import Linker, Mention, QuestionPipeline, mask_mention
    from kgagent.pipeline.proposers import Anchor, ChainPlanner, PolicyProposer, Proposal, Proposer
    from kgagent.pipeline.relevance import RelationRelevance
    from kgagent.pipeline.retriever import GraphLinker, Retriever
    from kgagent.pipeline.settings import HOP_PENALTY, RetrievalWeights


__getattr__ = lazy_attributes(__name__, {k: f"kgagent.pipeline.{v}" for k, v in _LAZY.items()})
