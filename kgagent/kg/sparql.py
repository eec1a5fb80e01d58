"""Safe SPARQL bindings: values are joined in as a ``VALUES`` block, never formatted in.

``kg.query("SELECT ?o WHERE { ?s ?p ?o }", bindings={"s": URIRef(...)})`` places
``VALUES (?s) { (<...>) }`` at the start of the query's outermost WHERE group. Each value
is serialized by pyoxigraph as escaped N-Triples, so a literal such as
``'x" } ; DROP ALL #'`` stays one literal. The same rewrite is used for the embedded
store and for remote endpoints, so both backends give identical answers.

The rewrite needs to find the WHERE group, which means skipping strings, IRIs and
comments: :func:`_scan` is a small tokenizer that does only that.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pyoxigraph as ox
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD
from rdflib.query import Result

from kgagent.errors import QueryError
from kgagent.kg.terms import nt, to_ox, to_rdflib

__all__ = ["STANDARD_PREFIXES", "apply_bindings", "query_form", "to_result", "with_prefixes"]

#: prefixes every query and update may use without declaring them
STANDARD_PREFIXES = {
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
    "skos": str(SKOS),
}

_VAR_NAME = re.compile(r"^[A-Za-z0-9_\u00B7\u00C0-\uFFFF]+$")
_IRIREF = re.compile(r"<[^<>\"{}|^`\\\x00-\x20]*>")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_VAR = re.compile(r"[?$]([A-Za-z0-9_\u00B7\u00C0-\uFFFF]+)")
_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")


def _scan(text: str) -> Iterator[tuple[str, str, int]]:
    """Yields (kind, token, offset) for the structural tokens of a SPARQL string.

    kinds: ``word`` (keywords, case preserved), ``var``, ``{``, ``}``, ``(``, ``)``.
    Strings, IRIs, comments and everything else are skipped.
    """
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c in "\"'":
            long = text.startswith(c * 3, i)
            quote = c * 3 if long else c
            j = i + len(quote)
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                if not long and text[j] == "\n":
                    break
                j += 1
            i = j + len(quote)
        elif c == "<":
            m = _IRIREF.match(text, i)
            i = m.end() if m else i + 1
        elif c in "?$":
            m = _VAR.match(text, i)
            if m:
                yield "var", m.group(1), i
                i = m.end()
            else:
                i += 1
        elif c in "{}()":
            yield c, c, i
            i += 1
        elif c.isalpha() or c == "_":
            m = _WORD.match(text, i)
            assert m is not None
            # prefixed names (ex:foo) are not keywords
            end = m.end()
            if end < n and text[end] == ":":
                j = end + 1
                while j < n and not text[j].isspace() and text[j] not in "{}();,.":
                    j += 1
                i = j
                continue
            yield "word", m.group(0), i
            i = end
        else:
            i += 1


def query_form(sparql: str) -> str:
    """The query form (SELECT, ASK, CONSTRUCT, DESCRIBE) or ``UPDATE``."""
    for kind, tok, _ in _scan(sparql):
        if kind == "word":
            up = tok.upper()
            if up in _FORMS:
                return up
            if up in ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "ADD", "MOVE", "COPY"):
                return "UPDATE"
    raise QueryError("not a SPARQL query: no SELECT, ASK, CONSTRUCT, DESCRIBE or update found")


def _where_braces(sparql: str, *, update: bool) -> list[int]:
    """Offsets of the '{' opening each top-level WHERE group."""
    tokens = list(_scan(sparql))
    found: list[int] = []
    depth = paren = 0
    form = None
    expect_group = False  # the next '{' at depth 0 opens the WHERE group
    skip_template = False  # CONSTRUCT {template} comes first
    for idx, (kind, tok, off) in enumerate(tokens):
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
                    found.append(off)
                    expect_group = False
                    if not update:
                        return found
            depth += 1
        elif kind == "}":
            depth -= 1
    return found


def _values_block(bindings: Mapping[str, Any]) -> str:
    names: list[str] = []
    columns: list[list[str]] = []
    rows = 1
    for raw_name, value in bindings.items():
        name = raw_name[1:] if raw_name[:1] in "?$" else raw_name
        if not _VAR_NAME.match(name):
            raise QueryError(f"bindings: {raw_name!r} is not a SPARQL variable name")
        values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        if not values:
            raise QueryError(f"bindings[{raw_name!r}]: empty list of values")
        terms = []
        for k, v in enumerate(values):
            term = to_ox(v, field=f"bindings[{raw_name!r}]" + (f"[{k}]" if len(values) > 1 else ""))
            if term.__class__.__name__ == "BlankNode":
                raise QueryError(f"bindings[{raw_name!r}]: blank nodes can't be bound in SPARQL")
            terms.append(str(term))
        if len(terms) > 1:
            if rows not in (1, len(terms)):
                raise QueryError("bindings: list values must all have the same length")
            rows = len(terms)
        names.append(name)
        columns.append(terms)
    table = [[col[r] if len(col) > 1 else col[0] for col in columns] for r in range(rows)]
    head = " ".join(f"?{n}" for n in names)
    body = " ".join("(" + " ".join(row) + ")" for row in table)
    return f" VALUES ({head}) {{ {body} }} "


def apply_bindings(sparql: str, bindings: Mapping[str, Any] | None, *, update: bool = False) -> str:
    """Returns ``sparql`` with ``bindings`` joined in as a VALUES block.

    Args:
        sparql: the query or update.
        bindings: variable name (with or without ``?``) -> term, or -> list of terms for
            several rows. Plain ``str`` values are literals; use ``rdflib.URIRef`` for IRIs.
        update: True for SPARQL Update (every top-level WHERE group gets the block).

    Raises:
        QueryError: a bound variable does not occur in the query, a value is not a valid
            term, or the query has no WHERE group to bind into.
    """
    if not bindings:
        return sparql
    used = {tok for kind, tok, _ in _scan(sparql) if kind == "var"}
    for raw in bindings:
        name = raw[1:] if raw[:1] in "?$" else raw
        if name not in used:
            raise QueryError(f"bindings: variable ?{name} does not occur in the query")
    braces = _where_braces(sparql, update=update)
    if not braces:
        raise QueryError("bindings given, but the query has no WHERE group to bind them in")
    block = _values_block(bindings)
    out: list[str] = []
    last = 0
    for off in braces:
        out.append(sparql[last : off + 1])
        out.append(block)
        last = off + 1
    out.append(sparql[last:])
    return "".join(out)


def with_prefixes(sparql: str, prefixes: Mapping[str, str] | None) -> str:
    """``sparql`` after PREFIX declarations: the standard ones, then ``prefixes``."""
    decls = dict(STANDARD_PREFIXES)
    decls.update(prefixes or {})
    head = "".join(f"PREFIX {k}: {nt(ox.NamedNode(v))}\n" for k, v in decls.items())
    return head + sparql


def to_result(outcome: Any) -> Result:
    """A backend's :class:`~kgagent.kg.backends.QueryOutcome` as an ``rdflib`` Result."""
    if outcome.kind == "ask":
        res = Result("ASK")
        res.askAnswer = bool(outcome.boolean)
        return res
    if outcome.kind == "select":
        from rdflib import Variable

        res = Result("SELECT")
        res.vars = [Variable(v) for v in outcome.variables]
        res.bindings = [
            {res.vars[i]: to_rdflib(t) for i, t in enumerate(row) if t is not None}
            for row in outcome.rows
        ]
        return res
    from rdflib import Graph

    res = Result("CONSTRUCT")
    g = Graph()
    for t in outcome.triples:
        g.add((to_rdflib(t.subject), to_rdflib(t.predicate), to_rdflib(t.object)))
    res.graph = g
    return res
