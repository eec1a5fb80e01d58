"""The question pipeline's settings: every default written once, here.

``AgentConfig.retrieval`` (kgagent.yaml) overrides some of them; the builder
(:mod:`kgagent.agents.builder`) is the only code that reads that configuration and turns
it into a :class:`RetrievalWeights` for the pipeline of an agent or a team.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HOP_PENALTY", "RetrievalWeights"]

#: relevance an extra hop must earn: a chain whose mean relevance merely equals its
#: first hop's ("directed by -> directed") ranks below that hop
HOP_PENALTY = 0.1


@dataclass(frozen=True)
class RetrievalWeights:
    """How the signals are mixed (tuned on MetaQA dev; see bench/retrieval.py)."""

    dense: float = 1.0
    relation: float = 0.6
    linked: float = 0.5
    dense_k: int = 50  # global dense candidates
    neighbourhood_cap: int = 2000  # facts touching one linked entity
    link_min: float = 0.5  # linking score below which an entity is not expanded
    confident_link: float = 0.8  # with a link this good, the neighbourhood is searched alone
    dense_always: bool = False  # also search all facts densely for every question
    plan_nodes: int = 100  # entities per relation sequence considered while planning
    lexical: float = 0.5  # weight of stemmed word overlap in relation relevance
    per_relation: float = 0.5  # share of the k facts one relation may fill before others
    max_hops: int = 3
    relation_beam: int = 24  # relation paths planned and executed per topic entity
    zero_shot: bool = True  # re-rank candidates by the zero-shot chain ranker
    hop_cost: float = 0.6  # what each hop must earn in the ranker's alignment
    chain_weight: float = 1.0  # the ranker's weight of a chain phrasing's similarity
    shared_weight: float = 0.4  # the ranker's credit (or penalty) for a shared relation
    type_weight: float = 0.3  # the ranker's credit (or penalty) for the answers' class
    kind_weight: float = 0.5  # the same for a category where a question asks for a kind
    order_penalty: float = 0.6  # the ranker's charge for hops said out of order
    ranker_retrieval: float = 0.25  # the ranker's weight of retrieval's score of a chain
    max_paths: int = 30
    topic_answers: bool = False  # a chain may end on its own topic entity (PathQuestion)
    max_anchors: int = 2  # topic entities (distinct mentions) candidates start from
    max_candidates: int = 12  # options the reader weighs without a path policy
    others_with_policy: int = 1  # options beside the policy's walks
    max_answers: int = 100  # answers a candidate carries, with their facts
    walks_per_answer: int = 20  # executed walks kept per answer while executing a chain
