"""What the program executor needs of a graph, and its implementation over one graph.

:class:`ProgramGraph` is deliberately small (nodes, one vectorized step of a relation,
the values of a relation, labels, facts) so a team's federation can implement it too;
:class:`LocalProgramGraph` implements it over the arrays a
:class:`~kgagent.pipeline.graph.LocalGraph` already holds (its CSR adjacency with inverse
edges and its fact table), adding only the (head, action) edge keys and, per relation
and on first use, a :class:`~kgagent.programs.values.ValueTable`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from kgagent.kg.terms import iri_of, parse_literal
from kgagent.pipeline.execute import EdgeKeys
from kgagent.programs.values import ValueTable
from kgagent.retrieval.verbalize import format_literal
from kgagent.types import Fact

if TYPE_CHECKING:
    from kgagent.pipeline.graph import LocalGraph

__all__ = ["LocalProgramGraph", "ProgramGraph"]


@runtime_checkable
class ProgramGraph(Protocol):
    """One graph as the executor sees it. Nodes are ints; edge and value references are
    opaque ints that only the graph that made them resolves to facts."""

    def node(self, iri: str) -> int | None:
        """The node of an entity IRI, None if the graph does not hold it."""

    def action(self, relation: str, inverse: bool) -> int | None:
        """The action that walks ``relation`` (backwards if ``inverse``); None if the
        graph has no edge of it."""

    def step(self, nodes: np.ndarray, action: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source position in ``nodes`` (n,), tail (n,), edge reference (n,)) of every
        ``action`` edge out of ``nodes`` (int64), in ``nodes`` order."""

    def values(self, relation: str, inverse: bool) -> ValueTable:
        """Every value ``relation`` gives a node (literals and entities), with keys."""

    def entities(self, nodes: np.ndarray) -> list[tuple[str, str]]:
        """(IRI, label) of each node."""

    def edge_facts(self, edges: np.ndarray) -> list[Fact | None]:
        """The fact behind each edge reference (None where the graph has none)."""

    def value_facts(self, refs: np.ndarray) -> list[Fact | None]:
        """The fact behind each value reference (:attr:`ValueTable.ref`)."""


class LocalProgramGraph:
    """The :class:`ProgramGraph` of one agent's graph (a :class:`LocalGraph`).

    Args:
        graph: the retriever's graph (``agent.retriever.graph``); read, never changed.
    """

    def __init__(self, graph: LocalGraph) -> None:
        self.graph = graph
        self.keys = EdgeKeys(graph.adj)
        self._tables: dict[tuple[str, bool], ValueTable] = {}
        self._by_predicate: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    # -- ProgramGraph -----------------------------------------------------------------------

    def node(self, iri: str) -> int | None:
        return self.graph.node(iri)

    def action(self, relation: str, inverse: bool) -> int | None:
        rid = self.graph.relation_index.get(f"<{relation}>")
        if rid is None:
            return None
        return rid + self.graph.num_relations if inverse else rid

    def step(self, nodes: np.ndarray, action: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = self.keys.ranges(nodes, action)  # (N,) CSR range of each node's edges
        counts = hi - lo
        where = np.repeat(np.arange(len(nodes)), counts)  # (n,) source position
        first = np.cumsum(counts) - counts  # (N,) offset of each node's first edge
        edges = lo[where] + np.arange(int(counts.sum())) - first[where]  # (n,) CSR index
        return where, self.graph.adj.targets[edges], edges

    def values(self, relation: str, inverse: bool) -> ValueTable:
        key = (relation, bool(inverse))
        with self._lock:
            table = self._tables.get(key)
            if table is None:
                table = self._tables[key] = self._value_table(relation, bool(inverse))
            return table

    def entities(self, nodes: np.ndarray) -> list[tuple[str, str]]:
        terms = self.graph.entity_terms
        out = []
        for n in np.asarray(nodes).tolist():
            iri = iri_of(terms[n])
            out.append((iri, self.graph.label(iri)))
        return out

    def edge_facts(self, edges: np.ndarray) -> list[Fact | None]:
        found = self.graph.walk_facts([[(0, int(e))] for e in np.asarray(edges).tolist()])
        return [f[0] if f else None for f in found]

    def value_facts(self, refs: np.ndarray) -> list[Fact | None]:
        facts, label = self.graph.facts, self.graph.label
        return [facts.fact(r, labels=label) if r >= 0 else None for r in refs.tolist()]

    # -- value tables ---------------------------------------------------------------------

    def _rows_of_predicate(self, term: str) -> np.ndarray:
        """Fact-table rows of one predicate (all predicates grouped once, on first use)."""
        if self._by_predicate is None:
            import pandas as pd

            p = self.graph.facts.column("p")
            self._by_predicate = pd.Series(np.arange(len(p))).groupby(p).indices
        return self._by_predicate.get(term, np.zeros(0, dtype=np.int64))

    def _value_table(self, relation: str, inverse: bool) -> ValueTable:
        """The rows of ``relation``'s facts: the holder's node, the value's node (or -1),
        its text, datatype and display form; parsed once per distinct term."""
        import pandas as pd

        rows = np.asarray(self._rows_of_predicate(f"<{relation}>"), dtype=np.int64)
        if len(rows) == 0:
            return ValueTable.empty()
        facts = self.graph.facts
        subj, obj = facts.column("s")[rows], facts.column("o")[rows]  # (k,) terms
        if inverse:  # the object holds the subject; a literal can't hold anything
            entity = np.array([not o.startswith('"') for o in obj.tolist()], dtype=bool)
            rows, holders, values = rows[entity], obj[entity], subj[entity]
        else:
            holders, values = subj, obj
        holder = self._nodes(holders)  # (k,)
        keep = holder >= 0
        rows, holder, values = rows[keep], holder[keep], values[keep]
        codes, uniques = pd.factorize(values)
        parsed = [self._parse(t) for t in uniques.tolist()]  # per distinct value term
        node = np.array([p[0] for p in parsed], dtype=np.int64).reshape(-1)[codes]
        pick = [parsed[c] for c in codes.tolist()]
        return ValueTable.build(
            holder=holder,
            node=node,
            term=values.tolist(),
            text=[p[1] for p in pick],
            datatype=[p[2] for p in pick],
            display=[p[3] for p in pick],
            ref=rows,
        )

    def _nodes(self, terms: np.ndarray) -> np.ndarray:
        """(k,) node of each N-Triples term (-1: not a node), looked up once per term."""
        import pandas as pd

        codes, uniques = pd.factorize(terms)
        ids = self.graph.entity_id
        table = np.array([ids.get(t, -1) for t in uniques.tolist()], dtype=np.int64)
        return table[codes] if len(codes) else np.zeros(0, dtype=np.int64)

    def _parse(self, term: str) -> tuple[int, str | None, str | None, str]:
        """(node or -1, text, datatype, display) of one value term."""
        if term.startswith('"'):
            lex, dt, _ = parse_literal(term)
            return -1, lex, dt, format_literal(lex, dt)
        node = self.graph.entity_id.get(term, -1)
        if term.startswith("<"):
            label = self.graph.label(iri_of(term))
            return node, label, None, label
        return node, None, None, term  # a blank node: no label to compare
