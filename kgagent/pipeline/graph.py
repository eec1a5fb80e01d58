"""What the question pipeline needs of a graph, and its implementation over one graph.

:class:`GraphView` is the protocol: the relations around a set of nodes, the walks a
relation chain takes from a topic entity, the facts behind a walk's hops, and the
one-hop answer sets around a topic (literal values included). :class:`LocalGraph`
implements it over one graph's CSR adjacency and fact table; a team's
:class:`~kgagent.team.federation.FederatedGraph` implements it over its members' graphs.
Every step of the pipeline (planner, policy proposer, candidate builder) talks to the
protocol only, so one pipeline serves an agent and a team.

Node and action ids: nodes are entity ids of the view; action ``r`` walks relation
``r`` forward and ``r + R`` walks it backwards (R: ``num_relations``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from rdflib.namespace import OWL, RDF, RDFS

from kgagent.kg.adjacency import Adjacency
from kgagent.kg.terms import iri_of
from kgagent.pipeline.execute import EdgeKeys, Reached, execute_chain
from kgagent.retrieval.facts import FactTable
from kgagent.retrieval.subgraph import Hop
from kgagent.types import Candidate, Fact, fact_id

__all__ = ["SCHEMA_NAMESPACES", "GraphView", "LocalGraph", "is_schema", "relation_spread"]

#: vocabularies that describe the schema rather than the domain (N-Triples IRI prefixes)
SCHEMA_NAMESPACES = tuple(f"<{ns}" for ns in (RDF, RDFS, OWL))


def is_schema(term: str) -> bool:
    """Whether a predicate term (N-Triples syntax) belongs to RDF, RDFS or OWL: a chain
    through rdf:type, subclass or OWL axioms leads to classes, not answers."""
    return term.startswith(SCHEMA_NAMESPACES)


@runtime_checkable
class GraphView(Protocol):
    """What a pipeline step needs of a graph (one graph, or a team's federation).

    ``scope`` narrows a call to part of the view (a team's members that received the
    question); None is the whole view. Walks are lists of opaque hop references that only
    the view that made them reads back (:meth:`walk_facts`).
    """

    num_relations: int  # R: actions are 0..2R-1, r + R the inverse of r
    relation_terms: Sequence[str]  # (R,) N-Triples IRIs
    relation_texts: Sequence[str]  # (2R,) how each action reads

    def node(self, iri: str) -> int | None:
        """The node of an entity IRI, if the view holds it."""

    def entity_term(self, node: int) -> str:
        """The N-Triples term of a node."""

    def entity_label(self, node: int) -> str:
        """The display label of a node."""

    def schema_actions(self) -> np.ndarray:
        """(2R,) bool: actions of RDF / RDFS / OWL relations."""

    def scope(self, mentions: Sequence[Any], rel_score: np.ndarray) -> tuple[Any, Any]:
        """(scope, (2R + 1,) allowed actions or None) of a question, from its mentions
        and relation relevance: (None, None) for one graph; a team's router picks the
        members that receive it."""

    def out_edges(self, nodes: np.ndarray, scope: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(actions, tails) of every edge out of ``nodes`` (both directions)."""

    def execute(
        self,
        topic: int,
        actions: Sequence[int],
        *,
        max_walks: int,
        back: bool,
        keep: int,
        scope: Any = None,
    ) -> Reached:
        """The answers ``actions`` reach from ``topic`` and the first walk to each of the
        first ``keep`` (:func:`~kgagent.pipeline.execute.execute_chain`): a walk never
        revisits an entity and ends on ``topic`` only if ``back``."""

    def walk_facts(self, walks: Sequence[Sequence[Any]]) -> list[tuple[Fact, ...]]:
        """The facts behind each walk's hops (one batch: a team asks each member once)."""

    def one_hop(
        self,
        requests: Sequence[tuple[int, float, np.ndarray]],
        *,
        cap: int,
        scope: Sequence[Any] | None = None,
    ) -> list[list[Candidate]]:
        """Per (topic, link score, (2R,) relevance) and its scope: one candidate per
        relation and direction around the topic, literal values included, scored
        ``linked * link + relevance`` (see :func:`one_hop_candidates`)."""


#: id(first adjacency) -> (a weak reference to it, {(action, parts): spread})
_SPREADS: dict[int, tuple[weakref.ref, dict]] = {}


def relation_spread(adjacencies: Sequence[Any], terms: Sequence[str], relation: str,
                    inverse: bool) -> float:  # fmt: skip
    """Distinct entities a relation leaves from, per distinct entity it reaches, in the
    direction walked (0.0 where the relation is not in the graph): film -genre-> reaches
    a few dozen genres from thousands of films (hundreds: a category), director
    -directed-> films reaches more than it leaves from (under 1). Computed once per
    graph, relation and direction.

    Args:
        adjacencies: the CSR adjacencies (``relations``, ``targets``, inverse edges
            included) of the graph, or of a team's members in team ids.
        terms: (R,) the relations' N-Triples IRIs, as the adjacencies number them.
    """
    key = f"<{relation}>"
    if key not in terms:
        return 0.0
    R = len(terms)
    action = list(terms).index(key) + (R if inverse else 0)
    back = (action + R) % (2 * R)
    first = adjacencies[0]
    held = _SPREADS.get(id(first))
    if held is None or held[0]() is not first:  # a new graph (or one reusing a dead id)
        for k in [k for k, (ref, _) in list(_SPREADS.items()) if ref() is None]:
            _SPREADS.pop(k, None)  # concurrent asks may both clean up
        held = _SPREADS[id(first)] = (weakref.ref(first), {})
    cache = held[1]
    if (action, len(adjacencies)) not in cache:
        rel = np.concatenate([a.relations for a in adjacencies])  # (E,)
        tails = np.concatenate([a.targets for a in adjacencies])  # (E,)
        reached = len(np.unique(tails[rel == action]))
        left = len(np.unique(tails[rel == back]))  # the inverse edges' tails are the heads
        cache[(action, len(adjacencies))] = left / reached if reached else 0.0
    return cache[(action, len(adjacencies))]


class LocalGraph:
    """The :class:`GraphView` of one graph: its CSR adjacency and its fact table.

    Args:
        facts: the verbalized facts (literals included) with their ids.
        adjacency: entity-to-entity edges (the inverse direction is added if missing).
        entity_terms, relation_terms: id -> N-Triples term, as the adjacency numbers them.
        relation_texts: (2R,) how each relation reads forward, then inverse.
        label: IRI -> display label.
        linked: weight of the link score in a one-hop candidate's score.
        neighbourhood_cap: facts of one topic entity considered for its one-hop answers.
    """

    def __init__(
        self,
        *,
        facts: FactTable,
        adjacency: Adjacency,
        entity_terms: Sequence[str],
        relation_terms: Sequence[str],
        relation_texts: Sequence[str],
        label: Callable[[str], str],
        linked: float,
        neighbourhood_cap: int,
    ) -> None:
        self.facts = facts
        self.adj = (
            adjacency
            if adjacency.num_relations != adjacency.num_base_relations
            else adjacency.with_inverse()
        )
        self.entity_terms = list(entity_terms)
        self.entity_id = {t: i for i, t in enumerate(self.entity_terms)}
        self.relation_terms = list(relation_terms)
        self.relation_index = {t: i for i, t in enumerate(self.relation_terms)}
        self.relation_texts = list(relation_texts)
        self.num_relations = len(self.relation_terms)
        self.label = label
        self.linked = float(linked)
        self.neighbourhood_cap = int(neighbourhood_cap)
        R = self.num_relations
        self._schema = np.array([is_schema(self.relation_terms[a % R]) for a in range(2 * R)])
        self._keys = EdgeKeys(self.adj)

    # -- GraphView ------------------------------------------------------------------------

    def node(self, iri: str) -> int | None:
        return self.entity_id.get(f"<{iri}>")

    def entity_term(self, node: int) -> str:
        return self.entity_terms[node]

    def entity_label(self, node: int) -> str:
        return self.label(iri_of(self.entity_terms[node]))

    def schema_actions(self) -> np.ndarray:
        return self._schema

    def scope(self, mentions: Sequence[Any], rel_score: np.ndarray) -> tuple[Any, Any]:
        return None, None

    def out_edges(self, nodes: np.ndarray, scope: Any = None) -> tuple[np.ndarray, np.ndarray]:
        return self.adj.out_edges(nodes)

    def execute(
        self,
        topic: int,
        actions: Sequence[int],
        *,
        max_walks: int,
        back: bool,
        keep: int,
        scope: Any = None,
    ) -> Reached:
        return execute_chain(
            [self._keys], topic, actions, max_walks=max_walks, back=back, keep=keep
        )

    def walk_facts(self, walks: Sequence[Sequence[tuple[int, int]]]) -> list[tuple[Fact, ...]]:
        """Each fact is built once per batch: walks to many answers share their first
        hops (on MetaQA a third of the edges are distinct), and building the text is the
        cost."""
        edges = np.array([e for walk in walks for _, e in walk], dtype=np.int64)  # (n,)
        distinct, where = np.unique(edges, return_inverse=True)  # (u,), (n,)
        heads = self._keys.head_of(distinct)
        hops = [
            Hop(int(h), int(r), int(t))
            for h, r, t in zip(
                heads.tolist(),
                self.adj.relations[distinct].tolist(),
                self.adj.targets[distinct].tolist(),
                strict=True,
            )
        ]
        built = self.hop_facts(hops)
        facts = iter([built[i] for i in where.tolist()])
        out = []
        for walk in walks:
            found = [next(facts) for _ in walk]
            out.append(tuple(f for f in found if f is not None))
        return out

    def one_hop(
        self,
        requests: Sequence[tuple[int, float, np.ndarray]],
        *,
        cap: int,
        scope: Sequence[Any] | None = None,
    ) -> list[list[Candidate]]:
        return [self._one_hop(int(n), float(link), rel, cap) for n, link, rel in requests]

    # -- helpers --------------------------------------------------------------------------

    def hop_fact(self, hop: Hop) -> Fact | None:
        """The fact behind one hop (its triple read in the stored direction)."""
        return self.hop_facts([hop])[0]

    def hop_facts(self, hops: Sequence[Hop]) -> list[Fact | None]:
        """The facts behind hops, looked up in one batch."""
        if not hops:
            return []
        R = self.num_relations
        ids = []
        for hop in hops:
            inv = hop.relation >= R
            rel = hop.relation - R if inv else hop.relation
            s, o = (hop.tail, hop.head) if inv else (hop.head, hop.tail)
            ids.append(
                fact_id(self.entity_terms[s], self.relation_terms[rel], self.entity_terms[o])
            )
        rows = self.facts.rows_for_ids(np.array(ids, dtype=np.int64))
        return [
            self.facts.fact(int(row), labels=self.label) if row >= 0 else None
            for row in rows.tolist()
        ]

    def _one_hop(self, node: int, link: float, rel_score: np.ndarray, cap: int) -> list[Candidate]:
        return one_hop_candidates(
            self.facts,
            self.entity_terms[node],
            link,
            rel_score,
            relation_index=self.relation_index,
            relation_texts=self.relation_texts,
            label=self.label,
            linked=self.linked,
            cap=cap,
            max_rows=self.neighbourhood_cap,
        )


def one_hop_candidates(
    facts: FactTable,
    term: str,
    link: float,
    rel_score: np.ndarray,
    *,
    relation_index: dict[str, int],
    relation_texts: Sequence[str],
    label: Callable[[str], str],
    linked: float,
    cap: int,
    max_rows: int,
) -> list[Candidate]:
    """Every relation (each direction) of a topic's facts, literals included, as one
    candidate each: its answer set (up to ``cap``) and the fact behind every answer."""
    rows = facts.rows_touching(term)[:max_rows]
    if len(rows) == 0:
        return []
    subj = facts.column("s")[rows]
    pred = facts.column("p")[rows]
    inverse = subj != term
    R = len(relation_index)
    groups: dict[tuple[str, bool], list[int]] = {}
    for row, p, inv in zip(rows.tolist(), pred.tolist(), inverse.tolist(), strict=True):
        groups.setdefault((p, inv), []).append(row)
    topic_label = label(iri_of(term))
    out = []
    for (p, inv), members in groups.items():
        rid = relation_index.get(p)
        if rid is None:
            continue
        action = rid + R if inv else rid
        found = [facts.fact(row, labels=label) for row in members[:cap]]
        answers = tuple(
            ((f.subject, f.subject_label) if inv else (f.object, f.object_label)) for f in found
        )
        out.append(
            Candidate(
                topic=iri_of(term),
                topic_label=topic_label,
                relations=(iri_of(p),),
                inverse=(bool(inv),),
                relation_labels=(relation_texts[action],),
                answers=answers,
                total=len(members),
                support=tuple((f,) for f in found),
                score=linked * link + float(rel_score[action]),
                link=link,
            )
        )
    return out
