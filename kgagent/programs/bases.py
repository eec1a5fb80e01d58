"""Base chains: the relation chains from a topic entity that a typed program wraps.

The pipeline's ranked candidates say what a question's noun phrase asks ("the films X
directed"), so they come first, in their order; single relations from the topic follow,
most relevant first, because the pipeline ranked its chains reading every word of the
question, also those that ask for a constraint or an order, and because a second topic
may have no candidate of its own. Each base carries every answer it reaches (a count
needs all of them), and is dropped when that is more than a safety cap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kgagent.programs.mentions import Mention
from kgagent.programs.relations import Paths
from kgagent.programs.types import Chain, ProgramError
from kgagent.programs.walks import walk

__all__ = ["MAX_BASES", "MAX_PIPELINE", "MAX_WALKS", "RANK_STEP", "Base", "BaseChains"]

MAX_BASES = 3  # single relations taken per topic
MAX_PIPELINE = 5  # chains taken from the pipeline per topic
RANK_STEP = 0.3  # what each rank down the topic's chains costs
MAX_WALKS = 200_000  # walks of a base chain (beyond: the chain is not wrapped)
MAX_HOPS = 4  # the longest chain a program holds


@dataclass(frozen=True)
class Base:
    """A chain from a topic that a program wraps.

    Attributes:
        chain: the chain.
        ks: direction index (into ``relation_texts``) of each hop.
        score: the topic's weighted link, less ``RANK_STEP`` per rank, plus the type fit.
        rank: among the topic's chains (the pipeline's first, then single relations).
        answers: (n,) int64 every answer node, sorted.
    """

    chain: Chain
    ks: tuple[int, ...]
    score: float
    rank: int
    answers: np.ndarray


class BaseChains:
    """Finds the base chains of topics on one graph.

    Args:
        graph: a :class:`~kgagent.programs.graph.ProgramGraph`.
        paths: the graph's :class:`~kgagent.programs.relations.Paths`.
        link_weight: weight of the topic's link score in a base's score.
    """

    def __init__(self, graph, paths: Paths, *, link_weight: float) -> None:
        self.graph = graph
        self.paths = paths
        self.link_weight = float(link_weight)
        usable = {k for k, _ in paths.actions}  # no schema relation
        self.index = {hop: k for k, hop in enumerate(paths.hops) if k in usable}

    def of(
        self,
        topic: Mention,
        candidates: Sequence,
        relevance: np.ndarray,
        type_fit: Callable[[np.ndarray], float],
    ) -> list[Base]:
        """The topic's base chains, best first.

        Args:
            topic: the linked topic entity.
            candidates: the pipeline's ranked candidates (``Evidence.candidates``).
            relevance: (2R,) each relation direction against the question.
            type_fit: a bonus for a chain's answers (their class named in the question).
        """
        pipeline: list[tuple[int, ...]] = []
        for c in candidates:
            if c.topic != topic.iri or len(c.relations) > MAX_HOPS:
                continue
            hops = zip(c.relations, c.inverse, strict=True)
            ks = tuple(self.index.get((r, inv), -1) for r, inv in hops)
            if -1 not in ks and ks not in pipeline:
                pipeline.append(ks)
        ks_out, _ = self.paths.neighbours(np.array([topic.node]))
        single = sorted(set(ks_out.tolist()), key=lambda k: -relevance[k])
        out: list[Base] = []
        for group, most in ((pipeline, MAX_PIPELINE), ([(k,) for k in single], MAX_BASES)):
            added = 0
            for ks in group:
                if added == most or any(b.ks == ks for b in out):
                    continue
                chain = self.chain(topic.iri, ks)
                answers = self.answers(topic.node, ks) if chain is not None else ()
                if len(answers):
                    score = self.link_weight * topic.score - RANK_STEP * len(out)
                    out.append(Base(chain, ks, score + type_fit(answers), len(out), answers))
                    added += 1
        return out

    def chain(self, topic: str, ks: Sequence[int]) -> Chain | None:
        """The chain of direction indexes ``ks`` from ``topic`` (None: malformed)."""
        try:
            return Chain(topic, tuple(self.paths.hops[k] for k in ks))
        except ProgramError:
            return None

    def answers(self, node: int, ks: Sequence[int]) -> np.ndarray:
        """(n,) every node the chain reaches from ``node``, sorted (none past the cap)."""
        actions = [self.graph.action(*self.paths.hops[k]) for k in ks]
        if None in actions:
            return np.zeros(0, dtype=np.int64)
        w = walk(self.graph, np.array([node]), actions, max_walks=MAX_WALKS)
        if w.truncated or len(w.paths) == 0:  # too many to wrap (a count would be wrong)
            return np.zeros(0, dtype=np.int64)
        return np.unique(w.ends)
