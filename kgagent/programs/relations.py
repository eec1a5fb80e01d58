"""What the proposer asks of a graph's relations: which hold comparable values (numbers,
years, dates) for some entities, and which short paths join entities.

A relation is a *value relation* when most of its values are numbers or dates (typed
literals, numeric strings, or entities labelled "1993" as in MetaQA), unless its values
merely name their holder (a label that happens to be a number). Whether it is *temporal*
is read from its values too, never from its name: temporal datatypes (``xsd:date``,
``xsd:gYear``...) or whole numbers in a plausible year range. "earliest" and "in 1993"
then prefer temporal relations, "longest" and "more than 7.5" the others.

Relations are indexed as the encoder reads them (``relation_texts``): ``k < R`` walks
relation ``k`` forward, ``R + k`` walks it backwards.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdflib.namespace import RDF

from kgagent.kg.terms import iri_of
from kgagent.pipeline.graph import is_schema
from kgagent.programs.values import TEMPORAL_TYPES, parse_value
from kgagent.text import content_stems

__all__ = ["Classes", "Holding", "Paths", "ValueRelation", "ValueRelations"]

NUMERIC_SHARE = 0.5  # least share of a relation's values that are numbers or dates
TEMPORAL_SHARE = 0.9  # least share of its numbers that are dates or year-like
YEAR_RANGE = (1000.0, 2100.0)  # whole numbers read as years
NAME_SAMPLE = 200  # rows checked for values that only name their holder
MID_CAP = 5_000  # middle nodes of a two-hop path search (a hub is not searched through)
_OPS = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class ValueRelation:
    """A relation (one direction) whose values compare.

    Attributes:
        index: its position in ``relation_texts`` (forward ``k``, inverse ``R + k``).
        relation: the relation's IRI (no brackets).
        inverse: values are read from the object's side.
        temporal: its values are dates or years.
    """

    index: int
    relation: str
    inverse: bool
    temporal: bool


@dataclass(frozen=True)
class Holding:
    """A value relation over some entities: the share holding a value, and the domain
    the executor should compare in ("date" only when every holder has a day)."""

    relation: ValueRelation
    coverage: float
    domain: str
    covered: np.ndarray  # (m,) int64 the entities with a value, sorted


class ValueRelations:
    """The value relations of a graph (described once each, on first use).

    Args:
        graph: a :class:`~kgagent.programs.graph.ProgramGraph`.
        relation_terms: (R,) the relations as N-Triples IRIs ``<...>``.
    """

    def __init__(self, graph, relation_terms: Sequence[str]) -> None:
        self.graph = graph
        self.relations = [(iri_of(t), False) for t in relation_terms]
        self.relations += [(iri_of(t), True) for t in relation_terms]
        self._described: list[ValueRelation] | None = None
        self._lock = threading.Lock()

    def all(self) -> list[ValueRelation]:
        """Every value relation of the graph."""
        with self._lock:
            if self._described is None:
                found = (self._describe(k) for k in range(len(self.relations)))
                self._described = [v for v in found if v is not None]
            return self._described

    def holding(self, nodes: np.ndarray) -> list[Holding]:
        """The value relations that give at least one of ``nodes`` a comparable value."""
        nodes = np.asarray(nodes, dtype=np.int64)
        out = []
        for v in self.all():
            table = self.graph.values(v.relation, v.inverse)
            at, rows = table.rows_of(nodes)
            has_number = ~np.isnan(table.number[rows])
            covered = np.unique(nodes[at[has_number]])
            if len(covered) == 0:
                continue
            dated = np.unique(nodes[at[~np.isnan(table.date[rows])]])
            domain = "date" if len(dated) == len(covered) else "number"
            out.append(Holding(v, len(covered) / max(len(np.unique(nodes)), 1), domain, covered))
        return out

    def passing(self, v: ValueRelation, nodes: np.ndarray, op: str, value: str) -> np.ndarray:
        """(m,) the ``nodes`` whose value compares ``op`` to ``value``, as the executor's
        value constraint decides."""
        table = self.graph.values(v.relation, v.inverse)
        at, rows = table.rows_of(np.asarray(nodes, dtype=np.int64))
        domain, key = parse_value(value)
        if domain == "text":
            ok = np.array([t == key for t in table.text[rows].tolist()], dtype=bool)
        else:
            with np.errstate(invalid="ignore"):
                ok = _OPS[op](table.keys(domain)[rows], key)
        return np.unique(np.asarray(nodes)[at[ok]])

    def _describe(self, k: int) -> ValueRelation | None:
        relation, inverse = self.relations[k]
        table = self.graph.values(relation, inverse)
        numeric = ~np.isnan(table.number)  # (n,)
        if len(table) == 0 or numeric.mean() < NUMERIC_SHARE or self._names(table):
            return None
        v = table.number[numeric]
        dated = np.isin(table.datatype[numeric].astype(str), TEMPORAL_TYPES)
        yearly = (v == np.floor(v)) & (v >= YEAR_RANGE[0]) & (v <= YEAR_RANGE[1])
        temporal = float((dated | yearly).mean()) >= TEMPORAL_SHARE
        return ValueRelation(k, relation, inverse, temporal)

    def _names(self, table) -> bool:
        """Most values are their holder's own label (rdfs:label, a name property)."""
        rows = np.linspace(0, len(table) - 1, min(len(table), NAME_SAMPLE)).astype(np.int64)
        labels = [label for _, label in self.graph.entities(table.holder[rows])]
        same = [str(t) == label for t, label in zip(table.text[rows].tolist(), labels, strict=True)]
        return float(np.mean(same)) >= 0.5


class Paths:
    """Short relation paths between entities, found with the graph's vectorized steps
    (schema relations left out).

    Args:
        graph: a :class:`~kgagent.programs.graph.ProgramGraph`.
        relation_terms: (R,) the relations as N-Triples IRIs ``<...>``.
    """

    def __init__(self, graph, relation_terms: Sequence[str]) -> None:
        self.graph = graph
        self.num = len(relation_terms)
        self.hops = [(iri_of(t), False) for t in relation_terms]
        self.hops += [(iri_of(t), True) for t in relation_terms]
        acts = [graph.action(r, inv) for r, inv in self.hops]
        # rdf:type, rdfs:subClassOf ... lead to classes: no path of answers goes through one
        self.actions = [(k, a) for k, a in enumerate(acts)
                        if a is not None and not is_schema(f"<{self.hops[k][0]}>")]  # fmt: skip

    def reverse(self, k: int) -> int:
        """The index that walks relation direction ``k`` backwards."""
        return (k + self.num) % (2 * self.num)

    def neighbours(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(direction index (n,), tail (n,)) of every edge out of ``nodes``."""
        nodes = np.asarray(nodes, dtype=np.int64)
        ks, tails = [], []
        for k, action in self.actions:
            _, tail, _ = self.graph.step(nodes, action)
            ks.append(np.full(len(tail), k, dtype=np.int64))
            tails.append(tail)
        if not ks:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(ks), np.concatenate(tails)

    def kinds(self, nodes: np.ndarray) -> set[int]:
        """The directions in which ``nodes`` have edges: what kind of thing they are,
        where a graph has no classes (a film is directed, a person directs)."""
        ks, _ = self.neighbours(np.asarray(nodes, dtype=np.int64))
        return set(np.unique(ks).tolist())

    def between(self, a: int, b: int) -> list[tuple[int, ...]]:
        """Distinct one- and two-hop direction sequences that walk from ``a`` to ``b``
        (no walk revisits a node)."""
        ka, ta = self.neighbours(np.array([a]))
        out = [(int(k),) for k in np.unique(ka[ta == b])]
        kb, tb = self.neighbours(np.array([b]))
        keep_a, keep_b = (ta != a) & (ta != b), (tb != a) & (tb != b)
        ka, ta, kb, tb = ka[keep_a], ta[keep_a], kb[keep_b], tb[keep_b]
        order = np.argsort(tb, kind="stable")
        kb, tb = kb[order], tb[order]
        lo, hi = np.searchsorted(tb, ta, "left"), np.searchsorted(tb, ta, "right")
        pairs = set()
        for i in np.nonzero(hi > lo)[0].tolist():
            for k2 in np.unique(kb[lo[i] : hi[i]]).tolist():
                pairs.add((int(ka[i]), self.reverse(int(k2))))
        return out + sorted(pairs)

    def reaching(self, nodes: np.ndarray, anchor: int) -> list[tuple[tuple[int, ...], np.ndarray]]:
        """(direction sequence read from the nodes' side, the nodes it joins to ``anchor``)
        for each one-hop path; two-hop paths only when no one-hop path joins any."""
        nodes = np.unique(np.asarray(nodes, dtype=np.int64))
        ks, tails = self.neighbours(np.array([anchor]))
        out = []
        for k in np.unique(ks).tolist():
            hit = np.intersect1d(tails[ks == k], nodes)
            if len(hit):
                out.append(((self.reverse(k),), hit))
        if out:
            return out
        for k1 in np.unique(ks).tolist():
            mids = np.setdiff1d(tails[ks == k1], nodes)
            if not 0 < len(mids) <= MID_CAP:
                continue
            for k2, action in self.actions:
                _, reached, _ = self.graph.step(mids, action)
                hit = np.intersect1d(reached[reached != anchor], nodes)
                if len(hit):
                    out.append(((self.reverse(k2), self.reverse(k1)), hit))
        return out


class Classes:
    """The word stems of entities' classes (rdf:type labels), so a chain's answers can be
    checked against the kind of thing a question asks for ("films", "actors"). A graph
    without rdf:type has none, and nothing is checked.

    Args:
        graph: a :class:`~kgagent.programs.graph.ProgramGraph`.
    """

    def __init__(self, graph) -> None:
        self.graph = graph
        self.action = graph.action(str(RDF.type), False)
        self._all: set[str] | None = None

    def of(self, nodes: np.ndarray) -> set[str]:
        """The stems of the class labels of ``nodes``."""
        if self.action is None or len(nodes) == 0:
            return set()
        _, classes, _ = self.graph.step(np.asarray(nodes, dtype=np.int64), self.action)
        return self._stems(np.unique(classes))

    def all(self) -> set[str]:
        """The stems of every class label of the graph."""
        if self._all is None:
            table = self.graph.values(str(RDF.type), False)
            self._all = self._stems(np.unique(table.node[table.node >= 0]))
        return self._all

    def _stems(self, classes: np.ndarray) -> set[str]:
        out: set[str] = set()
        for _, label in self.graph.entities(classes):
            out |= content_stems(label)
        return out
