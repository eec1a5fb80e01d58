"""The path of a question: link -> relevance -> propose -> candidates (-> read -> answer).

One flat pipeline (:class:`QuestionPipeline`) of small components with plain constructor
arguments, run by an agent over its graph (:class:`LocalGraph`) and by a team over its
federation; see docs/architecture.md.
"""

from __future__ import annotations

from kgagent.pipeline.candidates import CandidateBuilder
from kgagent.pipeline.graph import GraphView, LocalGraph, is_schema
from kgagent.pipeline.pipeline import Linker, Mention, QuestionPipeline, mask_mention
from kgagent.pipeline.proposers import Anchor, ChainPlanner, PolicyProposer, Proposal, Proposer
from kgagent.pipeline.relevance import RelationRelevance
from kgagent.pipeline.retriever import GraphLinker, Retriever
from kgagent.pipeline.settings import HOP_PENALTY, RetrievalWeights

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
