"""Compiling a program to SPARQL that returns the executor's answer from the store.

The query is also the explanation a user reads, runs and edits, so it is laid out one
pattern per line, with PREFIX declarations and a comment per part. Entity and relation
IRIs come from the graph and are written as ``prefix:local`` or ``<iri>`` only after
:func:`~kgagent.programs.types.check_iri` (the program types check them on
construction, and again here); every value that came from a question (a year, a number,
a date, a name) is returned in ``bindings`` for
:meth:`~kgagent.kg.graph.KnowledgeGraph.query`, never formatted into the text.

Agreement with :func:`~kgagent.programs.execute` rests on three choices:

- walks never revisit a node: a ``FILTER(?a != ?b ...)`` over every pair of a chain's
  nodes, and chain nodes are never literals (the executor walks entity edges only);
- value keys are computed from lexical forms with the same regular expressions
  (:mod:`kgagent.programs.values`), so the same values are skipped and ordered alike;
- superlatives keep every answer no other answer beats (``FILTER NOT EXISTS``), so
  ties all answer, as in the executor; the question's values stay visible inside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rdflib import Literal
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD

from kgagent.programs.types import EntityConstraint, Program, ValueConstraint, check_iri
from kgagent.programs.values import (
    DATE_LEX,
    DATED_TYPES,
    NUMBER_LEX,
    TEMPORAL_TYPES,
    YEAR_LEX,
    parse_value,
)

__all__ = ["read_answer", "to_sparql"]

_STANDARD = {
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
    "skos": str(SKOS),
}
# a local name written as prefix:local without escapes (no dots, colons or other marks)
_LOCAL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_\-]|%[0-9A-Fa-f]{2})*$")


def to_sparql(program: Program) -> tuple[str, dict[str, Any]]:
    """(query text, bindings) that give ``program``'s answer from the store.

    Run it as ``kg.query(text, bindings=bindings)``; :func:`read_answer` reads the result
    the way :attr:`~kgagent.programs.ProgramResult.answers` is compared. Entities: the
    answers' IRIs in ``?answer`` (unordered); count: ``?count``; exists and "<" / ">"
    comparisons: an ASK; value: ``?value``. An abstaining program's query gives no
    answer, 0 or false, or (a comparison where one entity has no value) the other one.
    """
    return _Compiler(program).compile()


def read_answer(program: Program, result) -> Any:
    """The answer in an ``rdflib`` query result, comparable with the executor's: a set of
    IRIs (entities), an int (count), a bool (boolean), or a set of values (value: IRIs
    and literals' lexical forms as rdflib normalizes them; a store may keep "9.0" as
    "9", so compare an executor's literal as ``str(Literal(item.value, datatype=...))``).
    """
    kind = program.kind
    if kind == "boolean":
        return bool(result.askAnswer)
    rows = list(result)
    if kind == "number":
        return int(rows[0][0].toPython()) if rows and rows[0][0] is not None else 0
    return {str(row[0]) for row in rows if row[0] is not None}


class _Compiler:
    """One program's query: prefixes and bindings gathered while the body is written."""

    def __init__(self, program: Program) -> None:
        self.p = program
        self.prefixes: dict[str, str] = {}  # namespace -> prefix name
        self.bindings: dict[str, Any] = {}

    def compile(self) -> tuple[str, dict[str, Any]]:
        p = self.p
        if p.op == "compare":
            head, body = self._compare()
        elif p.op == "value":
            head, body = "SELECT DISTINCT ?value WHERE {", self._value()
        else:
            body = self._body("?answer", "")
            head = {
                "entities": "SELECT DISTINCT ?answer WHERE {",
                "count": "SELECT (COUNT(DISTINCT ?answer) AS ?count) WHERE {",
                "exists": "ASK {",
                "argmax": "SELECT DISTINCT ?answer WHERE {",
                "argmin": "SELECT DISTINCT ?answer WHERE {",
            }[p.op]
            if p.op == "exists" and p.target is not None:
                body = [f"VALUES ?answer {{ {self._term(p.target)} }}", *body]
            if p.op in ("argmax", "argmin"):
                body += self._best(lambda tag: self._body("?other", tag))
        decl = [f"PREFIX {name}: <{ns}>" for ns, name in self.prefixes.items()]
        lines = [*decl, head, *("  " + line for line in body), "}"]
        return "\n".join(lines) + "\n", dict(self.bindings)

    # -- terms ------------------------------------------------------------------------

    def _term(self, iri: str) -> str:
        """``prefix:local`` where the local name needs no escape, else ``<iri>``."""
        check_iri(iri, "iri")
        cut = max(iri.rfind("/"), iri.rfind("#")) + 1
        ns, local = iri[:cut], iri[cut:]
        if not _LOCAL.match(local) or cut == 0:
            return f"<{iri}>"
        return f"{self._prefix(ns)}:{local}"

    def _prefix(self, ns: str) -> str:
        if ns not in self.prefixes:
            taken = set(self.prefixes.values())
            std = [k for k, v in _STANDARD.items() if v == ns]
            if std:
                name = std[0]
            else:
                words = re.findall(r"[A-Za-z][A-Za-z0-9]*", ns.rstrip("/#").rsplit("/", 1)[-1])
                base = words[-1].lower() if words else "ns"
                name, n = base, 1
                while name in taken or (name in _STANDARD and _STANDARD[name] != ns):
                    n += 1
                    name = f"{base}{n}"
            self.prefixes[ns] = name
        return self.prefixes[ns]

    def _bind(self, name: str, value: Any) -> str:
        self.bindings[name] = value
        return f"?{name}"

    # -- patterns -----------------------------------------------------------------------

    def _path(self, nodes: list[str], hops, comment: str) -> list[str]:
        """Triple patterns of a walk through ``nodes`` (terms or variables), never
        revisiting a node, and its inner nodes never literals."""
        lines = [f"# {comment}"]
        subjects = set()
        for (rel, inverse), u, w in zip(hops, nodes, nodes[1:], strict=False):
            s, o = (w, u) if inverse else (u, w)
            subjects.add(s)
            lines.append(f"{s} {self._term(rel)} {o} .")
        loose = [n for n in nodes[: len(hops) + 1] if n.startswith("?") and n not in subjects]
        differ = [
            f"{b} != {a}" if b.startswith("?") else f"{a} != {b}"  # a variable first
            for j, b in enumerate(nodes[: len(hops) + 1])
            for a in nodes[:j]
            if a.startswith("?") or b.startswith("?")
        ]
        conds = [f"!isLiteral({n})" for n in loose] + differ
        if conds:
            lines.append(f"FILTER({' && '.join(conds)})")
        return lines

    def _body(self, answer: str, tag: str) -> list[str]:
        """The chain to ``answer`` and every constraint on it (``tag``: a suffix that
        renames the variables, for the copy inside FILTER NOT EXISTS)."""
        chain = self.p.chain
        assert chain is not None
        inner = [f"?x{i}{tag}" for i in range(1, len(chain.hops))]
        nodes = [self._term(chain.topic), *inner, answer]
        lines = self._path(nodes, chain.hops, f"the chain from {nodes[0]}")
        for i, c in enumerate(self.p.constraints, start=1):
            if isinstance(c, EntityConstraint):
                mid = [f"?c{i}_{k}{tag}" for k in range(1, len(c.hops))]
                anchor = self._term(c.anchor)
                lines += self._path([answer, *mid, anchor], c.hops, f"{i}: reaches {anchor}")
            elif isinstance(c, ValueConstraint):
                lines += self._constraint(i, c, answer, tag)
            else:
                path = "rdf:type/rdfs:subClassOf*" if c.subclasses else "rdf:type"
                self._prefix(str(RDF))
                self._prefix(str(RDFS))
                cls = self._term(c.cls)
                lines += [f"# {i}: an instance of {cls}", f"{answer} {path} {cls} ."]
        return lines

    def _constraint(self, i: int, c: ValueConstraint, answer: str, tag: str) -> list[str]:
        domain, key = parse_value(c.value)
        var = f"?v{i}{tag}"
        lines = [f"# {i}: a value of {self._term(c.relation)} {c.op} ?value{i}"]
        lines += self._value_key(answer, c.relation, c.inverse, var, domain)
        if domain == "text":
            lines.append(f"FILTER({var}_text = {self._bind(f'value{i}', c.value)})")
        else:
            bound = (
                Literal(key, datatype=XSD.double)
                if domain == "number"
                else Literal(int(key), datatype=XSD.integer)
            )
            lines.append(f"FILTER({var}_key {c.op} {self._bind(f'value{i}', bound)})")
        return lines

    def _value_key(self, holder: str, relation: str, inverse: bool, var: str, domain: str):
        """``holder``'s values through ``relation`` as ``var``, with ``var_text`` (lexical
        form or label) and, for a number or date domain, ``var_key`` (the executor's key;
        rows without one are filtered out)."""
        rel = self._term(relation)
        xsd, rdfs, skos = self._prefix(str(XSD)), self._prefix(str(RDFS)), self._prefix(str(SKOS))
        pattern = f"{var} {rel} {holder} ." if inverse else f"{holder} {rel} {var} ."
        what = {"number": "a number (the year of a date)", "date": "a day", "text": "text"}
        lines = [
            pattern,
            f"# {var}_{'text' if domain == 'text' else 'key'}: {var} as {what[domain]}, "
            "from its lexical form or label",
            f"OPTIONAL {{ {var} {rdfs}:label|{skos}:prefLabel {var}_label }}",
            f"BIND(IF(isIRI({var}), COALESCE(STR({var}_label), "
            f'REPLACE(STR({var}), "^.*[/#:]", "")), STR({var})) AS {var}_text)',
        ]
        if domain == "text":
            return lines
        lines.append(f"BIND(IF(isLiteral({var}), DATATYPE({var}), {rdfs}:Resource) AS {var}_type)")
        if domain == "number":
            temporal = ", ".join(self._term(t) for t in TEMPORAL_TYPES)
            return [
                *lines,
                f"BIND(IF({var}_type IN ({temporal}), "
                f'REPLACE({var}_text, "{YEAR_LEX}", "$1"), {var}_text) AS {var}_lex)',
                f'FILTER({var}_type != {xsd}:boolean && REGEX({var}_lex, "{NUMBER_LEX}"))',
                f"BIND({xsd}:double({var}_lex) AS {var}_key)",
            ]
        dated = ", ".join(self._term(t) for t in DATED_TYPES)
        part = [f'{xsd}:integer(REPLACE({var}_text, "{DATE_LEX}", "${k}"))' for k in (1, 2, 3)]
        return [
            *lines,
            f'FILTER({var}_type IN ({dated}) && REGEX({var}_text, "{DATE_LEX}"))',
            f"BIND({part[0]} * 10000 + {part[1]} * 100 + {part[2]} AS {var}_key)",
        ]

    # -- operations -----------------------------------------------------------------------

    def _best(self, other: Callable[[str], list[str]], largest: bool | None = None) -> list[str]:
        """Lines keeping the ``?answer`` whose value no other candidate beats."""
        by = self.p.by
        assert by is not None
        if largest is None:
            largest = self.p.op == "argmax"
        beats = ">" if largest else "<"
        lines = [f"# the {'largest' if largest else 'smallest'} {by.domain} value"]
        lines += self._value_key("?answer", by.relation, by.inverse, "?best", by.domain)
        inner = other("_o")
        inner += self._value_key("?other", by.relation, by.inverse, "?rival", by.domain)
        inner.append(f"FILTER(?rival_key {beats} ?best_key)")
        return [*lines, "FILTER NOT EXISTS {", *("  " + x for x in inner), "}"]

    def _compare(self) -> tuple[str, list[str]]:
        p, by = self.p, self.p.by
        assert p.pair is not None and by is not None
        a, b = (self._term(e) for e in p.pair)
        if p.order in ("min", "max"):
            body = self._best(lambda tag: [f"VALUES ?other {{ {a} {b} }}"], p.order == "max")
            return "SELECT DISTINCT ?answer WHERE {", [f"VALUES ?answer {{ {a} {b} }}", *body]
        lines = []
        for term, name in ((a, "first"), (b, "second")):
            keys = self._value_key(term, by.relation, by.inverse, f"?{name}", by.domain)
            lines += [
                f"{{ SELECT (MIN(?{name}_key) AS ?{name}_value) WHERE {{",
                *("  " + x for x in keys),
                "} }",
            ]
        lines.append(f"FILTER(?first_value {p.order} ?second_value)")
        return "ASK {", lines

    def _value(self) -> list[str]:
        chain = self.p.chain
        assert chain is not None
        *head, (rel, inverse) = chain.hops
        nodes = [self._term(chain.topic), *(f"?x{i}" for i in range(1, len(head) + 1))]
        lines = self._path(nodes, head, f"the chain from {nodes[0]}") if head else []
        last = nodes[-1]
        pattern = (
            f"?value {self._term(rel)} {last} ."
            if inverse
            else (f"{last} {self._term(rel)} ?value .")
        )
        differ = " && ".join(f"!sameTerm(?value, {n})" for n in nodes)
        return [*lines, "# its values", pattern, f"FILTER({differ})"]
