"""SPARQL text, read without a full parser: its form, its network keywords, its prefixes.

:func:`scan` is a small tokenizer that skips strings, IRIs, prefixed names and comments,
so the structural words it yields are really keywords. The binding rewrite
(:mod:`kgagent.kg.bindings`) finds the WHERE group with it, :func:`query_form` tells a
query from an update, and :func:`network_keywords` finds ``SERVICE`` and ``LOAD``, which
make the store itself fetch a URL (an SSRF path wherever query text can be influenced),
so :class:`~kgagent.kg.graph.KnowledgeGraph` refuses them unless allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pyoxigraph as ox
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD
from rdflib.query import Result

from kgagent.errors import QueryError
from kgagent.kg.terms import nt, to_rdflib

__all__ = [
    "STANDARD_PREFIXES",
    "network_keywords",
    "query_form",
    "refuse_network",
    "scan",
    "to_result",
    "with_prefixes",
]

#: prefixes every query and update may use without declaring them
STANDARD_PREFIXES = {
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
    "skos": str(SKOS),
}

_IRIREF = re.compile(r"<[^<>\"{}|^`\\\x00-\x20]*>")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_NAME = re.compile(r"[\w\-.\u00B7]*[\w\-\u00B7]|\w")  # a prefix or blank node label
_LOCAL = re.compile(r"(?:[\w\-:.\u00B7]|%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%])*")
_LANGTAG = re.compile(r"@[A-Za-z]+(?:-[A-Za-z0-9]+)*")
_NUMBER = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?")
_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_NETWORK = ("SERVICE", "LOAD")
_VAR = re.compile(r"[?$]([A-Za-z0-9_\u00B7\u00C0-\uFFFF]+)")
_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")


def scan(text: str) -> Iterator[tuple[str, str, int]]:
    """Yields (kind, token, offset) for the structural tokens of a SPARQL string.

    kinds: ``word`` (keywords, case preserved), ``var``, ``{``, ``}``, ``(``, ``)``.
    Strings (with their language tag), IRIs, prefixed names, blank node labels, numbers,
    comments and everything else are skipped, following the SPARQL grammar's terminals,
    so a keyword inside a literal, an IRI or a comment is never taken for one.
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
            tag = _LANGTAG.match(text, i)
            if tag:
                i = tag.end()
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
        elif c == ":":
            i = _local_end(text, i + 1)  # a prefixed name with the empty prefix
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            i = m.end() if m else i + 1
        elif c.isalpha() or c == "_":
            m = _WORD.match(text, i)
            if m is None:  # a letter no keyword starts with: part of a name
                m = _NAME.match(text, i)
                assert m is not None
                end = m.end()
                i = _local_end(text, end + 1) if text.startswith(":", end) else end
                continue
            # prefixed names (ex:foo) and blank node labels (_:b) are not keywords
            end = m.end()
            if end < n and text[end] in ":.":
                pname = _NAME.match(text, i)
                assert pname is not None
                if text.startswith(":", pname.end()):
                    i = _local_end(text, pname.end() + 1)
                    continue
            yield "word", m.group(0), i
            i = end
        else:
            i += 1


def _local_end(text: str, i: int) -> int:
    """The end of the local part of a prefixed name that starts at ``i``."""
    m = _LOCAL.match(text, i)
    end = m.end() if m else i
    while end > i and text[end - 1] == ".":  # a local name does not end with a dot
        end -= 1
    return end


def _unescape_codepoints(text: str) -> str:
    """``text`` with SPARQL's ``\\uXXXX``/``\\UXXXXXXXX`` escapes decoded, which the
    grammar allows anywhere in a query (SPARQL 1.1 §19.2) and some servers apply."""
    return _CODEPOINT.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def network_keywords(sparql: str) -> list[str]:
    """The keywords of ``sparql`` that make a store fetch a URL: ``SERVICE`` (a federated
    query) and ``LOAD`` (an update that downloads a document).

    Read with the tokenizer of :func:`scan`, so a keyword in a comment, a string or an
    IRI does not count; ``\\u`` escapes are decoded first as well, so an escaped keyword
    does count.
    """
    found: list[str] = []
    for text in dict.fromkeys((sparql, _unescape_codepoints(sparql))):
        for kind, tok, _ in scan(text):
            up = tok.upper()
            if kind == "word" and up in _NETWORK and up not in found:
                found.append(up)
    return found


def refuse_network(sparql: str, *, allowed: bool) -> None:
    """Raises QueryError if ``sparql`` uses SERVICE or LOAD and that is not ``allowed``."""
    found = network_keywords(sparql)
    if found and not allowed:
        raise QueryError(
            f"SPARQL {' and '.join(found)} is off: it makes the store fetch a URL, which "
            "whoever writes the query could point at internal services; allow it with "
            "allow_service=True (CLI: --allow-service; kgagent.yaml: kg.allow_service: true)"
        )


def query_form(sparql: str) -> str:
    """The query form (SELECT, ASK, CONSTRUCT, DESCRIBE) or ``UPDATE``."""
    for kind, tok, _ in scan(sparql):
        if kind == "word":
            up = tok.upper()
            if up in _FORMS:
                return up
            if up in ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "ADD", "MOVE", "COPY"):
                return "UPDATE"
    raise QueryError("not a SPARQL query: no SELECT, ASK, CONSTRUCT, DESCRIBE or update found")


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
