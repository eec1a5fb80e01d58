"""``/v1/query``: read-only SPARQL over the agent's graph, answered as JSON.

Everything that makes a query safe is the graph's own (:meth:`KnowledgeGraph.query`):
bindings joined in as escaped terms, never formatted into the text
(:mod:`kgagent.kg.bindings`), and ``SERVICE`` refused. Here: an update is refused before
it reaches the store, ``SERVICE`` stays off whatever the workspace allows (a remote
client must not make the server fetch URLs), request bindings become rdflib terms, and
the result is capped at ``rows``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rdflib import BNode, Literal, URIRef

from kgagent.errors import QueryError
from kgagent.kg.sparql import query_form
from kgagent.kg.terms import nt
from kgagent.serve.errors import ServeError, field_of

__all__ = ["run_query", "sparql_json", "to_term"]


def to_term(binding: Any) -> Any:
    """A request binding as the value ``kg.query`` takes: ``{"iri"}`` -> ``URIRef``;
    ``{"literal", "datatype"}`` or ``{"literal", "lang"}`` -> that exact ``Literal``;
    a bare ``{"literal"}`` -> the text, which matches it in any language or as
    ``xsd:string`` (as ``kgagent query --bind NAME=text`` does)."""
    if binding.iri is not None:
        return URIRef(binding.iri)
    if binding.datatype is not None:
        return Literal(binding.literal, datatype=URIRef(binding.datatype))
    if binding.lang is not None:
        return Literal(binding.literal, lang=binding.lang)
    return str(binding.literal)


def _term_json(term: Any) -> dict[str, str]:
    """One term as SPARQL 1.1 JSON results write it."""
    if isinstance(term, URIRef):
        return {"type": "uri", "value": str(term)}
    if isinstance(term, BNode):
        return {"type": "bnode", "value": str(term)}
    out = {"type": "literal", "value": str(term)}
    if isinstance(term, Literal):
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype is not None:
            out["datatype"] = str(term.datatype)
    return out


def sparql_json(result: Any, rows: int) -> dict[str, Any]:
    """A query result as the contract's JSON, at most ``rows`` rows or triples
    (``"truncated": true`` when there were more)."""
    if result.type == "ASK":
        return {"head": {}, "boolean": bool(result.askAnswer)}
    if result.type in ("CONSTRUCT", "DESCRIBE"):
        triples = []
        for i, triple in enumerate(result.graph):
            if i == rows:
                return {"triples": triples, "truncated": True}
            triples.append([nt(t) for t in triple])
        return {"triples": triples}
    names = [str(v) for v in result.vars]
    out_rows = []
    truncated = False
    for i, row in enumerate(result.bindings):
        if i == rows:
            truncated = True
            break
        out_rows.append({str(v): _term_json(t) for v, t in row.items() if t is not None})
    body: dict[str, Any] = {"head": {"vars": names}, "results": {"bindings": out_rows}}
    if truncated:
        body["truncated"] = True
    return body


def run_query(kg: Any, text: str, bindings: Mapping[str, Any], *, rows: int) -> dict[str, Any]:
    """Runs a SELECT, ASK, CONSTRUCT or DESCRIBE on ``kg``; an update is refused (400,
    field ``query``) and so is ``SERVICE``; any other refusal names ``query`` or the
    binding at fault."""
    try:
        if query_form(text) == "UPDATE":
            raise ServeError(
                "query: a SPARQL update; this service only reads (updates: `kgagent update`)",
                field="query",
            )
        terms = {name: to_term(b) for name, b in bindings.items()}
        result = kg.query(text, bindings=terms or None, allow_service=False)
    except QueryError as exc:
        field = field_of(exc) or "query"
        message = str(exc) if str(exc).startswith(field) else f"{field}: {exc}"
        raise ServeError(message, field=field) from exc
    return sparql_json(result, rows)
