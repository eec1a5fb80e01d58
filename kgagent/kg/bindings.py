"""Safe SPARQL bindings: values are joined in as ``VALUES`` and ``FILTER``, never formatted in.

``kg.query("SELECT ?o WHERE { ?s ?p ?o }", bindings={"s": URIRef(...)})`` places
``VALUES (?s) { (<...>) }`` at the start of the query's outermost WHERE group. Each value
is serialized by pyoxigraph as escaped N-Triples, so a literal such as
``'x" } ; DROP ALL #'`` stays one literal. The same rewrite is used for the embedded
store and for remote endpoints, so both backends give identical answers.

A plain Python ``str`` bound to a variable the query matches against the graph (it
appears in a triple pattern) matches a literal with that text in any language or as an
``xsd:string``: labels are usually language-tagged (``"Inception"@en``), and
``bindings={"l": "Inception"}`` finding nothing surprised every reader of the README.
That is a ``FILTER`` on the variable rather than a ``VALUES`` row (a ``VALUES`` term must
be one exact term), so the variable takes the graph's own term. An exact term (an
``rdflib.Literal`` with its language or datatype, a ``URIRef``) stays a ``VALUES`` row
and uses the store's index; a ``str`` used only as a value in expressions (``FILTER``,
``BIND``) stays a ``VALUES`` row too.

:class:`PreparedQuery` keeps track of what kgagent added (the PREFIX lines, the bindings)
so a syntax error's position can be given in the user's own text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyoxigraph as ox
from rdflib.term import Node

from kgagent.errors import QueryError
from kgagent.kg.sparql import scan, with_prefixes
from kgagent.kg.terms import XSD_STRING, to_ox

__all__ = ["PreparedQuery", "apply_bindings", "prepare"]

_VAR_NAME = re.compile(r"^[A-Za-z0-9_\u00B7\u00C0-\uFFFF]+$")
_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")
_ERROR_AT = re.compile(r"(?<=error at )(\d+):(\d+)")

Token = tuple[str, str, int]


def _where_groups(tokens: list[Token], *, update: bool) -> list[tuple[int, int]]:
    """(index of the '{', index of its '}') in ``tokens`` of each top-level WHERE group."""
    found: list[tuple[int, int]] = []
    depth = paren = 0
    form = None
    expect_group = False  # the next '{' at depth 0 opens the WHERE group
    skip_template = False  # CONSTRUCT {template} comes first
    opened = -1
    for idx, (kind, tok, _) in enumerate(tokens):
        if kind == "word" and depth == 0 and paren == 0:
            up = tok.upper()
            if form is None and up in _FORMS:
                form = up
                if up in ("SELECT", "ASK", "DESCRIBE"):
                    expect_group = True
                elif up == "CONSTRUCT":
                    nxt = tokens[idx + 1] if idx + 1 < len(tokens) else None
                    skip_template = not (nxt and nxt[0] == "word" and nxt[1].upper() == "WHERE")
            elif up == "WHERE":
                if update and idx > 0 and tokens[idx - 1][1].upper() == "DELETE":
                    raise QueryError(
                        "bindings can't be applied to DELETE WHERE {...}; "
                        "write DELETE {...} WHERE {...} instead"
                    )
                expect_group = True
        elif kind == "(":
            paren += 1
        elif kind == ")":
            paren -= 1
        elif kind == "{":
            if depth == 0 and paren == 0:
                if skip_template:
                    skip_template = False
                elif expect_group:
                    opened = idx
                    expect_group = False
            depth += 1
        elif kind == "}":
            depth -= 1
            if depth == 0 and opened >= 0:
                found.append((opened, idx))
                opened = -1
                if not update:
                    break
    if opened >= 0:  # unbalanced: bind anyway, the store reports the syntax error
        found.append((opened, len(tokens)))
    return found


def _pattern_vars(tokens: list[Token], groups: list[tuple[int, int]]) -> set[str]:
    """Variables that occur in a WHERE group outside parentheses: in triple patterns
    (or GRAPH, inline VALUES, a sub-select's projection), where the graph binds them."""
    found: set[str] = set()
    for start, end in groups:
        paren = 0
        for kind, tok, _ in tokens[start + 1 : end]:
            if kind == "(":
                paren += 1
            elif kind == ")":
                paren -= 1
            elif kind == "var" and paren == 0:
                found.add(tok)
    return found


def _is_plain(value: Any) -> bool:
    """A Python ``str``, not an rdflib term (``URIRef`` and ``Literal`` subclass ``str``)."""
    return isinstance(value, str) and not isinstance(value, Node)


def _table(bindings: Mapping[str, Any]) -> tuple[list[str], list[list[tuple[Any, bool]]]]:
    """Variable names and rows of (pyoxigraph term, was a plain str) cells."""
    names: list[str] = []
    columns: list[list[tuple[Any, bool]]] = []
    rows = 1
    for raw_name, value in bindings.items():
        name = raw_name[1:] if raw_name[:1] in "?$" else raw_name
        if not _VAR_NAME.match(name):
            raise QueryError(f"bindings: {raw_name!r} is not a SPARQL variable name")
        values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        if not values:
            raise QueryError(f"bindings[{raw_name!r}]: empty list of values")
        cells = []
        for k, v in enumerate(values):
            term = to_ox(v, field=f"bindings[{raw_name!r}]" + (f"[{k}]" if len(values) > 1 else ""))
            if isinstance(term, ox.BlankNode):
                raise QueryError(f"bindings[{raw_name!r}]: blank nodes can't be bound in SPARQL")
            cells.append((term, _is_plain(v)))
        if len(cells) > 1:
            if rows not in (1, len(cells)):
                raise QueryError("bindings: list values must all have the same length")
            rows = len(cells)
        names.append(name)
        columns.append(cells)
    table = [[col[r] if len(col) > 1 else col[0] for col in columns] for r in range(rows)]
    return names, table


def _loose(var: str, term: Any) -> str:
    """The condition "?var is a literal with ``term``'s text, in any language or as
    xsd:string" (``term`` is serialized by pyoxigraph: escaped, never raw text)."""
    text = str(ox.Literal(term.value))
    return (
        f"(isLITERAL(?{var}) && STR(?{var}) = {text} && "
        f'(LANG(?{var}) != "" || DATATYPE(?{var}) = <{XSD_STRING}>))'
    )


def _block(bindings: Mapping[str, Any], pattern_vars: set[str]) -> str:
    """The VALUES block (exact terms) and FILTER (plain strings matched in a pattern)."""
    names, table = _table(bindings)
    loose = [
        i
        for i, name in enumerate(names)
        if name in pattern_vars and any(row[i][1] for row in table)
    ]
    exact = [i for i in range(len(names)) if i not in loose]
    parts: list[str] = []
    if exact:
        rows = dict.fromkeys(tuple(str(row[i][0]) for i in exact) for row in table)
        head = " ".join(f"?{names[i]}" for i in exact)
        body = " ".join("(" + " ".join(row) + ")" for row in rows)
        parts.append(f"VALUES ({head}) {{ {body} }}")
    if loose:
        alternatives: dict[str, None] = {}
        for row in table:
            conds = [
                _loose(names[i], row[i][0]) if row[i][1] else f"sameTerm(?{names[i]}, {row[i][0]})"
                for i in loose
            ]
            if exact and len(table) > 1:  # keep the row's other values paired with it
                conds += [f"sameTerm(?{names[i]}, {row[i][0]})" for i in exact]
            alternatives["(" + " && ".join(conds) + ")"] = None
        parts.append(f"FILTER({' || '.join(alternatives)})")
    return " " + " ".join(parts) + " "


def _bind(
    sparql: str, bindings: Mapping[str, Any] | None, *, update: bool
) -> tuple[str, list[tuple[int, int]]]:
    """``sparql`` with the bindings joined in, and (offset, length) of each insertion."""
    if not bindings:
        return sparql, []
    tokens = list(scan(sparql))
    used = {tok for kind, tok, _ in tokens if kind == "var"}
    for raw in bindings:
        name = raw[1:] if raw[:1] in "?$" else raw
        if name not in used:
            raise QueryError(f"bindings: variable ?{name} does not occur in the query")
    groups = _where_groups(tokens, update=update)
    if not groups:
        raise QueryError("bindings given, but the query has no WHERE group to bind them in")
    block = _block(bindings, _pattern_vars(tokens, groups))
    out: list[str] = []
    inserts: list[tuple[int, int]] = []
    last = 0
    for start, _ in groups:
        brace = tokens[start][2]
        out.append(sparql[last : brace + 1])
        inserts.append((sum(map(len, out)), len(block)))
        out.append(block)
        last = brace + 1
    out.append(sparql[last:])
    return "".join(out), inserts


def apply_bindings(sparql: str, bindings: Mapping[str, Any] | None, *, update: bool = False) -> str:
    """Returns ``sparql`` with ``bindings`` joined in (see the module docstring).

    Args:
        sparql: the query or update.
        bindings: variable name (with or without ``?``) -> term, or -> list of terms for
            several rows. Plain ``str`` values are literals (matching any language where
            the variable is matched against the graph); use ``rdflib.URIRef`` for IRIs.
        update: True for SPARQL Update (every top-level WHERE group gets the block).

    Raises:
        QueryError: a bound variable does not occur in the query, a value is not a valid
            term, or the query has no WHERE group to bind into.
    """
    return _bind(sparql, bindings, update=update)[0]


@dataclass(frozen=True)
class PreparedQuery:
    """The text a store runs for a user's query, and how to map positions back.

    Attributes:
        text: the query with the PREFIX lines and the bindings kgagent added.
        source: the query as the user wrote it.
        inserts: (offset in ``text``, length) of each addition, in order.
    """

    text: str
    source: str
    inserts: tuple[tuple[int, int], ...]

    def user_position(self, line: int, column: int) -> tuple[int, int]:
        """A 1-based (line, column) in :attr:`text` as a (line, column) in :attr:`source`
        (a position inside an addition maps to where it was inserted)."""
        lines = self.text.split("\n")
        line = min(max(line, 1), len(lines))
        offset = sum(len(x) + 1 for x in lines[: line - 1]) + max(column, 1) - 1
        shift = 0
        for at, length in self.inserts:
            if offset >= at + length:
                shift += length
            elif offset >= at:
                shift += offset - at
                break
            else:
                break
        user = max(0, min(offset - shift, len(self.source)))
        before = self.source[:user]
        return before.count("\n") + 1, user - (before.rfind("\n") + 1) + 1

    def run(self, execute: Callable[[str], Any]) -> Any:
        """``execute(self.text)``, a QueryError's position given in the user's text."""
        try:
            return execute(self.text)
        except QueryError as exc:
            raise QueryError(self.relocate(str(exc))) from exc

    def relocate(self, message: str) -> str:
        """``message`` with the store's ``error at L:C`` given in the user's text."""
        return _ERROR_AT.sub(
            lambda m: "{}:{}".format(*self.user_position(int(m[1]), int(m[2]))), message
        )


def prepare(
    sparql: str,
    bindings: Mapping[str, Any] | None = None,
    prefixes: Mapping[str, str] | None = None,
    *,
    update: bool = False,
) -> PreparedQuery:
    """The query a store runs: standard and given prefixes declared, bindings joined in."""
    bound, inserts = _bind(sparql, bindings, update=update)
    text = with_prefixes(bound, prefixes)
    head = len(text) - len(bound)
    return PreparedQuery(
        text=text,
        source=sparql,
        inserts=((0, head), *((at + head, n) for at, n in inserts)),
    )
