"""A remote SPARQL 1.1 endpoint as a store backend (Virtuoso, Fuseki, GraphDB, ...).

Files are parsed *locally* first — a syntax error never reaches the server — then sent in
batches: ``INSERT DATA`` (portable; 1,000 triples a request, under Virtuoso's limit of
~1,400) or, when the server has a SPARQL 1.1 Graph Store endpoint, N-Triples POSTs of
50,000 triples (about 25x faster on Virtuoso). If a batch fails, the graph being loaded
is dropped again. Blank nodes are skolemized (``/.well-known/genid/`` IRIs): many servers
refuse them in ``INSERT DATA``, and a blank node split across two requests would become
two nodes. The dataset of every query is set with the protocol's ``default-graph-uri``
parameters, so the server's own system graphs never leak into answers.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pyoxigraph as ox
from rdflib.namespace import XSD

from kgagent.errors import QueryError, StoreError
from kgagent.kg.backends import Backend, QueryOutcome
from kgagent.kg.sparql import query_form

__all__ = ["SparqlEndpointBackend"]

_XSD_STRING = str(XSD.string)
GENID = "http://kgagent.local/.well-known/genid/"
# The default graph of a query over an empty union: no one writes to it, so it reads empty.
_EMPTY_GRAPH = "urn:kgagent:empty-union"


def _skolem(term):
    return ox.NamedNode(GENID + term.value) if isinstance(term, ox.BlankNode) else term


def _term_from_json(b: dict[str, Any]):
    kind = b["type"]
    if kind == "uri":
        return ox.NamedNode(b["value"])
    if kind == "bnode":
        return ox.BlankNode(_bnode_id(b["value"]))
    lang = b.get("xml:lang")
    if lang:
        return ox.Literal(b["value"], language=lang)
    dt = b.get("datatype")
    if dt and dt != _XSD_STRING:
        return ox.Literal(b["value"], datatype=ox.NamedNode(dt))
    return ox.Literal(b["value"])


def _bnode_id(value: str) -> str:
    """Blank node labels from servers (e.g. Virtuoso's ``nodeID://b123``) made N-Triples-safe."""
    safe = "".join(c if c.isalnum() else "_" for c in value)
    return safe if safe[:1].isalpha() else f"b{safe}"


class SparqlEndpointBackend(Backend):
    """Talks to a SPARQL 1.1 Query + Update endpoint over HTTP."""

    name = "sparql"
    persistent = True
    separate_default_graph = False

    def __init__(
        self,
        query_endpoint: str,
        *,
        update_endpoint: str | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 60.0,
        graph_store_endpoint: str | None = None,
        batch_size: int = 1000,
        graph_store_batch_size: int = 50_000,
        scan_page_rows: int = 10_000,  # Virtuoso's default ResultSetMaxRows
    ) -> None:
        self.query_endpoint = query_endpoint
        self.scan_page_rows = scan_page_rows
        self.update_endpoint = update_endpoint or query_endpoint
        self.graph_store_endpoint = graph_store_endpoint
        self.graph_store_batch_size = graph_store_batch_size
        self.timeout = timeout
        self.batch_size = batch_size
        handlers: list[Any] = []
        self._auth_header = None
        if auth is not None:
            mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            for url in {self.query_endpoint, self.update_endpoint}:
                mgr.add_password(None, url, auth[0], auth[1])
            handlers.append(urllib.request.HTTPDigestAuthHandler(mgr))
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self._auth_header = f"Basic {token}"
        self._opener = urllib.request.build_opener(*handlers)
        try:
            self._post(self.query_endpoint, {"query": "ASK { }"}, "application/sparql-results+json")
        except StoreError as exc:
            raise StoreError(f"cannot reach SPARQL endpoint {query_endpoint}: {exc}") from exc

    # -- HTTP ---------------------------------------------------------------------------

    def _post(
        self,
        url: str,
        form: dict[str, Any],
        accept: str,
        *,
        body: bytes | None = None,
        content_type: str = "application/x-www-form-urlencoded; charset=utf-8",
    ) -> tuple[bytes, str]:
        pairs: list[tuple[str, str]] = []
        for k, v in form.items():
            if isinstance(v, list):
                pairs.extend((k, x) for x in v)
            else:
                pairs.append((k, v))
        encoded = urllib.parse.urlencode(pairs)
        if body is None:
            body = encoded.encode("utf-8")
        else:
            url = f"{url}?{encoded}"
        req = urllib.request.Request(url, data=body, method="POST")
        req.add_header("Content-Type", content_type)
        req.add_header("Accept", accept)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip()[:500]
            if exc.code in (400, 500) and ("query" in form or "update" in form):
                raise QueryError(f"{url} rejected the request (HTTP {exc.code}): {detail}") from exc
            raise StoreError(f"{url}: HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise StoreError(f"{url}: {getattr(exc, 'reason', exc)}") from exc

    def _dataset(self, default_graphs: list[str], include_default: bool) -> dict[str, Any]:
        """The protocol's dataset parameters for a query over ``default_graphs``.

        Sending no ``default-graph-uri`` means "the server's default", which on Virtuoso
        is every graph it holds, system graphs included. So an empty union (a graph with
        no sources yet) names a graph nobody writes, and reads as empty; only the internal
        queries that ask for the server's default (``include_default``) get it.
        """
        if default_graphs:
            return {"default-graph-uri": list(default_graphs)}
        return {} if include_default else {"default-graph-uri": [_EMPTY_GRAPH]}

    # -- Backend ------------------------------------------------------------------------

    def load(self, source, *, format, graph, base_iri, fresh):
        data = source if isinstance(source, bytes | str) else source.read()
        quads = list(ox.parse(data, format=format, base_iri=base_iri))  # SyntaxError first
        target = ox.NamedNode(graph)
        self.insert(
            ox.Quad(
                _skolem(q.subject),
                q.predicate,
                _skolem(q.object),
                target if isinstance(q.graph_name, ox.DefaultGraph) else q.graph_name,
            )
            for q in quads
        )

    def insert(self, quads):
        size = self.graph_store_batch_size if self.graph_store_endpoint else self.batch_size
        batch: dict[str, list[str]] = {}
        count = 0
        for q in quads:
            batch.setdefault(str(q.graph_name), []).append(
                f"{_skolem(q.subject)} {q.predicate} {_skolem(q.object)} ."
            )
            count += 1
            if count >= size:
                self._send(batch)
                batch, count = {}, 0
        if batch:
            self._send(batch)

    def _send(self, batch: dict[str, list[str]]) -> None:
        if not self.graph_store_endpoint:
            self._insert_batch(batch)
            return
        for g, lines in batch.items():
            if g == "DEFAULT":
                self._insert_batch({g: lines})
                continue
            self._post(
                self.graph_store_endpoint,
                {"graph": g[1:-1]},
                "*/*",
                body=("\n".join(lines) + "\n").encode("utf-8"),
                content_type="application/n-triples",
            )

    def _insert_batch(self, batch: dict[str, list[str]]) -> None:
        parts = []
        for g, lines in batch.items():
            body = "\n".join(lines)
            parts.append(body if g == "DEFAULT" else f"GRAPH {g} {{\n{body}\n}}")
        self.update("INSERT DATA {\n" + "\n".join(parts) + "\n}")

    def query(self, sparql, *, default_graphs, include_default):
        form = query_form(sparql)
        if form in ("CONSTRUCT", "DESCRIBE"):
            body, ctype = self._post(
                self.query_endpoint,
                {"query": sparql, **self._dataset(default_graphs, include_default)},
                "application/n-triples, text/plain;q=0.9, text/turtle;q=0.8",
            )
            fmt = ox.RdfFormat.TURTLE if "turtle" in ctype else ox.RdfFormat.N_TRIPLES
            try:
                triples = [q.triple for q in ox.parse(body, format=fmt)]
            except SyntaxError:
                triples = [q.triple for q in ox.parse(body, format=ox.RdfFormat.TURTLE)]
            return QueryOutcome(kind="construct", triples=triples)
        body, _ = self._post(
            self.query_endpoint,
            {"query": sparql, **self._dataset(default_graphs, include_default)},
            "application/sparql-results+json",
        )
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise StoreError(
                f"{self.query_endpoint}: answer is not SPARQL JSON: {body[:200]!r}"
            ) from exc
        if "boolean" in doc:
            return QueryOutcome(kind="ask", boolean=bool(doc["boolean"]))
        variables = list(doc["head"].get("vars", []))
        rows = [
            tuple(_term_from_json(b[v]) if v in b else None for v in variables)
            for b in doc["results"]["bindings"]
        ]
        return QueryOutcome(kind="select", variables=variables, rows=rows)

    def select_tsv(self, sparql, *, default_graphs, include_default):
        out = self.query(sparql, default_graphs=default_graphs, include_default=include_default)
        lines = ["\t".join(f"?{v}" for v in out.variables)]
        lines.extend("\t".join("" if t is None else str(t) for t in row) for row in out.rows)
        return ("\n".join(lines) + "\n").encode("utf-8")

    def update(self, sparql):
        self._post(self.update_endpoint, {"update": sparql}, "*/*")

    def named_graphs(self):
        out = self.query(
            "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }",
            default_graphs=[],
            include_default=True,  # the server's own dataset: every named graph
        )
        return [r[0].value for r in out.rows if isinstance(r[0], ox.NamedNode)]

    def graph_size(self, graph):
        out = self.query(
            f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {ox.NamedNode(graph)} {{ ?s ?p ?o }} }}",
            default_graphs=[],
            include_default=True,
        )
        return int(out.rows[0][0].value)

    def drop_graph(self, graph):
        self.update(f"DROP SILENT GRAPH {ox.NamedNode(graph)}")

    def dump(self, graphs, *, include_default):
        if not graphs:
            return b""
        out = self.query(
            "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }",
            default_graphs=graphs,
            include_default=False,
        )
        return "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in out.triples).encode()
