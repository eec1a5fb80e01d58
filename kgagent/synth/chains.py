"""Relation chains and their complete answer sets, sampled on flat edge arrays.

A question's gold answers must be *complete*: every entity its chain reaches from the
topic, or a reader trained on them learns to stop early. So answers come from walking
the chain over the whole graph, not from the fact that suggested the question. The walk
semantics are the pipeline's (:func:`~kgagent.pipeline.execute.execute_chain`): a walk
never revisits an entity, so the topic is never its own answer ("films that share a
director with X" leaves X out).

Everything is vectorized over the edges, sorted by (head, action): a batch of topics
walks a chain in one ``searchsorted`` per hop, and the topics that can complete a chain
at all are found by walking it backwards over boolean node masks. Literal values
(``"2010"^^xsd:gYear``) become extra nodes reachable only forwards, so "when were the
films of X released" is a chain like any other, whose last hop reads a value.

Action ``a < R`` walks relation ``a`` forwards, ``a + R`` backwards (as the adjacency).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rdflib.namespace import SKOS

from kgagent.kg.terms import iri_of, parse_literal
from kgagent.pipeline.graph import SCHEMA_NAMESPACES
from kgagent.retrieval.verbalize import KGA, RDF_TYPE, format_literal

if TYPE_CHECKING:
    from kgagent.kg.ontology import Ontology

__all__ = [
    "ChainGraph",
    "ChainSampler",
    "Sample",
    "askable",
    "assemble_chain_graph",
    "chain_graph",
    "graph_parts",
]

#: predicates no user asks about: the schema's own, SKOS's, and kgagent's annotations
_UNASKED = (*SCHEMA_NAMESPACES, f"<{SKOS}", f"<{KGA}")
#: literal values longer than this (typically) are descriptions, not answers
_LONGEST_VALUE = 80


@dataclass(frozen=True)
class Sample:
    """One sampled chain from a topic with everything it reaches.

    Attributes:
        topic: the topic's node.
        actions: the chain, one action per hop.
        reached: per hop, the sorted distinct nodes its walks end on (the last: the
            answers; the topic is never among them).
        via: per hop, the nodes of the walks that reach an answer (what a noun phrase
            for the hop names: "the films X directed" that have a genre).
    """

    topic: int
    actions: tuple[int, ...]
    reached: tuple[np.ndarray, ...]
    via: tuple[np.ndarray, ...]

    @property
    def answers(self) -> np.ndarray:
        return self.reached[-1]

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(len(x) for x in self.reached)


class ChainGraph:
    """The edges questions may follow: entity edges both ways, literal values forwards.

    Args:
        heads, actions, tails: (E,) edges; tails >= ``num_entities`` are literal nodes.
        num_entities: entity nodes (literal nodes follow them).
        num_relations: R (actions are 0..2R-1).
        num_nodes: entity and literal nodes.
        node_label: the label of a node (called for the nodes a question shows).
        node_term: the N-Triples term of a node (a literal's lexical form in quotes).
        good_topic: (num_nodes,) bool: may be a question's topic (an IRI with a label
            no other entity has).
        good_answer: (num_nodes,) bool: may be an answer (not a blank node).
    """

    def __init__(
        self,
        *,
        heads: np.ndarray,
        actions: np.ndarray,
        tails: np.ndarray,
        num_entities: int,
        num_relations: int,
        num_nodes: int,
        node_label: Callable[[int], str],
        node_term: Callable[[int], str],
        good_topic: np.ndarray,
        good_answer: np.ndarray,
    ) -> None:
        self.num_entities = int(num_entities)
        self.num_relations = int(num_relations)
        self.num_actions = 2 * self.num_relations
        self.num_nodes = int(num_nodes)
        self.node_label = node_label
        self.node_term = node_term
        self.good_topic = good_topic
        self.good_answer = good_answer
        A = self.num_actions
        order = np.argsort(heads * A + actions, kind="stable")
        self.heads, self.actions, self.tails = heads[order], actions[order], tails[order]
        self.keys = self.heads * A + self.actions  # (E,) sorted
        by_action = np.argsort(self.actions, kind="stable")
        self._act_heads = self.heads[by_action]  # (E,) grouped by action
        self._act_tails = self.tails[by_action]
        self._act_ptr = np.searchsorted(self.actions[by_action], np.arange(A + 1))  # (A+1,)
        pairs = np.unique(self.actions * self.num_nodes + self.heads)  # (P,) action-major
        self._side = pairs % self.num_nodes
        self._side_ptr = np.searchsorted(pairs // self.num_nodes, np.arange(A + 1))

    # -- sides: the nodes an action leaves from -------------------------------------------

    def edge_count(self, action: int) -> int:
        return int(self._act_ptr[action + 1] - self._act_ptr[action])

    def side(self, action: int) -> np.ndarray:
        """(k,) sorted nodes with at least one ``action`` edge (the action's anchors)."""
        return self._side[self._side_ptr[action] : self._side_ptr[action + 1]]

    def reached(self, action: int) -> np.ndarray:
        """(k,) sorted nodes ``action`` edges lead to (its answers, literal values too)."""
        lo, hi = self._act_ptr[action], self._act_ptr[action + 1]
        return np.unique(self._act_tails[lo:hi])

    def fan_out(self, action: int) -> float:
        """Mean number of ``action`` edges per anchor (above 1: often several answers)."""
        anchors = len(self.side(action))
        return self.edge_count(action) / anchors if anchors else 0.0

    def cooccurrence(self) -> np.ndarray:
        """(A, A) int: how many nodes have both actions (the overlap of two sides)."""
        from scipy import sparse

        A = self.num_actions
        acts = np.repeat(np.arange(A), np.diff(self._side_ptr))
        m = sparse.csr_matrix(
            (np.ones(len(self._side), dtype=np.int64), (self._side, acts)),
            shape=(self.num_nodes, A),
        )
        return np.asarray((m.T @ m).todense(), dtype=np.int64)

    # -- walking ------------------------------------------------------------------------

    def starts(self, actions: Sequence[int]) -> np.ndarray:
        """(k,) good topics from which every hop of ``actions`` has an edge to follow
        (the chain walked backwards over node masks; revisits are checked later)."""
        prev = np.zeros(self.num_nodes, dtype=bool)
        prev[self.side(actions[-1])] = True
        for a in reversed(actions[:-1]):
            lo, hi = self._act_ptr[a], self._act_ptr[a + 1]
            heads, tails = self._act_heads[lo:hi], self._act_tails[lo:hi]
            mask = np.zeros(self.num_nodes, dtype=bool)
            mask[heads[prev[tails]]] = True
            prev = mask
        return np.flatnonzero(prev & self.good_topic)

    def walk(
        self, topics: np.ndarray, actions: Sequence[int], *, max_walks: int
    ) -> list[tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]] | None]:
        """Everything a chain reaches from each topic, all topics at once.

        Returns:
            per topic (reached, via): per hop the sorted distinct nodes reached (the last
            hop's are the answers), and those on walks that reach an answer; None for a
            topic with over ``max_walks`` walks at some hop (too broad to ask about).
        """
        B, A, n = len(topics), self.num_actions, self.num_nodes
        node = topics.astype(np.int64)  # (W,) last node of each walk
        owner = np.arange(B)  # (W,) topic of each walk
        visited = node[:, None]  # (W, s + 1)
        alive = np.ones(B, dtype=bool)
        steps = []  # per hop: sorted distinct topic * n + node
        for a in actions:
            q = node * A + int(a)
            lo = np.searchsorted(self.keys, q, "left")
            cnt = np.searchsorted(self.keys, q, "right") - lo  # (W,)
            alive &= np.bincount(owner, weights=cnt, minlength=B) <= max_walks
            cnt = np.where(alive[owner], cnt, 0)
            total = int(cnt.sum())
            parent = np.repeat(np.arange(len(node)), cnt)  # (total,)
            edge = lo[parent] + np.arange(total) - (np.cumsum(cnt) - cnt)[parent]
            tails = self.tails[edge]
            fresh = ~(visited[parent] == tails[:, None]).any(axis=1)
            parent, tails = parent[fresh], tails[fresh]
            node, owner = tails, owner[parent]
            visited = np.concatenate([visited[parent], tails[:, None]], axis=1)
            steps.append(np.unique(owner * n + node))
        via = [np.unique(owner * n + visited[:, s + 1]) for s in range(len(actions))]

        def split(pairs: list[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
            bounds = [np.searchsorted(p // n, np.arange(B + 1)) for p in pairs]
            return [tuple(p[b[i] : b[i + 1]] % n for p, b in zip(pairs, bounds, strict=True))
                    for i in range(B)]  # fmt: skip

        return [
            (r, v) if alive[i] else None
            for i, (r, v) in enumerate(zip(split(steps), split(via), strict=True))
        ]


class ChainSampler:
    """Chains sampled evenly over their shapes, each with a complete answer set.

    A *shape* is a sequence of actions. Every shape of a hop count gets the same share of
    questions (round robin over the shapes in a seeded order), so a relation with 30k
    facts is asked about as often as one with 300; a shape no topic completes within
    ``max_answers`` drops out.

    Args:
        graph: the edges.
        shapes: hop count -> the shapes allowed (type-consistent, see the lexicon).
        max_answers: questions with more answers are not asked (lists too long to check).
        max_walks: a topic with more walks at some hop is skipped.
        batch: topics tried per shape at once.
    """

    def __init__(
        self,
        graph: ChainGraph,
        shapes: dict[int, list[tuple[int, ...]]],
        *,
        max_answers: int = 30,
        max_walks: int = 3000,
        batch: int = 48,
    ) -> None:
        self.graph = graph
        self.shapes = shapes
        self.max_answers = int(max_answers)
        self.max_walks = int(max_walks)
        self.batch = int(batch)

    def sample(self, hops: int, quota: int, rng: np.random.Generator) -> list[Sample]:
        """Up to ``quota`` samples of ``hops``-hop chains, no (topic, chain) twice."""
        live = list(self.shapes.get(hops, []))
        rng.shuffle(live)
        pools: dict[tuple[int, ...], np.ndarray] = {}
        buffers: dict[tuple[int, ...], list[Sample]] = {s: [] for s in live}
        out: list[Sample] = []
        while live and len(out) < quota:
            for shape in list(live):
                if len(out) >= quota:
                    break
                if not buffers[shape]:
                    buffers[shape] = self._refill(shape, pools, rng)
                if not buffers[shape]:
                    live.remove(shape)
                    continue
                out.append(buffers[shape].pop())
        return out

    def _refill(self, shape, pools, rng) -> list[Sample]:
        """A batch of valid samples of one shape, trying a few batches of fresh topics."""
        if shape not in pools:
            pools[shape] = rng.permutation(self.graph.starts(shape))
        for _ in range(4):
            pool = pools[shape]
            if not len(pool):
                return []
            topics, pools[shape] = pool[: self.batch], pool[self.batch :]
            walked = self.graph.walk(topics, shape, max_walks=self.max_walks)
            found = [
                Sample(int(t), tuple(shape), *w)
                for t, w in zip(topics.tolist(), walked, strict=True)
                if w is not None
                and 0 < len(w[0][-1]) <= self.max_answers
                and self.graph.good_answer[w[0][-1]].all()
            ]
            if found:
                return found[::-1]  # popped from the end: pool order
        return []


def askable(term: str) -> bool:
    """Whether a predicate (N-Triples term) is one users ask about."""
    return not term.startswith(_UNASKED)


def chain_graph(retriever: Any, ontology: Ontology) -> ChainGraph:
    """The :class:`ChainGraph` of an agent's retriever: its adjacency (inverse edges
    included) less schema nodes and unaskable predicates, plus literal-valued facts.

    Schema nodes (classes, properties, ontology headers) are never topics, hops or
    answers: "what is the domain of directed by" is not a question about the domain.
    """
    r = retriever
    adj = r.adj
    N = int(adj.num_entities)
    heads = np.repeat(np.arange(N, dtype=np.int64), np.diff(adj.indptr))
    schema, literals = graph_parts(r, ontology)
    return assemble_chain_graph(
        heads=heads,
        actions=adj.relations.astype(np.int64),
        tails=adj.targets.astype(np.int64),
        entity_terms=r.entity_terms,
        entity_labels=[r.label(iri_of(t)) for t in r.entity_terms],
        relation_terms=r.relation_terms,
        schema=schema,
        literals=literals,
    )


def graph_parts(retriever: Any, ontology: Ontology):
    """One graph's (N,) schema flags and its askable literal-valued facts (heads,
    relations, value labels, value index per fact), in its own ids: what a team member
    sends for the team's chain graph (:func:`assemble_chain_graph`)."""
    r = retriever
    usable = np.array([askable(t) for t in r.relation_terms], dtype=bool)  # (R,)
    schema = _schema_nodes(r, ontology, int(r.adj.num_entities))
    return schema, _literal_edges(r, usable, schema)


def assemble_chain_graph(
    *,
    heads: np.ndarray,
    actions: np.ndarray,
    tails: np.ndarray,
    entity_terms: Sequence[str],
    entity_labels: Sequence[str],
    relation_terms: Sequence[str],
    schema: np.ndarray,
    literals: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> ChainGraph:
    """A :class:`ChainGraph` from entity edges (both directions, action ``r + R`` the
    inverse of ``r``), (N,) schema flags and literal facts (heads, relations, values,
    value index): one graph's, or a team's federated ids (:mod:`kgagent.team.synth`)."""
    R, N = len(relation_terms), len(entity_terms)
    usable = np.array([askable(t) for t in relation_terms], dtype=bool)  # (R,)
    keep = usable[actions % R] & ~schema[heads] & ~schema[tails]
    lit_heads, lit_acts, values, codes = literals
    lit_tails = N + codes
    labels = list(entity_labels)
    lowered = np.array([x.strip().lower() for x in labels], dtype=object)
    _, inverse, counts = np.unique(lowered, return_inverse=True, return_counts=True)
    is_iri = np.array([t.startswith("<") for t in entity_terms], dtype=bool)
    good_topic = np.concatenate(
        [is_iri & ~schema & (counts[inverse] == 1) & (lowered != ""), np.zeros(len(values), bool)]
    )
    good_answer = np.concatenate(
        [~schema & np.array([not t.startswith("_:") for t in entity_terms], dtype=bool),
         np.ones(len(values), bool)]
    )  # fmt: skip

    def node_label(node: int) -> str:
        return labels[node] if node < N else values[node - N]

    def node_term(node: int) -> str:
        return entity_terms[node] if node < N else f'"{values[node - N]}"'

    return ChainGraph(
        heads=np.concatenate([heads[keep], lit_heads]),
        actions=np.concatenate([actions[keep], lit_acts]),
        tails=np.concatenate([tails[keep], lit_tails]),
        num_entities=N,
        num_relations=R,
        num_nodes=N + len(values),
        node_label=node_label,
        node_term=node_term,
        good_topic=good_topic,
        good_answer=good_answer,
    )


def _schema_nodes(r: Any, ontology: Ontology, n: int) -> np.ndarray:
    """(n,) bool: classes, properties, and nodes typed by the schema (owl:Ontology)."""
    schema = np.zeros(n, dtype=bool)
    ids = r.entity_id
    for iri in [*ontology.classes, *ontology.properties]:
        i = ids.get(f"<{iri}>")
        if i is not None and i < n:
            schema[i] = True
    rdf_type = r.relation_index.get(f"<{RDF_TYPE}>")
    if rdf_type is not None:
        adj = r.adj
        heads = np.repeat(np.arange(n, dtype=np.int64), np.diff(adj.indptr))
        typed = adj.relations == rdf_type
        meta = np.array(
            [r.entity_terms[c].startswith(SCHEMA_NAMESPACES) for c in range(n)], dtype=bool
        )
        schema[heads[typed & meta[adj.targets]]] = True
    return schema


def _literal_edges(r: Any, usable: np.ndarray, schema: np.ndarray):
    """(heads, actions, value labels, value index per edge) of the literal-valued facts
    of askable predicates whose values are short enough to be answers."""
    import pandas as pd

    frame = r.facts.frame
    rows = frame[frame["o"].str.startswith('"')]
    rid = rows["p"].map(r.relation_index)
    sid = rows["s"].map(r.entity_id)
    ok = rid.notna() & sid.notna()
    rows, rid, sid = rows[ok], rid[ok].astype(np.int64), sid[ok].astype(np.int64)
    ok = usable[rid.to_numpy()] & ~schema[sid.to_numpy()]
    rows, rid, sid = rows[ok], rid[ok], sid[ok]
    codes, uniques = pd.factorize(rows["o"])
    values = np.array(
        [format_literal(*parse_literal(u)[:2]) for u in uniques.tolist()], dtype=object
    )
    lengths = pd.Series([len(v) for v in values.tolist()], dtype=np.int64)
    typical = pd.Series(lengths.to_numpy()[codes]).groupby(rid.to_numpy()).median()
    short = ~rid.map(typical).gt(_LONGEST_VALUE).to_numpy()
    return sid.to_numpy()[short], rid.to_numpy()[short], values, codes[short].astype(np.int64)
