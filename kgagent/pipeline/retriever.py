"""One graph's retriever: the question pipeline plus the ranked facts and paths a user
sees from ``Agent.retrieve``.

``ask`` needs the answer candidates only (:meth:`Retriever.evidence`); ``retrieve``
also ranks verbalized facts and executes relation paths, mixing three signals, each cheap
at question time:

* dense similarity between the question and each fact's sentence (encoder + faiss);
* graph distance: facts touching a linked topic entity get its linking score as a bonus
  (the most common cause of empty answers in peers is a linking miss, so a weak link
  only adds, it never filters);
* relation relevance, which also plans the multi-hop relation paths the graph executes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from kgagent.kg.terms import iri_of
from kgagent.pipeline.graph import LocalGraph
from kgagent.pipeline.pipeline import Mention, QuestionPipeline
from kgagent.pipeline.proposers import PolicyProposer
from kgagent.pipeline.settings import RetrievalWeights
from kgagent.retrieval.subgraph import Hop, paths_between, relation_paths
from kgagent.text import strip_hints
from kgagent.types import Evidence, Fact, GraphPath

__all__ = ["GraphLinker", "Retriever"]


class GraphLinker:
    """The :class:`~kgagent.pipeline.pipeline.Linker` of one graph: an entity linker's
    candidates, each with its node in the graph (None for one the graph does not hold)."""

    def __init__(self, linker, graph: LocalGraph, *, top_k: int = 5) -> None:
        self.linker = linker
        self.graph = graph
        self.top_k = int(top_k)

    def link(self, questions: Sequence[str]) -> list[list[Mention]]:
        node = self.graph.node
        return [
            [Mention(node(e.iri), e) for e in self.linker.link(q, top_k=self.top_k)]
            for q in questions
        ]


class Retriever:
    """Retrieves evidence for questions from one graph's index (see ``Agent.index``).

    Args:
        pipeline: the question pipeline over this graph (its ``graph`` a LocalGraph).
        index: the fact vectors (:class:`~kgagent.retrieval.index.FactIndex`).
        weights: how fact ranking mixes its signals.
    """

    def __init__(self, *, pipeline: QuestionPipeline, index, weights: RetrievalWeights) -> None:
        self.pipeline = pipeline
        self.graph: LocalGraph = pipeline.graph  # type: ignore[assignment]
        self.index = index
        self.w = weights

    def with_side_text(self, side_text) -> Retriever:
        """The same retriever, its pipeline encoding ``side_text``'s texts with each
        question (see :class:`~kgagent.pipeline.pipeline.QuestionPipeline`)."""
        return Retriever(
            pipeline=self.pipeline.with_side_text(side_text), index=self.index, weights=self.w
        )

    def with_policy(self, policy: PolicyProposer | None) -> Retriever:
        """The same retriever with another path policy (None: without one)."""
        return Retriever(
            pipeline=self.pipeline.with_policy(policy), index=self.index, weights=self.w
        )

    # -- what users and the learning code read --------------------------------------------

    @property
    def policy(self):
        """The trained :class:`~kgagent.policy.PathReasoner` proposing walks, if any."""
        return None if self.pipeline.policy is None else self.pipeline.policy.reasoner

    @property
    def linker(self):
        return self.pipeline.linker.linker

    @property
    def encoder(self):
        return self.pipeline.encoder

    @property
    def facts(self):
        return self.graph.facts

    @property
    def adj(self):
        return self.graph.adj

    @property
    def entity_terms(self) -> list[str]:
        return self.graph.entity_terms

    @property
    def entity_id(self) -> dict[str, int]:
        return self.graph.entity_id

    @property
    def relation_terms(self) -> list[str]:
        return self.graph.relation_terms

    @property
    def relation_index(self) -> dict[str, int]:
        return self.graph.relation_index

    @property
    def relation_texts(self) -> list[str]:
        """(2R,) how each relation reads forward, then inverse."""
        return self.graph.relation_texts

    @property
    def relation_vectors(self) -> np.ndarray:
        """(2R, d) the encoder's vectors of :attr:`relation_texts`."""
        return self.pipeline.relevance.vectors

    def label(self, iri: str) -> str:
        return self.graph.label(iri)

    def relation_scores(self, question: str, qvec: np.ndarray) -> np.ndarray:
        """(2R,) relevance of each relation (and its inverse) to the question."""
        return self.pipeline.relevance.scores(question, qvec)

    # -- questions --------------------------------------------------------------------------

    def evidence(self, questions: Sequence[str]) -> list[Evidence]:
        """Linked entities and answer candidates of each question (what ``ask`` reads)."""
        return self.pipeline.evidence(questions)

    def retrieve(self, question: str, *, k: int = 10, candidates: bool = False) -> Evidence:
        """Ranked facts (top ``k``), paths, linked entities and answer candidates."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        question = (question or "").strip()
        if not question:
            return Evidence(question="", facts=(), timings={"total_ms": 0.0})
        mentions = self.pipeline.linker.link([question])[0]
        entities = [m.entity for m in mentions]
        t1 = time.perf_counter()
        timings["link_ms"] = (t1 - t0) * 1000
        qvec = np.asarray(self.encoder.encode([strip_hints(question)]), dtype=np.float32)[0]
        t2 = time.perf_counter()
        timings["encode_ms"] = (t2 - t1) * 1000
        rel_score = self.relation_scores(question, qvec)  # (2R,)
        facts = self._rank_facts(qvec, entities, k, rel_score)
        t3 = time.perf_counter()
        timings["facts_ms"] = (t3 - t2) * 1000
        paths = self._paths(entities, rel_score)
        t4 = time.perf_counter()
        timings["paths_ms"] = (t4 - t3) * 1000
        read = self.evidence([question])[0] if candidates else None  # what ask reads
        timings["candidates_ms"] = (time.perf_counter() - t4) * 1000
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        return Evidence(question, tuple(facts), tuple(paths), tuple(entities), timings,
                        read.candidates if read is not None else (),
                        vectors=read.vectors if read is not None else {})  # fmt: skip

    # -- facts ------------------------------------------------------------------------------

    def _rank_facts(self, qvec: np.ndarray, entities, k: int, rel_score: np.ndarray) -> list[Fact]:
        w, table = self.w, self.graph.facts
        rows: list[np.ndarray] = []
        bonus: dict[int, float] = {}
        for e in entities:
            if e.score < w.link_min:
                continue
            touching = table.rows_touching(f"<{e.iri}>")[: w.neighbourhood_cap]
            rows.append(touching)
            for r in touching.tolist():
                bonus[r] = max(bonus.get(r, 0.0), e.score)
        confident = any(e.score >= w.confident_link for e in entities)
        if w.dense_always or not confident:
            # global dense search: the safety net when linking is weak or finds little
            _, ids = self.index.search(qvec[None, :], w.dense_k)
            dense_rows = table.rows_for_ids(ids[0][ids[0] >= 0])
            rows.append(dense_rows[dense_rows >= 0])
        cand = np.unique(np.concatenate(rows)) if rows else np.empty(0, dtype=np.int64)
        if len(cand) == 0:
            return []
        vecs = self.index.vectors(table.ids[cand])  # (c, d)
        sim = vecs @ qvec  # (c,)
        index = self.graph.relation_index
        rel_ids = np.array([index.get(p, -1) for p in table.column("p")[cand]])
        rel_sim = np.where(rel_ids >= 0, rel_score[np.maximum(rel_ids, 0)], 0.0)
        link = np.array([bonus.get(int(r), 0.0) for r in cand], dtype=np.float32)
        total = w.dense * sim + w.relation * rel_sim + w.linked * link  # (c,)
        order = _diverse(np.argsort(-total, kind="stable"), rel_ids, k, w.per_relation)
        return [table.fact(int(cand[i]), labels=self.label, score=float(total[i])) for i in order]

    # -- paths ------------------------------------------------------------------------------

    def _paths(self, entities, rel_score: np.ndarray) -> list[GraphPath]:
        w, g = self.w, self.graph
        # one anchor per mention: alternatives for the same words are not separate topics
        by_span: dict[tuple[int, int], int] = {}
        for e in entities:
            node = g.node(e.iri)
            if e.score >= w.link_min and node is not None:
                by_span.setdefault((e.start, e.end) if e.start >= 0 else (-1, id(e)), node)
        anchors = list(dict.fromkeys(by_span.values()))
        if not anchors:
            return []
        walks: list[tuple[float, list[Hop]]] = []
        if len(anchors) >= 2:
            for hops in paths_between(g.adj, anchors[0], anchors[1:], max_len=w.max_hops):
                walks.append((float(np.mean([rel_score[h.relation] for h in hops])), hops))
        for src in anchors[:2]:
            for plan_score, plan in self.pipeline.planner.plan(rel_score, src):
                for hops in relation_paths(g.adj, src, plan, max_results=w.max_paths,
                                           return_to_source=w.topic_answers):  # fmt: skip
                    walks.append((plan_score, hops))
        walks.sort(key=lambda x: -x[0])
        seen: set[tuple[int, ...]] = set()
        out: list[GraphPath] = []
        for score, hops in walks:
            key = tuple(h.tail for h in hops) + tuple(h.relation for h in hops)
            if key in seen:
                continue
            seen.add(key)
            out.append(self._to_path(hops, score))
            if len(out) >= w.max_paths:
                break
        return out

    def _to_path(self, hops: list[Hop], score: float) -> GraphPath:
        g = self.graph
        R = g.num_relations
        facts, inverse, ents = [], [], [g.entity_terms[hops[0].head]]
        parts = [self.label(iri_of(ents[0]))]
        for h in hops:
            inv = h.relation >= R
            f = g.hop_fact(h)
            if f is not None:
                facts.append(f)
            inverse.append(inv)
            ents.append(g.entity_terms[h.tail])
            rel_label = self.label(iri_of(g.relation_terms[h.relation - R if inv else h.relation]))
            arrow = f" <-{rel_label}- " if inv else f" -{rel_label}-> "
            parts.append(arrow + self.label(iri_of(ents[-1])))
        return GraphPath(
            entities=tuple(iri_of(e) for e in ents),
            facts=tuple(facts),
            inverse=tuple(inverse),
            text="".join(parts),
            score=score,
        )


def _diverse(order: np.ndarray, groups: np.ndarray, k: int, share: float) -> list[int]:
    """The first ``k`` of ``order``, letting one group take at most ``share`` of the slots
    while others remain (a relation with many facts must not hide the one asked about)."""
    cap = max(1, int(np.ceil(k * share)))
    ranked = order.tolist()
    taken: list[int] = []
    rest: list[int] = []
    count: dict[int, int] = {}
    for i in ranked:
        g = int(groups[i])
        if count.get(g, 0) < cap:
            count[g] = count.get(g, 0) + 1
            taken.append(i)
            if len(taken) == k:
                return taken
        else:
            rest.append(i)
    chosen = set(taken + rest[: k - len(taken)])
    return [i for i in ranked if i in chosen]  # best first, as ranked
