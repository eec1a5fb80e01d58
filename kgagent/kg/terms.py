"""RDF term conversions between pyoxigraph (the engine) and rdflib (the public API).

Users hand kgagent rdflib terms or plain Python values and get rdflib terms back; inside,
pyoxigraph terms are used because their ``str()`` is exact, escaped N-Triples syntax,
which is what keeps query bindings injection-safe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pyoxigraph as ox
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import RDF, XSD
from rdflib.term import Node

from kgagent.errors import QueryError

XSD_STRING = str(XSD.string)
RDF_LANG_STRING = str(RDF.langString)

OxTerm = ox.NamedNode | ox.BlankNode | ox.Literal


def to_rdflib(term: Any) -> Node | None:
    """Converts a pyoxigraph term to the equivalent rdflib term (None stays None)."""
    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        datatype = term.datatype.value
        if datatype == XSD_STRING:
            return Literal(term.value)
        return Literal(term.value, datatype=URIRef(datatype))
    if isinstance(term, ox.DefaultGraph):
        return None
    raise TypeError(f"unsupported pyoxigraph term: {term!r}")


def to_ox(value: Any, *, field: str = "value") -> OxTerm:
    """Converts an rdflib term, a pyoxigraph term or a plain Python value to pyoxigraph.

    Plain ``str`` becomes a literal, never an IRI: an IRI must be passed as
    ``rdflib.URIRef`` (or ``pyoxigraph.NamedNode``) so that user text can't turn into a
    resource by accident. IRIs are validated here (pyoxigraph rejects spaces, ``>`` etc.).

    Raises:
        QueryError: naming ``field`` if the value is not a valid RDF term.
    """
    if isinstance(value, ox.NamedNode | ox.BlankNode | ox.Literal):
        return value
    try:
        if isinstance(value, URIRef):
            return ox.NamedNode(str(value))
        if isinstance(value, BNode):
            return ox.BlankNode(str(value))
        if isinstance(value, Literal):
            if value.language:
                return ox.Literal(str(value), language=value.language)
            if value.datatype is not None:
                return ox.Literal(str(value), datatype=ox.NamedNode(str(value.datatype)))
            return ox.Literal(str(value))
        if isinstance(value, bool | int | float | str) or hasattr(value, "isoformat"):
            return to_ox(Literal(value), field=field)
    except (ValueError, TypeError) as exc:
        raise QueryError(f"{field}: not a valid RDF term ({exc}): {value!r}") from exc
    raise QueryError(f"{field}: cannot use {type(value).__name__} as an RDF term: {value!r}")


def nt(term: Any) -> str:
    """The N-Triples serialization of a term (escaped; safe to splice into SPARQL)."""
    return str(to_ox(term))


def parse_nt_term(text: str) -> OxTerm:
    """Parses one term written in N-Triples syntax (as in SPARQL TSV results)."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        return ox.NamedNode(text[1:-1])
    if text.startswith("_:"):
        return ox.BlankNode(text[2:])
    # Literals: let the N-Triples parser do the unescaping.
    triple = next(
        iter(ox.parse(f"<urn:x:s> <urn:x:p> {text} .", format=ox.RdfFormat.N_TRIPLES)),
    )
    return triple.object


_PARSER_WHERE = re.compile(r"^Parser error [^:]*: |\s*\(line \d+\)$")


def parse_term(text: str, *, prefixes: Mapping[str, str] | None = None) -> OxTerm:
    """Parses one IRI or literal written as in Turtle: ``<http://x>``, ``"Inception"@en``,
    ``"3"^^xsd:integer``, ``'it''s'`` (``prefixes`` name the namespaces ``xsd:`` etc.).

    The text is parsed as the object of one triple and must yield exactly that triple, so
    it can't smuggle in more than one term.

    Raises:
        QueryError: not exactly one IRI or literal in Turtle syntax.
    """
    head = "".join(f"@prefix {k}: {ox.NamedNode(v)} .\n" for k, v in (prefixes or {}).items())
    try:
        triples = list(ox.parse(f"{head}<urn:x:s> <urn:x:p> {text}\n.", format=ox.RdfFormat.TURTLE))
    except (SyntaxError, ValueError) as exc:
        reason = _PARSER_WHERE.sub("", str(exc))  # positions in the wrapper, not in ``text``
        raise QueryError(f"{text!r}: not an IRI or literal in Turtle syntax ({reason})") from exc
    if len(triples) != 1 or isinstance(triples[0].object, ox.BlankNode | ox.Triple):
        raise QueryError(f"{text!r}: expected exactly one IRI or literal")
    return triples[0].object


_LITERAL = re.compile(r'^"(?P<lex>(?:[^"\\]|\\.)*)"(?:@(?P<lang>[\w-]+)|\^\^<(?P<dt>[^>]*)>)?$')
_UNESCAPE = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        c = m.group(1)
        if c[0] in "uU" and len(c) > 1:
            return chr(int(c[1:], 16))
        return _UNESCAPE.get(c, c)

    return _ESCAPE_RE.sub(one, text)


def parse_literal(term: str) -> tuple[str, str | None, str | None]:
    """(lexical form, datatype IRI, language) of a literal in N-Triples syntax."""
    m = _LITERAL.match(term)
    if m is None:
        return term, None, None
    return _unescape(m.group("lex")), m.group("dt"), m.group("lang")


def iri_of(term: str) -> str:
    """The IRI of an N-Triples IRI term (``<x>`` -> ``x``); any other term as it is."""
    return term[1:-1] if term.startswith("<") else term
