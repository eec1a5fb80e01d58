"""Store backends: where the triples live.

A backend is deliberately thin — parse/load, query, update, list and drop graphs — so the
semantics (sources, provenance, bindings, ids) live once in :class:`KnowledgeGraph` and
are identical on every backend. Capability flags (not isinstance checks) tell the graph
what a backend can do, as rdflib's ``Store.context_aware`` does.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

import pyoxigraph as ox
from rdflib.namespace import XSD

from kgagent.errors import QueryError, StoreError
from kgagent.kg.sparql import network_keywords

__all__ = ["Backend", "OxigraphBackend", "QueryOutcome", "read_tsv"]


@dataclass
class QueryOutcome:
    """A backend-neutral query result; terms are pyoxigraph terms."""

    kind: str  # "select" | "ask" | "construct"
    variables: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    boolean: bool | None = None
    triples: list[ox.Triple] = field(default_factory=list)


def read_tsv(data: bytes, columns: int):
    """Parses SPARQL TSV results (terms in N-Triples syntax) into a DataFrame of str.

    pandas' C parser does the splitting, so millions of rows never become Python loops.
    """
    import pandas as pd

    if not data.strip():
        return pd.DataFrame({i: pd.Series([], dtype=object) for i in range(columns)})
    frame = pd.read_csv(
        io.BytesIO(data),
        sep="\t",
        header=0,
        names=list(range(columns)),
        dtype=str,
        quoting=csv.QUOTE_NONE,
        keep_default_na=False,
        na_filter=False,
        engine="c",
        encoding="utf-8",
    )
    return frame


_XSD = str(XSD)


def _bare_literal(token: str) -> str:
    """The N-Triples form of a SPARQL TSV short literal (``2010``, ``1.5``, ``true``)."""
    if token in ("true", "false"):
        kind = "boolean"
    elif token.lstrip("+-").isdigit():
        kind = "integer"
    elif "e" in token.lower():
        kind = "double"
    else:
        kind = "decimal"
    return f'"{token}"^^<{_XSD}{kind}>'


def canonical_terms(terms):
    """A Series of SPARQL TSV terms with short literals spelled out in N-Triples syntax.

    SPARQL TSV may write numbers and booleans bare (Oxigraph does); everything downstream
    (fact ids, literal tests) expects the one N-Triples spelling.
    """
    bare = ~terms.str.startswith(("<", '"', "_:")) & (terms != "")
    if not bare.any():
        return terms
    terms = terms.copy()
    terms[bare] = terms[bare].map(_bare_literal)
    return terms


def literal_mask(terms):
    """Boolean mask of the literals in a Series of N-Triples terms."""
    return terms.str.startswith('"')


class Backend:
    """Interface every store backend implements."""

    name: ClassVar[str] = "abstract"
    #: survives a restart of the process
    persistent: ClassVar[bool] = False
    #: has a default graph distinct from the named graphs that can hold user data
    separate_default_graph: ClassVar[bool] = True
    #: can stream a file into a fresh graph without holding it in memory
    bulk_load: ClassVar[bool] = False
    #: a full scan (:mod:`kgagent.kg.scan`) reads this many rows a query, in pages; None:
    #: one SELECT (a remote endpoint caps, or times out on, a result of the whole graph)
    scan_page_rows: int | None = None

    def load(
        self,
        source: IO[bytes] | bytes,
        *,
        format: ox.RdfFormat,
        graph: str,
        base_iri: str | None,
        fresh: bool,
    ) -> None:
        """Loads a serialization into ``graph``; raises SyntaxError on bad input."""
        raise NotImplementedError

    def insert(self, quads: Iterable[ox.Quad]) -> None:
        raise NotImplementedError

    def query(
        self, sparql: str, *, default_graphs: list[str], include_default: bool
    ) -> QueryOutcome:
        raise NotImplementedError

    def select_tsv(self, sparql: str, *, default_graphs: list[str], include_default: bool) -> bytes:
        """Runs a SELECT and returns SPARQL TSV (header row, N-Triples terms)."""
        raise NotImplementedError

    def select_tsv_to(
        self, sparql: str, path: Path, *, default_graphs: list[str], include_default: bool
    ) -> None:
        """Writes a SELECT's SPARQL TSV to ``path``: a backend that can streams it, so a
        scan of every triple (:mod:`kgagent.kg.scan`) is never held in memory whole."""
        data = self.select_tsv(
            sparql, default_graphs=default_graphs, include_default=include_default
        )
        Path(path).write_bytes(data)

    def update(self, sparql: str) -> None:
        raise NotImplementedError

    def named_graphs(self) -> list[str]:
        raise NotImplementedError

    def graph_size(self, graph: str | None) -> int:
        raise NotImplementedError

    def drop_graph(self, graph: str) -> None:
        raise NotImplementedError

    def dump(self, graphs: list[str], *, include_default: bool) -> bytes:
        """N-Triples of the union of ``graphs`` (the default graph too if asked)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Makes writes durable (no-op where every write already is)."""

    def close(self) -> None:
        """Releases files, locks and connections."""


PARALLEL_MIN_BYTES = 8 << 20


def _parallel_ok(data: bytes) -> bool:
    """Line-based data big enough to split, without blank nodes (whose labels are scoped
    to one parse, so splitting would change their identity)."""
    return len(data) >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) > 1 and b"_:" not in data


def _parallel_bulk_load(store: ox.Store, data: bytes, target: ox.NamedNode) -> None:
    """Bulk-loads N-Triples split at line boundaries, one chunk per core.

    Oxigraph's on-disk bulk loader keeps about one core busy; two halves loaded at once
    take ~55% of the time on 2 cores. A syntax error is re-raised with its line number
    in the whole file.
    """
    workers = os.cpu_count() or 2
    size = max(len(data) // (workers * 2), 1)
    chunks: list[tuple[int, bytes]] = []
    start, line = 0, 1
    while start < len(data):
        end = data.find(b"\n", min(start + size, len(data) - 1))
        end = len(data) if end < 0 else end + 1
        chunk = data[start:end]
        chunks.append((line, chunk))
        line += chunk.count(b"\n")
        start = end

    def load(item: tuple[int, bytes]) -> None:
        first, chunk = item
        try:
            store.bulk_load(input=chunk, format=ox.RdfFormat.N_TRIPLES, to_graph=target)
        except SyntaxError as exc:
            if exc.lineno is not None:
                exc.lineno += first - 1
                exc.msg = re.sub(
                    r"line (\d+)", lambda m: f"line {int(m.group(1)) + first - 1}", exc.msg or ""
                )
                exc.args = (exc.msg, (None, exc.lineno, exc.offset, None, None, None))
            raise

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(load, c) for c in chunks]
        errors = [f.exception() for f in futures]
    first_error = next((e for e in errors if e is not None), None)
    if first_error is not None:
        raise first_error


def _default_graph_list(default_graphs: list[str], include_default: bool) -> list[Any]:
    graphs: list[Any] = [ox.NamedNode(g) for g in default_graphs]
    if include_default:
        graphs.append(ox.DefaultGraph())
    return graphs


def _outcome(result: Any) -> QueryOutcome:
    """A pyoxigraph query result, read to the end, as a QueryOutcome."""
    if isinstance(result, ox.QueryBoolean):
        return QueryOutcome(kind="ask", boolean=bool(result))
    if isinstance(result, ox.QuerySolutions):
        variables = [v.value for v in result.variables]
        rows = [tuple(sol[i] for i in range(len(variables))) for sol in result]
        return QueryOutcome(kind="select", variables=variables, rows=rows)
    return QueryOutcome(kind="construct", triples=list(result))


def _hint(exc: OSError) -> str:
    """What an Oxigraph open error means for the user (RocksDB's words are cryptic)."""
    text = str(exc).lower()
    if "current process" in text:
        return (
            " (this process has it open already: close that KnowledgeGraph or Agent "
            "first, or open both read-only)"
        )
    if "lock" in text:
        return (
            " (another process has it open for writing; commands that only read open it "
            "read-only and run beside it, Python: read_only=True)"
        )
    if isinstance(exc, FileNotFoundError):
        return " (no store there yet; `kgagent init` creates it)"
    return ""


class OxigraphBackend(Backend):
    """Oxigraph, embedded: in memory (``path=None``) or a RocksDB directory on disk."""

    name = "oxigraph"
    bulk_load = True

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = None if path is None else Path(path)
        self.read_only = read_only
        try:
            if self.path is None:
                self.store = ox.Store()
            elif read_only:
                self.store = ox.Store.read_only(str(self.path))
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self.store = ox.Store(str(self.path))
        except OSError as exc:
            what = f"{self.path}: cannot open the Oxigraph store"
            raise StoreError(f"{what}{_hint(exc)}: {exc}") from exc

    @property
    def persistent(self) -> bool:  # type: ignore[override]
        return self.path is not None

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path}: the store was opened read-only")

    def load(self, source, *, format, graph, base_iri, fresh):
        self._check_writable()
        target = ox.NamedNode(graph)
        if fresh and format == ox.RdfFormat.N_TRIPLES and self.path is not None:
            # on disk, the bulk loader is CPU-bound on one core: split the work
            data = source if isinstance(source, bytes) else source.read()
            if _parallel_ok(data):
                _parallel_bulk_load(self.store, data, target)
                return
            source = data
        if fresh and not format.supports_datasets:
            # Streams in parallel, no transaction: the caller drops the fresh graph on
            # failure, which restores the previous state exactly.
            self.store.bulk_load(input=source, format=format, base_iri=base_iri, to_graph=target)
        else:
            # All or nothing: used when quads may land in graphs that already hold data.
            self.store.load(input=source, format=format, base_iri=base_iri, to_graph=target)

    def insert(self, quads):
        self._check_writable()
        self.store.extend(quads)

    def _raw_query(self, sparql: str, default_graphs: list[str], include_default: bool, read):
        """``read(result)`` of a query; errors while running it *or* while reading its
        lazily computed results (a SERVICE call fails there) become QueryError."""
        try:
            result = self.store.query(
                sparql, default_graph=_default_graph_list(default_graphs, include_default)
            )
            return read(result)
        except (SyntaxError, ValueError, RuntimeError) as exc:
            raise QueryError(f"SPARQL query failed: {exc}") from exc
        except OSError as exc:
            raise QueryError(f"SPARQL query failed (store or SERVICE): {exc}") from exc

    def query(self, sparql, *, default_graphs, include_default):
        return self._raw_query(sparql, default_graphs, include_default, _outcome)

    def select_tsv(self, sparql, *, default_graphs, include_default):
        return self._raw_query(
            sparql,
            default_graphs,
            include_default,
            lambda result: result.serialize(format=ox.QueryResultsFormat.TSV),
        )

    def select_tsv_to(self, sparql, path, *, default_graphs, include_default):
        tsv = ox.QueryResultsFormat.TSV
        self._raw_query(
            sparql,
            default_graphs,
            include_default,
            lambda result: result.serialize(output=str(path), format=tsv),
        )

    def update(self, sparql):
        self._check_writable()
        try:
            self.store.update(sparql)
        except (SyntaxError, ValueError, RuntimeError) as exc:
            raise QueryError(f"SPARQL update failed: {exc}") from exc
        except OSError as exc:
            if network_keywords(sparql):  # the LOAD or SERVICE failed, not the disk
                raise QueryError(f"SPARQL update failed (LOAD or SERVICE): {exc}") from exc
            raise StoreError(f"SPARQL update could not be written: {exc}") from exc

    def named_graphs(self):
        return [g.value for g in self.store.named_graphs() if isinstance(g, ox.NamedNode)]

    def graph_size(self, graph):
        pattern = (
            "{ ?s ?p ?o }" if graph is None else f"{{ GRAPH {ox.NamedNode(graph)} {{ ?s ?p ?o }} }}"
        )
        result = self.store.query(f"SELECT (COUNT(*) AS ?n) WHERE {pattern}")
        return int(next(iter(result))[0].value)

    def drop_graph(self, graph):
        self._check_writable()
        node = ox.NamedNode(graph)
        if self.store.contains_named_graph(node):
            self.store.remove_graph(node)

    def dump(self, graphs, *, include_default):
        out = io.BytesIO()
        sources: list[Any] = [ox.NamedNode(g) for g in graphs]
        if include_default:
            sources.append(ox.DefaultGraph())
        for g in sources:
            self.store.dump(out, format=ox.RdfFormat.N_TRIPLES, from_graph=g)
        return out.getvalue()

    def flush(self):
        if self.path is not None and not self.read_only:
            self.store.flush()

    def close(self):
        if self.path is not None and not self.read_only:
            with contextlib.suppress(OSError):
                self.store.flush()
        # pyoxigraph releases the RocksDB lock when the Store is garbage-collected.
        del self.store
