"""A SPARQL 1.1 endpoint on loopback over an in-memory Oxigraph store, for unit tests of
the endpoint backend without a server: the protocol's query and update forms, the
``default-graph-uri`` dataset, JSON results, and (like Virtuoso's ``ResultSetMaxRows``)
an optional cap that silently truncates a SELECT's rows. It records every query."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse

import pyoxigraph as ox

__all__ = ["FakeEndpoint"]


def _json_term(term) -> dict:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    out = {"type": "literal", "value": term.value}
    if term.language:
        out["xml:lang"] = term.language
    else:
        out["datatype"] = term.datatype.value
    return out


class FakeEndpoint(http.server.ThreadingHTTPServer):
    """``with FakeEndpoint() as ep: SparqlEndpointBackend(ep.url)``.

    Args:
        max_rows: rows a SELECT returns at most (the rest silently dropped); None: all.
    """

    def __init__(self, *, max_rows: int | None = None) -> None:
        self.store = ox.Store()
        self.max_rows = max_rows
        self.queries: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                form = urllib.parse.parse_qs(body.decode("utf-8"))
                try:
                    status, ctype, data = server.answer(form)
                except (SyntaxError, ValueError, OSError) as exc:
                    status, ctype, data = 400, "text/plain", str(exc).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sparql"

    def answer(self, form: dict[str, list[str]]) -> tuple[int, str, bytes]:
        with self._lock:
            if "update" in form:
                self.store.update(form["update"][0])
                return 200, "text/plain", b""
            sparql = form["query"][0]
            self.queries.append(sparql)
            graphs = [ox.NamedNode(g) for g in form.get("default-graph-uri", [])]
            kwargs = {"default_graph": graphs} if graphs else {"use_default_graph_as_union": True}
            result = self.store.query(sparql, **kwargs)
            if isinstance(result, ox.QueryBoolean):
                return (
                    200,
                    "application/sparql-results+json",
                    json.dumps({"head": {}, "boolean": bool(result)}).encode(),
                )
            if not isinstance(result, ox.QuerySolutions):  # CONSTRUCT
                nt = "".join(f"{t} .\n" for t in result)
                return 200, "application/n-triples", nt.encode()
            names = [v.value for v in result.variables]
            rows = []
            for sol in result:
                if self.max_rows is not None and len(rows) >= self.max_rows:
                    break
                rows.append({n: _json_term(sol[n]) for n in names if sol[n] is not None})
            doc = {"head": {"vars": names}, "results": {"bindings": rows}}
            return 200, "application/sparql-results+json", json.dumps(doc).encode()

    def __enter__(self) -> FakeEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
