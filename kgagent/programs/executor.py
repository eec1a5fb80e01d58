"""Executing a program on a graph's arrays: walks, filters and keys, all vectorized.

The chain is walked breadth first over the CSR edges (every walk of a step in one
``searchsorted``); each constraint then filters the candidate array at once (an entity
constraint by walking from whichever side fans out less, a value constraint by comparing
a relation's cached keys, a class constraint through one rdf:type step); the operation
reads what is left. Only the reported answers are looked up as facts, in one batch.

When nothing can be said (a topic or relation the graph does not hold, a chain that
reaches nothing, a superlative over answers without values, a count whose walks hit the
safety cap) the result has ``abstain`` set to the reason and no answer: the caller
abstains rather than answering "0" or "no" from an absence of data.
"""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from rdflib.namespace import RDF, RDFS

from kgagent.programs.types import (
    ClassConstraint,
    EntityConstraint,
    Program,
    ValueConstraint,
)
from kgagent.programs.values import ValueTable, parse_value
from kgagent.programs.walks import Support, first_rows, walk
from kgagent.types import Fact

__all__ = ["Item", "ProgramResult", "execute"]

_OPS = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Item:
    """One answer: an entity (``value`` its IRI) or a value (a literal's lexical form).

    Attributes:
        value: the IRI, or the lexical form of a literal.
        label: what a person reads.
        literal: ``value`` is a literal's lexical form.
        datatype: the literal's datatype IRI (None for entities and plain strings).
        key: the value an argmax / argmin / compare compared (None otherwise).
        facts: ids of the facts that support this answer (``ProgramResult.facts``).
    """

    value: str
    label: str
    literal: bool = False
    datatype: str | None = None
    key: float | None = None
    facts: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProgramResult:
    """What a program gave on a graph.

    Attributes:
        program: the program executed.
        kind: "entities", "number", "boolean" or "value" (``program.kind``).
        items: entities best first (walk order) or values; for a count, the counted
            answers; for a comparison, the winner(s), or both entities for "<" / ">".
            At most ``max_items``.
        total: how many items there were before the cap.
        number: the count (kind "number").
        boolean: the answer of exists and "<" / ">" comparisons (kind "boolean").
        facts: every supporting fact, deduplicated: the chain's and constraints' facts
            of each item; for "no", the facts that were checked; for argmax / argmin and
            comparisons, the value facts compared.
        abstain: why there is no answer (None: answered). Abstain on it.
        truncated: a walk hit the safety cap, so answers may be missing.
    """

    program: Program
    kind: str
    items: tuple[Item, ...] = ()
    total: int = 0
    number: int | None = None
    boolean: bool | None = None
    facts: tuple[Fact, ...] = ()
    abstain: str | None = None
    truncated: bool = False

    @property
    def abstained(self) -> bool:
        return self.abstain is not None

    @property
    def answers(self) -> list[str]:
        """The answer as ``kgagent ask --out`` writes it: labels best first, ``["7"]``,
        ``["yes"]`` / ``["no"]``, or values' lexical forms; ``[]`` when abstaining."""
        if self.abstained:
            return []
        if self.kind == "number":
            return [str(self.number)]
        if self.kind == "boolean":
            return ["yes" if self.boolean else "no"]
        return [i.value if i.literal else i.label for i in self.items]

    def to_dict(self) -> dict[str, Any]:
        return {
            "program": self.program.to_dict(),
            "kind": self.kind,
            "answers": self.answers,
            "items": [i.to_dict() for i in self.items],
            "total": self.total,
            "number": self.number,
            "boolean": self.boolean,
            "facts": [f.to_dict() for f in self.facts],
            "abstain": self.abstain,
            "truncated": self.truncated,
        }


class _Abstain(Exception):
    """Control flow inside one execution: there is nothing to answer (the reason)."""


def execute(
    program: Program, graph, *, max_walks: int = 1_000_000, max_items: int = 100
) -> ProgramResult:
    """Runs ``program`` on ``graph`` (a :class:`~kgagent.programs.graph.ProgramGraph`).

    Args:
        program: what to compute.
        graph: the graph, e.g. ``LocalProgramGraph(agent.retriever.graph)``.
        max_walks: walks kept per step, a safety cap (hitting it sets ``truncated``;
            counts and "no" then abstain, since they would be wrong).
        max_items: answers reported with their facts (``total`` counts them all).
    """
    return _Run(program, graph, int(max_walks), int(max_items)).result()


class _Run:
    """One execution: the stages' evidence accumulates as the candidates narrow."""

    def __init__(self, program: Program, graph, max_walks: int, max_items: int) -> None:
        self.p = program
        self.g = graph
        self.max_walks = max_walks
        self.max_items = max_items
        self.truncated = False
        self.supports: list[Support] = []  # chain, then each constraint
        self.tables: list[ValueTable] = []  # value constraints' tables (checked facts)

    def result(self) -> ProgramResult:
        try:
            if self.p.op == "compare":
                return self._compare()
            if self.p.op == "value":
                return self._value()
            base = self._candidates()
            cands = base
            for i, c in enumerate(self.p.constraints):
                cands = self._constrain(i, c, cands)
            return getattr(self, f"_{self.p.op}")(base, cands)
        except _Abstain as why:
            return ProgramResult(self.p, self.p.kind, abstain=str(why), truncated=self.truncated)

    # -- lookups that abstain ---------------------------------------------------------

    def _node(self, iri: str, where: str) -> int:
        node = self.g.node(iri)
        if node is None:
            raise _Abstain(f"{where}: {iri} is not in the graph")
        return int(node)

    def _action(self, relation: str, inverse: bool, where: str) -> int:
        action = self.g.action(relation, inverse)
        if action is None:
            raise _Abstain(f"{where}: the graph has no {relation} edges")
        return int(action)

    def _table(self, relation: str, inverse: bool, where: str) -> ValueTable:
        table = self.g.values(relation, inverse)
        if len(table) == 0:
            raise _Abstain(f"{where}: the graph has no {relation} values")
        return table

    def _walk(self, starts: np.ndarray, actions: list[int]):
        w = walk(self.g, starts, actions, max_walks=self.max_walks)
        self.truncated |= w.truncated
        return w

    # -- stages ---------------------------------------------------------------------------

    def _candidates(self) -> np.ndarray:
        """(n,) the chain's answers in walk order (first walk to each)."""
        chain = self.p.chain
        assert chain is not None
        topic = self._node(chain.topic, "chain.topic")
        actions = [self._action(r, v, f"chain.hops[{i}]") for i, (r, v) in enumerate(chain.hops)]
        w = self._walk(np.array([topic]), actions)
        if len(w.paths) == 0:
            raise _Abstain(f"the chain from {chain.topic} reaches nothing in the graph")
        self.supports.append(Support.of_walks(w.ends, w.edges))
        return first_rows(w.ends)[0]

    def _constrain(self, i: int, c, cands: np.ndarray) -> np.ndarray:
        """``cands`` that pass constraint ``c`` (order kept), its evidence recorded."""
        where = f"constraints[{i}]"
        if isinstance(c, EntityConstraint):
            passed, support = self._entity(c, cands, where)
        elif isinstance(c, ValueConstraint):
            passed, support = self._values(c, cands, where)
        else:
            passed, support = self._class(c, cands, where)
        self.supports.append(support)
        return cands[np.isin(cands, passed)]

    def _entity(self, c: EntityConstraint, cands: np.ndarray, where: str):
        """Answers with a walk to the anchor: walked from the anchor backwards or from
        the candidates forwards, whichever first step has fewer edges (same walks)."""
        anchor = self._node(c.anchor, f"{where}.anchor")
        fwd = [self._action(r, v, f"{where}.hops[{k}]") for k, (r, v) in enumerate(c.hops)]
        back = [self._action(r, not v, where) for r, v in reversed(c.hops)]
        start = np.array([anchor], dtype=np.int64)
        if len(self.g.step(start, back[0])[0]) <= len(self.g.step(cands, fwd[0])[0]):
            w = self._walk(start, back)
            return w.ends, Support.of_walks(w.ends, w.edges)
        w = self._walk(cands, fwd)
        hit = w.ends == anchor  # (W,)
        return w.paths[hit, 0], Support.of_walks(w.paths[hit, 0], w.edges[hit])

    def _values(self, c: ValueConstraint, cands: np.ndarray, where: str):
        """Answers with a value that compares ``c.op`` to ``c.value``."""
        table = self._table(c.relation, c.inverse, f"{where}.relation")
        self.tables.append(table)
        domain, key = parse_value(c.value)
        at, rows = table.rows_of(cands)  # (n,) each
        if domain == "text":
            ok = np.array([t == key for t in table.text[rows].tolist()], dtype=bool)
        else:
            with np.errstate(invalid="ignore"):
                ok = _OPS[c.op](table.keys(domain)[rows], key)  # NaN: never passes
        passed = cands[at[ok]]
        return passed, Support.of_refs(passed, table.ref[rows[ok]])

    def _class(self, c: ClassConstraint, cands: np.ndarray, where: str):
        """Answers typed with the class or (``subclasses``) a class below it."""
        classes = np.array([self._node(c.cls, f"{where}.cls")], dtype=np.int64)
        sub = self.g.action(str(RDFS.subClassOf), True) if c.subclasses else None
        frontier = classes
        while sub is not None and len(frontier):  # rdfs:subClassOf*, cycle-safe
            _, tails, _ = self.g.step(frontier, sub)
            frontier = np.setdiff1d(tails, classes)
            classes = np.union1d(classes, frontier)
        at, tails, edges = self.g.step(cands, self._action(str(RDF.type), False, where))
        hit = np.isin(tails, classes)
        passed = cands[at[hit]]
        return passed, Support.of_walks(passed, edges[hit][:, None])

    # -- operations -----------------------------------------------------------------------

    def _entities(self, base: np.ndarray, cands: np.ndarray) -> ProgramResult:
        if len(cands) == 0:
            raise _Abstain("no answer of the chain satisfies the constraints")
        items, facts = self._items(cands)
        return self._done(items=items, total=len(cands), facts=facts)

    def _count(self, base: np.ndarray, cands: np.ndarray) -> ProgramResult:
        if self.truncated:
            raise _Abstain("the walks hit the safety cap: the count would be too low")
        items, facts = self._items(cands)
        return self._done(items=items, total=len(cands), number=len(cands), facts=facts)

    def _exists(self, base: np.ndarray, cands: np.ndarray) -> ProgramResult:
        if self.p.target is None:
            found = cands[: self.max_items]
        else:
            target = self._node(self.p.target, "target")
            found = cands[cands == target]
        if len(found):
            items, facts = self._items(found)
            total = len(cands) if self.p.target is None else 1
            return self._done(items=items, total=total, boolean=True, facts=facts)
        if self.truncated:
            raise _Abstain("the walks hit the safety cap: 'no' could be wrong")
        return self._done(boolean=False, facts=self._checked(base))

    def _argmax(self, base: np.ndarray, cands: np.ndarray) -> ProgramResult:
        return self._best(cands, np.max)

    def _argmin(self, base: np.ndarray, cands: np.ndarray) -> ProgramResult:
        return self._best(cands, np.min)

    def _best(self, cands: np.ndarray, pick) -> ProgramResult:
        """Every candidate holding the extreme value (ties all answer)."""
        by = self.p.by
        assert by is not None
        table = self._table(by.relation, by.inverse, "by.relation")
        at, rows = table.rows_of(cands)
        keys = table.keys(by.domain)[rows]  # (n,) NaN: no comparable value
        ok = ~np.isnan(keys)
        if not ok.any():
            raise _Abstain(f"no answer has a {by.domain} value of {by.relation}")
        best = float(pick(keys[ok]))
        win = ok & (keys == best)
        winners = cands[np.isin(cands, cands[at[win]])]
        values = Support.of_refs(cands[at[win]], table.ref[rows[win]])
        items, facts = self._items(winners, extra=values, key=best)
        compared = self._value_facts(table.ref[rows[ok]][: self.max_items])
        return self._done(items=items, total=len(winners), facts=facts + compared)

    def _compare(self) -> ProgramResult:
        """Two entities on one value: each entity's smallest (largest for "max")."""
        p, by = self.p, self.p.by
        assert p.pair is not None and by is not None
        nodes = np.array([self._node(e, f"pair[{i}]") for i, e in enumerate(p.pair)])
        table = self._table(by.relation, by.inverse, "by.relation")
        at, rows = table.rows_of(nodes)
        keys = table.keys(by.domain)[rows]
        ok = ~np.isnan(keys)
        pick = np.max if p.order == "max" else np.min
        vals = []
        for i, iri in enumerate(p.pair):
            mine = ok & (at == i)
            if not mine.any():
                raise _Abstain(f"pair[{i}]: {iri} has no {by.domain} value of {by.relation}")
            vals.append(float(pick(keys[mine])))
        compared = self._value_facts(table.ref[rows[ok]])
        if p.order in ("<", ">"):
            items = self._plain_items(nodes, vals, compared)
            answer = vals[0] < vals[1] if p.order == "<" else vals[0] > vals[1]
            return self._done(items=items, total=2, boolean=answer, facts=compared)
        best = pick(vals)
        win = [i for i in range(2) if vals[i] == best]
        items = self._plain_items(nodes[win], [vals[i] for i in win], compared)
        return self._done(items=items, total=len(items), facts=compared)

    def _value(self) -> ProgramResult:
        """The values the chain's last hop reaches (literals or entities off the path)."""
        chain = self.p.chain
        assert chain is not None
        topic = self._node(chain.topic, "chain.topic")
        *head, (rel, inv) = chain.hops
        actions = [self._action(r, v, f"chain.hops[{i}]") for i, (r, v) in enumerate(head)]
        w = self._walk(np.array([topic]), actions)
        where = f"chain.hops[{len(head)}].relation"
        table = self._table(rel, inv, where)
        at, rows = table.rows_of(w.ends)  # (n,) walk, value row
        node = table.node[rows]
        on_path = (w.paths[at] == node[:, None]).any(axis=1) & (node >= 0)
        at, rows = at[~on_path], rows[~on_path]
        if len(rows) == 0:
            raise _Abstain(f"the chain from {chain.topic} reaches no {rel} value")
        import pandas as pd

        codes, _ = pd.factorize(table.term[rows])  # one item per distinct value term
        _, first = first_rows(codes)
        picked = first[: self.max_items]
        edges = [e for walk_edges in w.edges[at[picked]].tolist() for e in walk_edges]
        edge_facts = dict(
            zip(edges, self.g.edge_facts(np.array(edges, dtype=np.int64)), strict=True)
        )
        ref_facts = self._value_facts(table.ref[rows[picked]])
        items, facts = [], []
        for k, row in enumerate(rows[picked].tolist()):
            found = [edge_facts[e] for e in w.edges[at[picked[k]]].tolist()] + [ref_facts[k]]
            found = [f for f in found if f is not None]
            facts += found
            items.append(
                Item(
                    value=str(table.text[row]) if table.node[row] < 0 else _iri(table.term[row]),
                    label=str(table.display[row]),
                    literal=bool(table.node[row] < 0 and str(table.term[row]).startswith('"')),
                    datatype=table.datatype[row],
                    facts=tuple(dict.fromkeys(f.id for f in found)),
                )
            )
        return self._done(items=tuple(items), total=len(first), facts=facts)

    # -- results --------------------------------------------------------------------------

    def _done(self, *, facts, items=(), total: int = 0, **answer) -> ProgramResult:
        unique = {f.id: f for f in facts if f is not None}
        return ProgramResult(
            self.p,
            self.p.kind,
            items=tuple(items),
            total=total,
            facts=tuple(unique.values()),
            truncated=self.truncated,
            **answer,
        )

    def _items(self, nodes: np.ndarray, *, extra: Support | None = None, key=None):
        """Items of the first ``max_items`` nodes, each with the evidence of every stage."""
        nodes = nodes[: self.max_items]
        stages = [*self.supports, *([extra] if extra is not None else [])]
        found = [s.lookup(nodes) for s in stages]  # per stage, per node (edges, refs)
        edges = sorted({e for per in found for es, _ in per for e in es})
        refs = sorted({r for per in found for _, rs in per for r in rs})
        by_edge = dict(zip(edges, self.g.edge_facts(np.array(edges, dtype=np.int64)), strict=True))
        by_ref = dict(zip(refs, self._value_facts(np.array(refs, dtype=np.int64)), strict=True))
        items, facts = [], []
        for k, (iri, label) in enumerate(self.g.entities(nodes)):
            mine = [by_edge[e] for per in found for e in per[k][0]]
            mine += [by_ref[r] for per in found for r in per[k][1]]
            mine = [f for f in mine if f is not None]
            facts += mine
            ids = tuple(dict.fromkeys(f.id for f in mine))
            items.append(Item(value=iri, label=label, key=key, facts=ids))
        return tuple(items), facts

    def _plain_items(self, nodes: np.ndarray, keys: list[float], facts: list[Fact | None]):
        """Items of compared entities, each citing its own value facts."""
        out = []
        for (iri, label), key in zip(self.g.entities(nodes), keys, strict=True):
            ids = tuple(f.id for f in facts if f is not None and iri in (f.subject, f.object))
            out.append(Item(value=iri, label=label, key=key, facts=ids))
        return tuple(out)

    def _checked(self, base: np.ndarray) -> list[Fact | None]:
        """The facts a "no" rests on: the chain's answers and their constrained values."""
        nodes = base[: self.max_items]
        _, facts = self._items(nodes)
        for table in self.tables:
            _, rows = table.rows_of(nodes)
            facts += self._value_facts(table.ref[rows][: self.max_items])
        return facts

    def _value_facts(self, refs: np.ndarray) -> list[Fact | None]:
        return self.g.value_facts(np.asarray(refs, dtype=np.int64)) if len(refs) else []


def _iri(term: Any) -> str:
    text = str(term)
    return text[1:-1] if text.startswith("<") else text
