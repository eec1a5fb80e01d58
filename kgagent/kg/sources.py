"""Sources: the bookkeeping that makes every loaded file a removable named graph.

Each source is a named graph of its own plus a record in the metadata graph
``urn:kgagent:meta`` (name, kind, path, format, size, load time, status). The functions
here read and write that record and run the all-or-nothing load protocol on a
:class:`~kgagent.kg.backends.Backend`; they hold no state, so
:class:`~kgagent.kg.graph.KnowledgeGraph` keeps its lock and caches and calls them with its
backend. Split out of ``graph.py`` so the graph reads as its public API.

The load protocol: a new source's record is written with status ``loading`` before any
triple, and new data for an existing source goes to a fresh staging graph that replaces
(``MOVE``) or extends (``ADD``) it in one update once the whole file has parsed. A crash
leaves a ``loading`` record or a staging graph behind, which :func:`recover` rolls back the
next time the store opens.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox
from rdflib.namespace import XSD

from kgagent.errors import KGLoadError
from kgagent.kg.backends import Backend
from kgagent.kg.loaders import syntax_error
from kgagent.kg.terms import nt

__all__ = [
    "INFERRED",
    "INTERNAL",
    "META_GRAPH",
    "STAGING",
    "BytesOpener",
    "LoadReport",
    "Source",
    "delete_meta",
    "drop_graphs",
    "graph_iri",
    "ingest",
    "load_target",
    "recover",
    "remove",
    "source_rows",
    "union_graphs",
    "write_meta",
]

log = logging.getLogger("kgagent.kg.graph")  # load reports keep the graph's logger

INTERNAL = "urn:kgagent:"
META_GRAPH = "urn:kgagent:meta"
STAGING = "urn:kgagent:staging:"
INFERRED = "urn:kgagent:inferred:"
_M = "urn:kgagent:meta#"
_XSD = str(XSD)


@dataclass(frozen=True)
class Source:
    """One loaded source: a file (or inferred triples) in its own named graph."""

    name: str
    graph: str
    kind: str  # "rdf" | "triples" | "inferred"
    path: str | None
    format: str
    triples: int
    loaded_at: str
    #: named graphs a dataset file (N-Quads, TriG, JSON-LD) created besides ``graph``
    extra_graphs: tuple[str, ...] = ()

    @property
    def graphs(self) -> tuple[str, ...]:
        return (self.graph, *self.extra_graphs)


@dataclass(frozen=True)
class LoadReport:
    """What a load did."""

    source: str
    graph: str
    format: str
    triples: int  # triples now in the source graph
    added: int  # triples this load put there (the source's size after a replace)
    seconds: float
    mode: str  # "new" | "replaced" | "appended"

    def __str__(self) -> str:
        rate = self.triples / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"{self.source}: {self.triples:,} triples ({self.format}, {self.mode}) "
            f"into <{self.graph}> in {self.seconds:.2f}s ({rate:,.0f}/s)"
        )


class BytesOpener:
    """A context manager yielding in-memory bytes, like an opened file."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> bytes:
        return self.data

    def __exit__(self, *exc: object) -> None:
        return None


def graph_iri(graph: str) -> str:
    """A user-given graph: an absolute IRI as is, a bare name under urn:kgagent:graph:."""
    if ":" in graph:
        ox.NamedNode(graph)  # validates
        return graph
    return f"urn:kgagent:graph:{quote(graph, safe='')}"


def load_target(path: Path, graph: str | None) -> tuple[str, str, str]:
    """(graph IRI, source name, mode) of a load: a file replaces its own source; an
    explicit graph is appended to."""
    if graph is None:
        return path.as_uri(), path.name, "replace"
    return graph_iri(graph), graph, "append"


# -- the metadata graph ---------------------------------------------------------------------


def source_rows(backend: Backend) -> list[dict[str, Any]]:
    """Every source record, complete or not, oldest first (``status`` tells which)."""
    q = f"""
        SELECT ?g ?name ?kind ?path ?format ?triples ?at ?status WHERE {{
          GRAPH <{META_GRAPH}> {{
            ?g a <{_M}Source> ; <{_M}name> ?name ; <{_M}kind> ?kind ;
               <{_M}format> ?format ; <{_M}status> ?status ; <{_M}loadedAt> ?at .
            OPTIONAL {{ ?g <{_M}path> ?path }}
            OPTIONAL {{ ?g <{_M}triples> ?triples }}
          }}
        }} ORDER BY ?at ?g"""
    out = backend.query(q, default_graphs=[], include_default=True)
    extra: dict[str, list[str]] = {}
    for g, x in backend.query(
        f"SELECT ?g ?x WHERE {{ GRAPH <{META_GRAPH}> {{ ?g <{_M}extraGraph> ?x }} }}",
        default_graphs=[],
        include_default=True,
    ).rows:
        extra.setdefault(g.value, []).append(x.value)
    rows = []
    for r in out.rows:
        g, name, kind, path, fmt, triples, at, status = (None if t is None else t.value for t in r)
        rows.append(
            {
                "graph": g,
                "name": name,
                "kind": kind,
                "path": path,
                "format": fmt,
                "triples": int(triples) if triples is not None else 0,
                "loaded_at": at,
                "status": status,
                "extra": tuple(sorted(extra.get(g, ()))),
            }
        )
    return rows


def write_meta(backend: Backend, graph: str, **fields: Any) -> None:
    """Replaces the record of ``graph`` (None fields are left out; lists are IRIs)."""
    delete_meta(backend, graph)
    g = nt(ox.NamedNode(graph))
    parts = [f"{g} a <{_M}Source>"]
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            if value:
                objs = ", ".join(nt(ox.NamedNode(v)) for v in value)
                parts.append(f"<{_M}{key}> {objs}")
            continue
        if isinstance(value, int):
            lit = f'"{value}"^^<{_XSD}integer>'
        else:
            lit = nt(ox.Literal(str(value)))
        parts.append(f"<{_M}{key}> {lit}")
    backend.update(f"INSERT DATA {{ GRAPH <{META_GRAPH}> {{ {' ; '.join(parts)} . }} }}")


def delete_meta(backend: Backend, graph: str) -> None:
    """Removes the record of ``graph`` (its data graphs stay)."""
    g = nt(ox.NamedNode(graph))
    backend.update(
        f"DELETE {{ GRAPH <{META_GRAPH}> {{ {g} ?p ?o }} }} "
        f"WHERE {{ GRAPH <{META_GRAPH}> {{ {g} ?p ?o }} }}"
    )


def drop_graphs(backend: Backend, graph: str, extra: tuple[str, ...] = ()) -> None:
    """Drops a source's graph and the extra graphs its dataset file created."""
    for g in (graph, *extra):
        backend.drop_graph(g)


def remove(backend: Backend, src: Source, *, sources: list[Source]) -> None:
    """Drops ``src``'s graphs and record, and, unless it is inferred, every inferred source
    of ``sources`` (they may depend on it); the caller flushes and counts."""
    write_meta(
        backend,
        src.graph,
        name=src.name,
        kind=src.kind,
        path=src.path,
        format=src.format,
        loadedAt=src.loaded_at,
        status="removing",
    )
    drop_graphs(backend, src.graph, src.extra_graphs)
    delete_meta(backend, src.graph)
    if src.kind != "inferred":
        for other in sources:
            if other.kind == "inferred":
                drop_graphs(backend, other.graph)
                delete_meta(backend, other.graph)
                log.info("dropped %s (it may depend on %s)", other.name, src.name)


def recover(backend: Backend) -> None:
    """Rolls back loads a crash interrupted (status still 'loading') and staging graphs."""
    if getattr(backend, "read_only", False):
        return
    stale = [s for s in source_rows(backend) if s["status"] != "complete"]
    for s in stale:
        log.warning("rolling back the interrupted load of %s", s["name"])
        drop_graphs(backend, s["graph"], s["extra"])
        delete_meta(backend, s["graph"])
    for g in backend.named_graphs():
        if g.startswith(STAGING):
            backend.drop_graph(g)
    if stale:
        backend.flush()


def union_graphs(backend: Backend) -> list[str]:
    """Named graphs that make up the queryable union (internal graphs excluded)."""
    graphs: set[str] = set()
    pending: set[str] = set()  # loads in progress (or interrupted): not visible yet
    for s in source_rows(backend):
        target = graphs if s["status"] == "complete" else pending
        target.update((s["graph"], *s["extra"]))
    if backend.separate_default_graph:
        # graphs made by SPARQL updates are part of the union too
        graphs.update(
            g for g in backend.named_graphs() if not g.startswith(INTERNAL) and g not in pending
        )
    return sorted(graphs)


# -- loading --------------------------------------------------------------------------------


def ingest(
    backend: Backend,
    *,
    sources: list[Source],
    opener: Any,
    fmt: ox.RdfFormat,
    fmt_name: str,
    graph: str,
    name: str,
    path: Path | None,
    kind: str,
    base_iri: str | None,
    mode: str,
    sniffed: str | None = None,
) -> LoadReport:
    """Loads one parsed stream as a source, all or nothing (the caller holds its lock).

    Args:
        sources: the complete sources now (``graph``'s previous record, if any, is one).
        opener: a zero-argument callable giving a context manager over the data.
        mode: ``"replace"`` the source's content, or ``"append"`` to it.
        sniffed: what the content looks like, for a syntax error that says so.

    Raises:
        KGLoadError: the data did not parse or could not be read; the store is unchanged.
    """
    t0 = time.perf_counter()
    previous = next((s for s in sources if s.graph == graph), None)
    exists = previous is not None or graph in backend.named_graphs()
    before = backend.graph_size(graph) if exists else 0
    # new data goes to a fresh graph: the source itself, or a staging graph that
    # replaces/extends it in one update once the whole file has parsed
    target = f"{STAGING}{uuid.uuid4().hex}" if exists else graph
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    meta = {
        "name": previous.name if previous and mode == "append" else name,
        "kind": kind,
        "path": str(path) if path else None,
        "format": fmt_name,
        "loadedAt": stamp,
    }
    graphs_before = set(backend.named_graphs()) if fmt.supports_datasets else set()
    if not exists:
        write_meta(backend, graph, **meta, status="loading")
    try:
        with opener() as stream:
            backend.load(stream, format=fmt, graph=target, base_iri=base_iri, fresh=True)
    except SyntaxError as exc:
        _rollback(backend, graph, target, exists)
        raise syntax_error(
            exc, path=path, fmt_name=fmt_name, opener=opener, sniffed=sniffed
        ) from exc
    except (OSError, EOFError, ValueError) as exc:
        _rollback(backend, graph, target, exists)
        raise KGLoadError(f"cannot load: {exc}", path=path) from exc
    except BaseException:
        _rollback(backend, graph, target, exists)
        raise
    if exists:
        op = "MOVE" if mode == "replace" else "ADD"
        backend.update(
            f"{op} <{target}> TO <{graph}>"
            + ("" if op == "MOVE" else f" ; DROP SILENT GRAPH <{target}>")
        )
    extra = sorted(
        set(previous.extra_graphs if previous else ())
        | (set(backend.named_graphs()) - graphs_before if fmt.supports_datasets else set())
        - {graph, target, META_GRAPH}
    )
    triples = sum(backend.graph_size(g) for g in (graph, *extra))
    write_meta(backend, graph, **meta, triples=triples, extraGraph=extra, status="complete")
    backend.flush()
    added = triples - before if mode != "replace" else triples
    mode_done = "new" if not exists else ("replaced" if mode == "replace" else "appended")
    report = LoadReport(name, graph, fmt_name, triples, added, time.perf_counter() - t0, mode_done)
    log.info("%s", report)
    return report


def _rollback(backend: Backend, graph: str, target: str, exists: bool) -> None:
    backend.drop_graph(target)
    if not exists:
        delete_meta(backend, graph)
