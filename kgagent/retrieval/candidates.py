"""Answer candidates: the entity sets that relation chains from a topic entity reach.

One candidate per (topic, relation chain): every relation around the topic entity (one
hop, from its facts, literals included) and the multi-hop chains the retriever plans,
executed on the CSR adjacency. The reader then only has to pick a chain; the graph
supplies complete answer sets ("which films did X direct" has many answers) and the
facts that support each answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from kgagent.retrieval.subgraph import Hop, relation_paths
from kgagent.types import Candidate, Fact, fact_id

if TYPE_CHECKING:
    from kgagent.policy import BeamPath
    from kgagent.retrieval.retriever import Retriever

__all__ = ["HOP_PENALTY", "SCHEMA_NAMESPACES", "build_candidates", "is_schema"]

HOP_PENALTY = 0.1
OTHERS_WITH_POLICY = 1


def build_candidates(
    r: Retriever,
    entities: Sequence,
    rel_score: np.ndarray,
    *,
    policy_paths: tuple[int, Sequence[BeamPath]] | None = None,
    max_answers: int = 100,
    max_candidates: int = 12,
    max_anchors: int = 2,
) -> list[Candidate]:
    """Candidates for a question, best first (relation relevance + linking score).

    ``policy_paths``: (topic node, the path policy's beam) — the policy's walks come
    first, in its order, carrying its log-probability as ``prior``; retrieval's own
    candidates follow (the policy never proposes literal-valued relations).
    """
    proposed = _from_policy(r, policy_paths, rel_score, max_answers) if policy_paths else []
    w = r.w
    anchors: list[tuple[int, float]] = []
    seen_spans: set[tuple[int, int]] = set()
    for e in entities:
        node = r.entity_id.get(f"<{e.iri}>")
        span = (e.start, e.end) if e.start >= 0 else (-1, len(anchors))
        if e.score < w.link_min or node is None or span in seen_spans:
            continue
        seen_spans.add(span)
        anchors.append((node, float(e.score)))
        if len(anchors) >= max_anchors:
            break
    out: list[Candidate] = []
    for node, link in anchors:
        out += _one_hop(r, node, link, rel_score, max_answers)
        for plan_score, plan in r._plan(rel_score, node):
            if len(plan) >= 2 and not any(_schema(r, x) for x in plan):
                # each extra hop must earn its place: a chain whose mean relevance merely
                # equals its first hop's ("directed by -> directed") ranks below that hop
                score = w.linked * link + plan_score - HOP_PENALTY * (len(plan) - 1)
                c = _chain(r, node, plan, score, max_answers)
                if c is not None:
                    out.append(c)
    out.sort(key=lambda c: -c.score)
    best: dict[tuple, Candidate] = {}
    for c in [*proposed, *out]:
        best.setdefault((c.topic, c.relations, c.inverse), c)
    # beside the policy's walks, retrieval's best candidate (a literal-valued relation,
    # or a path the policy missed) stays in the running; without a policy, all of them
    keep = len(proposed) + OTHERS_WITH_POLICY if proposed else max_candidates
    return list(best.values())[:keep]


def _from_policy(
    r: Retriever, policy_paths: tuple[int, Sequence[BeamPath]], rel_score: np.ndarray, cap: int
) -> list[Candidate]:
    node, paths = policy_paths
    out = []
    for p in paths:
        relevance = float(np.mean(rel_score[list(p.actions)]))
        c = _chain(
            r, node, p.actions, r.w.linked + relevance - HOP_PENALTY * (len(p.actions) - 1), cap
        )
        if c is not None:
            out.append(dataclasses.replace(c, prior=p.logp))
    return out


def _one_hop(
    r: Retriever, node: int, link: float, rel_score: np.ndarray, cap: int
) -> list[Candidate]:
    """Every relation (each direction) of the topic's facts, literals included."""
    term = r.entity_terms[node]
    rows = r.facts.rows_touching(term)[: r.w.neighbourhood_cap]
    if len(rows) == 0:
        return []
    subj = r.facts.column("s")[rows]
    pred = r.facts.column("p")[rows]
    inverse = subj != term
    R = len(r.relation_terms)
    groups: dict[tuple[str, bool], list[int]] = {}
    for row, p, inv in zip(rows.tolist(), pred.tolist(), inverse.tolist(), strict=True):
        groups.setdefault((p, inv), []).append(row)
    topic_label = r.label(_iri(term))
    out = []
    for (p, inv), members in groups.items():
        rid = r.relation_index.get(p)
        if rid is None:
            continue
        relevance = float(rel_score[rid + R if inv else rid])
        facts = [r.facts.fact(row, labels=r.label) for row in members[:cap]]
        answers = tuple(
            ((f.subject, f.subject_label) if inv else (f.object, f.object_label)) for f in facts
        )
        out.append(
            Candidate(
                topic=_iri(term),
                topic_label=topic_label,
                relations=(_iri(p),),
                inverse=(bool(inv),),
                relation_labels=(r.relation_texts[rid + R if inv else rid],),
                answers=answers,
                total=len(members),
                support=tuple((f,) for f in facts),
                score=r.w.linked * link + relevance,
            )
        )
    return out


def _chain(
    r: Retriever, node: int, plan: tuple[int, ...], score: float, cap: int
) -> Candidate | None:
    """Executes a relation chain; one supporting walk per distinct answer."""
    back = r.w.topic_answers
    walks = relation_paths(r.adj, node, plan, max_results=cap * 20, return_to_source=back)
    first: dict[int, list[Hop]] = {}
    for walk in walks:
        tail = walk[-1].tail
        if tail != node or back:
            first.setdefault(tail, walk)
    if not first:
        return None
    R = r.adj.num_base_relations
    chosen = list(first.items())[:cap]
    answers, support = [], []
    for tail, walk in chosen:
        t_term = r.entity_terms[tail]
        answers.append((_iri(t_term), r.label(_iri(t_term))))
        support.append(_walk_facts(r, walk, R))
    term = r.entity_terms[node]
    return Candidate(
        topic=_iri(term),
        topic_label=r.label(_iri(term)),
        relations=tuple(_iri(r.relation_terms[x - R if x >= R else x]) for x in plan),
        inverse=tuple(x >= R for x in plan),
        relation_labels=tuple(r.relation_texts[x] for x in plan),
        answers=tuple(answers),
        total=len(first),
        support=tuple(support),
        score=score,
    )


def _walk_facts(r: Retriever, walk: list[Hop], R: int) -> tuple[Fact, ...]:
    out = []
    for h in walk:
        inv = h.relation >= R
        rel = h.relation - R if inv else h.relation
        s, o = (h.tail, h.head) if inv else (h.head, h.tail)
        fid = fact_id(r.entity_terms[s], r.relation_terms[rel], r.entity_terms[o])
        row = r.facts.rows_for_ids(np.array([fid]))[0]
        if row >= 0:
            out.append(r.facts.fact(int(row), labels=r.label))
    return tuple(out)


#: vocabularies that describe the schema rather than the domain (N-Triples IRI prefixes)
SCHEMA_NAMESPACES = (
    "<http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "<http://www.w3.org/2000/01/rdf-schema#",
    "<http://www.w3.org/2002/07/owl#",
)


def is_schema(term: str) -> bool:
    """Whether a predicate term (N-Triples syntax) belongs to RDF, RDFS or OWL."""
    return term.startswith(SCHEMA_NAMESPACES)


def _schema(r: Retriever, relation: int) -> bool:
    """A chain through rdf:type, subclass or OWL axioms leads to classes, not answers."""
    return is_schema(r.relation_terms[relation % len(r.relation_terms)])


def _iri(term: str) -> str:
    return term[1:-1] if term.startswith("<") else term
