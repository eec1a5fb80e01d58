"""Question -> Evidence: linked entities, ranked facts, and relation paths.

Three signals are mixed, each cheap at question time:

* dense similarity between the question and each fact's sentence (MiniLM + faiss);
* graph distance: facts touching a linked topic entity get its linking score as a bonus
  (the most common cause of empty answers in peers is a linking miss, so a weak link
  only adds, it never filters);
* relation relevance: the question's similarity to each relation's phrasing, which also
  plans multi-hop relation paths that the graph then executes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kgagent.kg.adjacency import Adjacency
from kgagent.retrieval.candidates import build_candidates
from kgagent.retrieval.facts import FactTable
from kgagent.retrieval.subgraph import Hop, paths_between, relation_paths
from kgagent.types import Evidence, Fact, Path, fact_id

__all__ = ["RetrievalWeights", "Retriever"]


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
    relation_beam: int = 4  # relation paths executed per topic entity
    max_paths: int = 30
    topic_answers: bool = False  # a chain may end on its own topic entity (PathQuestion)


class Retriever:
    """Retrieves evidence for questions from a prepared index (see ``Agent.index``)."""

    def __init__(
        self,
        *,
        facts: FactTable,
        index,
        encoder,
        linker,
        adjacency: Adjacency,
        entity_terms: Sequence[str],
        relation_terms: Sequence[str],
        label: Callable[[str], str],
        relation_phrases: Sequence[tuple[str, str]],
        weights: RetrievalWeights | None = None,
    ) -> None:
        self.facts = facts
        self.index = index
        self.encoder = encoder
        self.linker = linker
        self.adj = (
            adjacency
            if adjacency.num_relations != adjacency.num_base_relations
            else adjacency.with_inverse()
        )
        self.entity_terms = list(entity_terms)
        self.entity_id = {t: i for i, t in enumerate(self.entity_terms)}
        self.relation_terms = list(relation_terms)
        self.label = label
        self.w = weights or RetrievalWeights()
        #: a trained :class:`~kgagent.policy.PathReasoner` proposing multi-hop walks
        self.policy = None
        self.policy_beam, self.policy_options, self.policy_min_share = 8, 4, 0.01
        self._lock = threading.Lock()
        # relation id (forward r, inverse r + R) -> unit vector of its phrasing
        phrases = [fwd for fwd, _ in relation_phrases] + [inv for _, inv in relation_phrases]
        #: relation id (forward r, inverse r + R) -> how it reads in that direction
        self.relation_texts = phrases
        self.relation_vectors = np.asarray(encoder.encode(phrases), dtype=np.float32)  # (2R, d)
        self.relation_index = {t: i for i, t in enumerate(self.relation_terms)}
        self.relation_stems = [
            {_stem(t) for t in _WORD.findall(ph.lower())} - _STOP_STEMS for ph in phrases
        ]

    # -- public -------------------------------------------------------------------------

    def retrieve(self, question: str, *, k: int = 10, candidates: bool = False) -> Evidence:
        """Ranked facts (top ``k``), paths, linked entities and answer candidates."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        question = (question or "").strip()
        if not question:
            return Evidence(question="", facts=(), timings={"total_ms": 0.0})
        entities = list(self.linker.link(question, top_k=5))
        t1 = time.perf_counter()
        timings["link_ms"] = (t1 - t0) * 1000
        # the policy reads the question with its topic masked: one encoder call for both
        anchor = self._policy_anchor(question, entities) if candidates else None
        texts = [_strip_hints(question), *([anchor[1]] if anchor else [])]
        vecs = np.asarray(self.encoder.encode(texts), dtype=np.float32)  # (1 or 2, d)
        qvec = vecs[0]
        t2 = time.perf_counter()
        timings["encode_ms"] = (t2 - t1) * 1000
        rel_score = self.relation_scores(question, qvec)  # (2R,)
        facts = self._rank_facts(qvec, entities, k, rel_score)
        t3 = time.perf_counter()
        timings["facts_ms"] = (t3 - t2) * 1000
        paths = self._paths(qvec, entities, rel_score)
        t4 = time.perf_counter()
        timings["paths_ms"] = (t4 - t3) * 1000
        if candidates:
            walks = self._walks(anchor[0], vecs[1]) if anchor else None
            candidates = build_candidates(self, entities, rel_score, policy_paths=walks)
        else:
            candidates = []
        timings["candidates_ms"] = (time.perf_counter() - t4) * 1000
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        return Evidence(
            question, tuple(facts), tuple(paths), tuple(entities), timings, tuple(candidates)
        )

    def _policy_anchor(self, question: str, entities) -> tuple[int, str] | None:
        """(start node, question with that mention masked) for the policy, if any.

        The policy reads "what did NE direct": it learns how relations are asked about,
        not which names go with which relations.
        """
        if self.policy is None:
            return None
        for e in entities:
            node = self.entity_id.get(f"<{e.iri}>")
            if e.score >= self.w.link_min and node is not None:
                return node, mask_mention(question, e.start, e.end)
        return None

    def _walks(self, node: int, vec: np.ndarray) -> tuple[int, list]:
        from kgagent.policy import Query

        query = Query(node, vec, np.empty(0, dtype=np.int64))
        paths = self.policy.beam_search([query], beam=self.policy_beam)[0]
        return node, _likely(paths, self.policy_options, self.policy_min_share)

    # -- facts --------------------------------------------------------------------------

    def relation_scores(self, question: str, qvec: np.ndarray) -> np.ndarray:
        """(2R,) relevance of each relation (and its inverse) to the question.

        Dense similarity of the relation's phrasing, plus word overlap after stemming:
        small encoders miss that "director" asks for "directed by".
        """
        stems = {_stem(t) for t in _WORD.findall(question.lower())} - _STOP_STEMS
        lexical = np.array(
            [len(stems & rs) / len(rs) if rs else 0.0 for rs in self.relation_stems],
            dtype=np.float32,
        )
        return self.relation_vectors @ qvec + self.w.lexical * lexical  # (2R,)

    def _rank_facts(self, qvec: np.ndarray, entities, k: int, rel_score: np.ndarray) -> list[Fact]:
        w = self.w
        rows: list[np.ndarray] = []
        bonus: dict[int, float] = {}
        for e in entities:
            if e.score < w.link_min:
                continue
            touching = self.facts.rows_touching(f"<{e.iri}>")[: w.neighbourhood_cap]
            rows.append(touching)
            for r in touching.tolist():
                bonus[r] = max(bonus.get(r, 0.0), e.score)
        confident = any(e.score >= w.confident_link for e in entities)
        if w.dense_always or not confident:
            # global dense search: the safety net when linking is weak or finds little
            _, ids = self.index.search(qvec[None, :], w.dense_k)
            dense_rows = self.facts.rows_for_ids(ids[0][ids[0] >= 0])
            rows.append(dense_rows[dense_rows >= 0])
        cand = np.unique(np.concatenate(rows)) if rows else np.empty(0, dtype=np.int64)
        if len(cand) == 0:
            return []
        vecs = self.index.vectors(self.facts.ids[cand])  # (c, d)
        sim = vecs @ qvec  # (c,)
        rel_ids = np.array([self.relation_index.get(p, -1) for p in self.facts.column("p")[cand]])
        rel_sim = np.where(rel_ids >= 0, rel_score[np.maximum(rel_ids, 0)], 0.0)
        link = np.array([bonus.get(int(r), 0.0) for r in cand], dtype=np.float32)
        total = w.dense * sim + w.relation * rel_sim + w.linked * link  # (c,)
        order = _diverse(np.argsort(-total, kind="stable"), rel_ids, k, w.per_relation)
        return [
            self.facts.fact(int(cand[i]), labels=self.label, score=float(total[i])) for i in order
        ]

    # -- paths --------------------------------------------------------------------------

    def _paths(self, qvec: np.ndarray, entities, rel_score: np.ndarray) -> list[Path]:
        w = self.w
        # one anchor per mention: alternatives for the same words are not separate topics
        by_span: dict[tuple[int, int], int] = {}
        for e in entities:
            node = self.entity_id.get(f"<{e.iri}>")
            if e.score >= w.link_min and node is not None:
                by_span.setdefault((e.start, e.end) if e.start >= 0 else (-1, id(e)), node)
        anchors = list(dict.fromkeys(by_span.values()))
        if not anchors:
            return []
        walks: list[tuple[float, list[Hop]]] = []
        if len(anchors) >= 2:
            for hops in paths_between(self.adj, anchors[0], anchors[1:], max_len=w.max_hops):
                walks.append((float(np.mean([rel_score[h.relation] for h in hops])), hops))
        for src in anchors[:2]:
            for plan_score, plan in self._plan(rel_score, src):
                for hops in relation_paths(self.adj, src, plan, max_results=w.max_paths,
                                           return_to_source=w.topic_answers):  # fmt: skip
                    walks.append((plan_score, hops))
        walks.sort(key=lambda x: -x[0])
        seen: set[tuple[int, ...]] = set()
        out: list[Path] = []
        for score, hops in walks:
            key = tuple(h.tail for h in hops) + tuple(h.relation for h in hops)
            if key in seen:
                continue
            seen.add(key)
            out.append(self._to_path(hops, score))
            if len(out) >= w.max_paths:
                break
        return out

    def _plan(self, rel_score: np.ndarray, source: int) -> list[tuple[float, tuple[int, ...]]]:
        """Relation sequences present around ``source``, best first (relation beam)."""
        w = self.w
        plans: list[tuple[float, tuple[int, ...]]] = []
        frontier: dict[tuple[int, ...], np.ndarray] = {(): np.array([source], dtype=np.int64)}
        for _depth in range(w.max_hops):
            nxt: dict[tuple[int, ...], np.ndarray] = {}
            for seq, nodes in frontier.items():
                if len(nodes) > w.plan_nodes:
                    nodes = nodes[np.linspace(0, len(nodes) - 1, w.plan_nodes).astype(np.int64)]
                rels, tails = self.adj.out_edges(nodes)
                if len(rels) == 0:
                    continue
                keep = tails != source  # going back and forth is fine, returning is not
                rels, tails = rels[keep], tails[keep]
                for r in np.unique(rels).tolist():
                    nxt[(*seq, r)] = np.unique(tails[rels == r])
            scored = sorted(
                ((float(np.mean(rel_score[list(seq)])), seq) for seq in nxt), reverse=True
            )[: w.relation_beam * 4]
            plans.extend(scored)
            frontier = {seq: nxt[seq] for _, seq in scored}
        plans.sort(reverse=True)
        return plans[: w.relation_beam]

    def _to_path(self, hops: list[Hop], score: float) -> Path:
        R = self.adj.num_base_relations
        facts, inverse, ents = [], [], [self.entity_terms[hops[0].head]]
        parts = [self.label(_iri(ents[0]))]
        for h in hops:
            inv = h.relation >= R
            r = h.relation - R if inv else h.relation
            s, o = (h.tail, h.head) if inv else (h.head, h.tail)
            s_t, p_t, o_t = self.entity_terms[s], self.relation_terms[r], self.entity_terms[o]
            row = self.facts.rows_for_ids(np.array([fact_id(s_t, p_t, o_t)]))[0]
            if row >= 0:
                facts.append(self.facts.fact(int(row), labels=self.label))
            inverse.append(inv)
            ents.append(self.entity_terms[h.tail])
            rel_label = self.label(_iri(p_t))
            arrow = f" <-{rel_label}- " if inv else f" -{rel_label}-> "
            parts.append(arrow + self.label(_iri(ents[-1])))
        return Path(
            entities=tuple(_iri(e) for e in ents),
            facts=tuple(facts),
            inverse=tuple(inverse),
            text="".join(parts),
            score=score,
        )


_WORD = re.compile(r"[a-z0-9]+")
_IRREGULAR_STEMS = {"written": "writ", "wrote": "writ", "starring": "star", "starred": "star"}
_STOP_STEMS = {
    "the", "a", "an", "of", "by", "in", "is", "was", "has", "have", "to", "for", "on", "who",
    "what", "which", "did", "do", "does", "that", "and", "with", "are", "were", "be", "it",
}  # fmt: skip


def _stem(word: str) -> str:
    """A deliberately tiny stemmer: director/directed/directing -> direct."""
    if word in _IRREGULAR_STEMS:
        return _IRREGULAR_STEMS[word]
    for suffix in ("ings", "ing", "ers", "ors", "ion", "er", "or", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


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


def _iri(term: str) -> str:
    return term[1:-1] if term.startswith("<") else term


def mask_mention(question: str, start: int, end: int) -> str:
    """The question with the mention at [start, end) replaced by "NE", hints unbracketed."""
    if 0 <= start < end <= len(question):
        question = f"{question[:start]}NE{question[end:]}"
    return _strip_hints(question)


def _likely(paths: list, options: int, min_share: float) -> list:
    """The policy's best paths, as long as each keeps at least ``min_share`` of the mass."""
    if not paths:
        return []
    logp = np.array([p.logp for p in paths])
    share = np.exp(logp - logp.max())
    share /= share.sum()
    return [p for p, s in zip(paths, share.tolist(), strict=True) if s >= min_share][:options]


def _strip_hints(question: str) -> str:
    return question.replace("[", "").replace("]", "")
