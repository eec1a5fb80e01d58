"""The path of a question, as one flat sequence of small steps.

``QuestionPipeline.evidence(questions)`` runs, for a batch of questions:

1. :meth:`_link` — mentions -> entities of the graph view (an agent's linker, or a team's
   members linking in parallel and the router merging their links);
2. :meth:`_anchors` — the topic entities chains start from (up to ``max_anchors``
   distinct mentions linked well enough);
3. :meth:`_encode` — one encoder call for the questions and, for the policy, each
   question with its topic mention masked;
4. :meth:`_relevance` — (2R,) relevance of every relation and direction;
5. :meth:`_scope` — the part of the view each question may use (all of one graph; the
   members a team's router chose);
6. :meth:`_propose` — chains from the path policy and from the planner (one protocol);
7. :meth:`_candidates` — the chains executed on the view, with the one-hop answer sets,
   re-scored by the zero-shot :class:`~kgagent.pipeline.ranker.ChainRanker` and ranked
   as the reader will see them.

The reader (:class:`~kgagent.llm.reader.Reader`) then picks a candidate or abstains.
An agent and a team run this same class; they differ only in the components they pass.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kgagent.pipeline.candidates import CandidateBuilder
from kgagent.pipeline.graph import GraphView
from kgagent.pipeline.proposers import Anchor, ChainPlanner, PolicyProposer
from kgagent.pipeline.ranker import ChainRanker, fits_answer_type
from kgagent.pipeline.relevance import RelationRelevance
from kgagent.text import strip_hints
from kgagent.types import Evidence

__all__ = ["Linker", "Mention", "QuestionPipeline", "mask_mention"]


@dataclass(frozen=True)
class Mention:
    """An entity a question mentions: its node in the view (None: not in it) and the
    linker's candidate (IRI, label, mention span, score)."""

    node: int | None
    entity: Any


class Linker(Protocol):
    """Links a batch of questions to the entities of a graph view."""

    def link(self, questions: Sequence[str]) -> list[list[Mention]]: ...


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class QuestionPipeline:
    """Question -> ranked answer candidates over a graph view.

    Args:
        linker: finds the entities each question mentions.
        encoder: sentence encoder (unit vectors) of questions.
        graph: the :class:`~kgagent.pipeline.graph.GraphView` chains execute on.
        relevance: relation relevance over the view's relations.
        planner: the relation-chain planner.
        candidates: executes chains into ranked candidates.
        policy: the path policy's proposer, if one is trained.
        ranker: the zero-shot chain ranker that re-scores the candidates the policy did
            not propose (None: retrieval's scores rank them).
        link_min: least linking score for a topic entity.
        max_anchors: topic entities (distinct mentions) per question.
        side_text: ``(question, linked entities) -> text | None``: a text a later step
            encodes (the typed programs' masked question), encoded here in the
            question's batch and handed on in ``Evidence.vectors`` (an encoder call is
            most of a question's cost on a CPU).
    """

    def __init__(
        self,
        *,
        linker: Linker,
        encoder: Encoder,
        graph: GraphView,
        relevance: RelationRelevance,
        planner: ChainPlanner,
        candidates: CandidateBuilder,
        policy: PolicyProposer | None = None,
        ranker: ChainRanker | None = None,
        link_min: float,
        max_anchors: int,
        side_text: Callable[[str, tuple], str | None] | None = None,
    ) -> None:
        self.linker = linker
        self.encoder = encoder
        self.graph = graph
        self.relevance = relevance
        self.planner = planner
        self.candidates = candidates
        self.policy = policy
        self.ranker = ranker
        self.link_min = float(link_min)
        self.max_anchors = int(max_anchors)
        self.side_text = side_text

    def with_side_text(self, side_text) -> QuestionPipeline:
        """The same pipeline encoding ``side_text``'s texts with its questions."""
        other = copy.copy(self)
        other.side_text = side_text
        return other

    def with_policy(self, policy: PolicyProposer | None) -> QuestionPipeline:
        """The same pipeline with another path policy (None: without one); this one is
        left as it is, so questions in flight finish with the policy they started with."""
        other = copy.copy(self)
        other.policy = policy
        return other

    def evidence(self, questions: Sequence[str]) -> list[Evidence]:
        """Per question: its linked entities and answer candidates (no fact ranking: the
        reader reads candidates only)."""
        t0 = time.perf_counter()
        qs = [(q or "").strip() for q in questions]
        mentions = self._link(qs)
        t1 = time.perf_counter()
        tops = [self._anchors(m) if q else [] for q, m in zip(qs, mentions, strict=True)]
        entities = [tuple(m.entity for m in found) for found in mentions]
        qvecs, masked, side = self._encode(qs, tops, entities)
        rel_scores = self._relevance(qs, qvecs)
        scopes = [self.graph_scope(m, r) for m, r in zip(mentions, rel_scores, strict=True)]
        anchors = [
            Anchor(i, node, link, masked.get(i) if k == 0 else None, *scopes[i])
            for i, found in enumerate(tops)
            for k, (node, link, _) in enumerate(found)
        ]
        policy, planned = self._propose(anchors, rel_scores)
        built = self.candidates.build(
            len(qs),
            anchors,
            rel_scores,
            policy,
            planned,
            rank=self._ranking(qs, tops),
            fits=lambda i, c: fits_answer_type(qs[i], c),
        )
        t2 = time.perf_counter()
        n = max(1, len(qs))
        timings = {"link_ms": (t1 - t0) * 1000 / n, "total_ms": (t2 - t0) * 1000 / n}
        return [
            Evidence(q, (), (), ents, dict(timings), cands, vectors=side.get(i, {}))
            if q
            else Evidence(question="", facts=(), timings={"total_ms": 0.0})
            for i, (q, ents, cands) in enumerate(zip(qs, entities, built, strict=True))
        ]

    # -- steps ----------------------------------------------------------------------------

    def _link(self, questions: Sequence[str]) -> list[list[Mention]]:
        asked = [i for i, q in enumerate(questions) if q]
        found = self.linker.link([questions[i] for i in asked]) if asked else []
        out: list[list[Mention]] = [[] for _ in questions]
        for i, mentions in zip(asked, found, strict=True):
            out[i] = list(mentions)
        return out

    def _anchors(self, mentions: Sequence[Mention]) -> list[tuple[int, float, Any]]:
        """(node, link score, entity) of the topic entities: one per mention span,
        best first, linked at least ``link_min``."""
        out: list[tuple[int, float, Any]] = []
        spans: set[tuple[int, int]] = set()
        for m in mentions:
            e = m.entity
            span = (e.start, e.end) if e.start >= 0 else (-1, len(out))
            if e.score < self.link_min or m.node is None or span in spans:
                continue
            spans.add(span)
            out.append((int(m.node), float(e.score), e))
            if len(out) >= self.max_anchors:
                break
        return out

    def _encode(self, questions: Sequence[str], tops, entities):
        """(n, d) question vectors; question -> its vector with the topic masked (the
        policy reads "what did NE direct": how relations are asked, not which names);
        and question -> {side text: vector} (``side_text``), all in one encoder call."""
        with_policy = [i for i, t in enumerate(tops) if t and self.policy is not None]
        texts = [strip_hints(q) for q in questions]
        texts += [mask_mention(questions[i], tops[i][0][2].start, tops[i][0][2].end)
                  for i in with_policy]  # fmt: skip
        sides = []
        if self.side_text is not None:
            found = [(i, self.side_text(q, entities[i])) for i, q in enumerate(questions) if q]
            sides = [(i, t) for i, t in found if t]
            texts += [t for _, t in sides]
        vecs = np.asarray(self.encoder.encode(texts), dtype=np.float32)  # (n + p + s, d)
        n, p = len(questions), len(with_policy)
        side = {i: {t: vecs[n + p + k]} for k, (i, t) in enumerate(sides)}
        return vecs[:n], dict(zip(with_policy, vecs[n : n + p], strict=True)), side

    def _relevance(self, questions: Sequence[str], qvecs: np.ndarray) -> list[np.ndarray]:
        return [self.relevance.scores(q, v) for q, v in zip(questions, qvecs, strict=True)]

    def graph_scope(self, mentions: Sequence[Mention], rel_score: np.ndarray) -> tuple[Any, Any]:
        """(scope, allowed actions) of a question: the view decides (a team's router)."""
        return self.graph.scope(mentions, rel_score)

    def _ranking(self, questions: Sequence[str], tops):
        """The candidate builder's re-ranking step: the ranker over these questions."""
        if self.ranker is None:
            return None
        spans = [_topic_span(t) for t in tops]
        return lambda pools: self.ranker.rank(questions, spans, pools)

    def _propose(self, anchors: Sequence[Anchor], rel_scores):
        """Per anchor: the policy's walks (first anchor of each question only), and the
        planner's chains for the questions the policy proposes nothing for. Beside the
        policy's walks the reader weighs one other candidate only, so planned chains
        would rarely be read (the same Hits@1 on 900 MetaQA questions without them, at
        two thirds of the latency): the planner is the fallback proposer."""
        policy: list[list] = [[] for _ in anchors]
        if self.policy is not None:
            firsts = [k for k, a in enumerate(anchors) if a.vector is not None]
            walks = self.policy.propose([anchors[k] for k in firsts], rel_scores)
            for k, found in zip(firsts, walks, strict=True):
                policy[k] = found
        walked = {anchors[k].question for k, found in enumerate(policy) if found}
        rest = [k for k, a in enumerate(anchors) if a.question not in walked]
        planned: list[list] = [[] for _ in anchors]
        for k, found in zip(rest, self.planner.propose([anchors[k] for k in rest], rel_scores),
                            strict=True):  # fmt: skip
            planned[k] = found
        return policy, planned


def _topic_span(found) -> tuple[int, int] | None:
    e = found[0][2] if found else None
    return (e.start, e.end) if e is not None and e.start >= 0 else None


def mask_mention(question: str, start: int, end: int) -> str:
    """The question with the mention at [start, end) replaced by "NE", hints unbracketed."""
    if 0 <= start < end <= len(question):
        question = f"{question[:start]}NE{question[end:]}"
    return strip_hints(question)
