"""KnowledgeGraph: one object over any store backend, with sources, ids and safe queries.

Every file loaded becomes a *source*: its own named graph (its provenance), recorded in
an internal metadata graph with its path, format, size and load time. Queries see the
union of all sources (plus the store's default graph), so loading, removing and
re-loading a file is how users curate what the agent may answer from.

Loads are all-or-nothing. A file is fully parsed before anything it contains becomes
visible; on a syntax error the store keeps exactly what it had. A load interrupted by a
crash is marked ``loading`` in the metadata and rolled back the next time the store opens.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox
from rdflib.query import Result

from kgagent.errors import KGLoadError, QueryError, StoreError
from kgagent.kg.backends import Backend, OxigraphBackend, canonical_terms, read_tsv
from kgagent.kg.formats import resolve_file
from kgagent.kg.loaders import read_delimited, syntax_error
from kgagent.kg.sparql import apply_bindings, query_form
from kgagent.kg.terms import nt, to_rdflib
from kgagent.kg.vocab import Vocabulary

__all__ = ["KnowledgeGraph", "LoadReport", "Source"]

log = logging.getLogger(__name__)

INTERNAL = "urn:kgagent:"
META_GRAPH = "urn:kgagent:meta"
STAGING = "urn:kgagent:staging:"
INFERRED = "urn:kgagent:inferred:"
_M = "urn:kgagent:meta#"
_XSD = "http://www.w3.org/2001/XMLSchema#"
STANDARD_PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": _XSD,
    "skos": "http://www.w3.org/2004/02/skos/core#",
}


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


def _graph_iri(graph: str) -> str:
    """A user-given graph: an absolute IRI as is, a bare name under urn:kgagent:graph:."""
    if ":" in graph:
        ox.NamedNode(graph)  # validates
        return graph
    return f"urn:kgagent:graph:{quote(graph, safe='')}"


def _target(path: Path, graph: str | None) -> tuple[str, str, str]:
    """(graph IRI, source name, mode) of a load: a file replaces its own source; an
    explicit graph is appended to."""
    if graph is None:
        return path.as_uri(), path.name, "replace"
    return _graph_iri(graph), graph, "append"


class KnowledgeGraph:
    """A knowledge graph over an embedded or remote RDF store.

    Use ``KnowledgeGraph()`` for memory, :meth:`open` for a persistent directory,
    :meth:`connect` for a SPARQL 1.1 endpoint. The same API and the same answers on all.

    Args:
        store: a backend instance, or a registered backend name (``"oxigraph"``,
            ``"sparql"``) built with ``store_kwargs``.
        store_kwargs: arguments for the named backend.
        vocab_dir: where the entity/relation id tables persist (None: in memory).
        lang: preferred language for labels.
    """

    def __init__(
        self,
        *,
        store: Backend | str = "oxigraph",
        store_kwargs: Mapping[str, Any] | None = None,
        vocab_dir: str | Path | None = None,
        lang: str = "en",
    ) -> None:
        if isinstance(store, str):
            from kgagent.kg import STORE_BACKENDS

            store = STORE_BACKENDS.get(store)(**dict(store_kwargs or {}))
        self.backend: Backend = store
        self.lang = lang
        self.directory: Path | None = None
        self._lock = threading.RLock()
        self._generation = 0
        self._cache: dict[str, tuple[int, Any]] = {}
        self._triples: tuple[int, weakref.ref] | None = None  # (generation, frame)
        self._vocab = Vocabulary(vocab_dir)
        self._vocab_generation = -1
        self._recover()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False, lang: str = "en") -> KnowledgeGraph:
        """Opens (or creates) a persistent graph in directory ``path``.

        Layout: ``path/store/`` (Oxigraph) and ``path/vocab/`` (id tables) — the same
        layout an agent workspace uses, so a workspace directory opens directly.
        """
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root}: exists and is not a directory")
        backend = OxigraphBackend(root / "store", read_only=read_only)
        kg = cls(store=backend, vocab_dir=root / "vocab", lang=lang)
        kg.directory = root
        return kg

    @classmethod
    def connect(
        cls,
        query_endpoint: str,
        update_endpoint: str | None = None,
        auth: tuple[str, str] | None = None,
        *,
        graph_store_endpoint: str | None = None,
        vocab_dir: str | Path | None = None,
        timeout: float = 60.0,
        lang: str = "en",
    ) -> KnowledgeGraph:
        """Connects to any SPARQL 1.1 endpoint (Virtuoso, Fuseki, GraphDB, QLever...).

        Args:
            graph_store_endpoint: the server's SPARQL 1.1 Graph Store HTTP Protocol URL
                (Virtuoso: ``http://host:8890/sparql-graph-crud``), for fast bulk loads;
                without it, loads use batched ``INSERT DATA``.
            vocab_dir: where the entity/relation id tables persist (else in memory).
        """
        from kgagent.kg.endpoint import SparqlEndpointBackend

        backend = SparqlEndpointBackend(
            query_endpoint,
            update_endpoint=update_endpoint,
            auth=auth,
            timeout=timeout,
            graph_store_endpoint=graph_store_endpoint,
        )
        return cls(store=backend, vocab_dir=vocab_dir, lang=lang)

    def close(self) -> None:
        """Flushes and releases the store (the directory lock of a persistent graph)."""
        with self._lock:
            if getattr(self, "backend", None) is not None:
                self.backend.close()
                self.backend = None  # type: ignore[assignment]

    def __enter__(self) -> KnowledgeGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.directory or getattr(self.backend, "query_endpoint", "memory")
        return f"KnowledgeGraph({where}, sources={len(self.sources())})"

    # -- internals ----------------------------------------------------------------------

    def _changed(self) -> None:
        self._generation += 1
        self._cache.clear()

    def _cached(self, key: str, compute):
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self._generation:
            return hit[1]
        value = compute()
        self._cache[key] = (self._generation, value)
        return value

    def _meta_update(self, sparql: str) -> None:
        self.backend.update(sparql)

    def _recover(self) -> None:
        """Rolls back loads a crash interrupted (status still 'loading')."""
        if getattr(self.backend, "read_only", False):
            return
        stale = [s for s in self._source_rows() if s["status"] != "complete"]
        for s in stale:
            log.warning("rolling back the interrupted load of %s", s["name"])
            self._drop_source_graphs(s["graph"], s["extra"])
            self._delete_meta(s["graph"])
        for g in self.backend.named_graphs():
            if g.startswith(STAGING):
                self.backend.drop_graph(g)
        if stale:
            self.backend.flush()

    def _source_rows(self) -> list[dict[str, Any]]:
        q = f"""
            SELECT ?g ?name ?kind ?path ?format ?triples ?at ?status WHERE {{
              GRAPH <{META_GRAPH}> {{
                ?g a <{_M}Source> ; <{_M}name> ?name ; <{_M}kind> ?kind ;
                   <{_M}format> ?format ; <{_M}status> ?status ; <{_M}loadedAt> ?at .
                OPTIONAL {{ ?g <{_M}path> ?path }}
                OPTIONAL {{ ?g <{_M}triples> ?triples }}
              }}
            }} ORDER BY ?at ?g"""
        out = self.backend.query(q, default_graphs=[], include_default=True)
        extra: dict[str, list[str]] = {}
        for g, x in self.backend.query(
            f"SELECT ?g ?x WHERE {{ GRAPH <{META_GRAPH}> {{ ?g <{_M}extraGraph> ?x }} }}",
            default_graphs=[],
            include_default=True,
        ).rows:
            extra.setdefault(g.value, []).append(x.value)
        rows = []
        for r in out.rows:
            g, name, kind, path, fmt, triples, at, status = (
                None if t is None else t.value for t in r
            )
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

    def _write_meta(self, graph: str, **fields: Any) -> None:
        self._delete_meta(graph)
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
        self._meta_update(f"INSERT DATA {{ GRAPH <{META_GRAPH}> {{ {' ; '.join(parts)} . }} }}")

    def _delete_meta(self, graph: str) -> None:
        g = nt(ox.NamedNode(graph))
        self._meta_update(
            f"DELETE {{ GRAPH <{META_GRAPH}> {{ {g} ?p ?o }} }} "
            f"WHERE {{ GRAPH <{META_GRAPH}> {{ {g} ?p ?o }} }}"
        )

    def _drop_source_graphs(self, graph: str, extra: tuple[str, ...] = ()) -> None:
        for g in (graph, *extra):
            self.backend.drop_graph(g)

    def _union(self) -> list[str]:
        """Named graphs that make up the queryable union (internal graphs excluded)."""

        def compute() -> list[str]:
            graphs: set[str] = set()
            pending: set[str] = set()  # loads in progress (or interrupted): not visible yet
            for s in self._source_rows():
                target = graphs if s["status"] == "complete" else pending
                target.update((s["graph"], *s["extra"]))
            if self.backend.separate_default_graph:
                # graphs made by SPARQL updates are part of the union too
                graphs.update(
                    g
                    for g in self.backend.named_graphs()
                    if not g.startswith(INTERNAL) and g not in pending
                )
            return sorted(graphs)

        return self._cached("union", compute)

    def _run(self, sparql: str):
        return self.backend.query(
            sparql,
            default_graphs=self._union(),
            include_default=self.backend.separate_default_graph,
        )

    def select_tsv(self, sparql: str) -> bytes:
        """Runs a SELECT over the union and returns SPARQL TSV bytes (for bulk reads)."""
        return self.backend.select_tsv(
            sparql,
            default_graphs=self._union(),
            include_default=self.backend.separate_default_graph,
        )

    # -- sources ------------------------------------------------------------------------

    def sources(self) -> list[Source]:
        """The loaded sources, oldest first."""
        return self._cached(
            "sources",
            lambda: [
                Source(
                    name=s["name"],
                    graph=s["graph"],
                    kind=s["kind"],
                    path=s["path"],
                    format=s["format"],
                    triples=s["triples"],
                    loaded_at=s["loaded_at"],
                    extra_graphs=s["extra"],
                )
                for s in self._source_rows()
                if s["status"] == "complete"
            ],
        )

    def source(self, name: str) -> Source:
        """The source with this name or graph IRI."""
        matches = [s for s in self.sources() if name in (s.name, s.graph, s.path)]
        if not matches and ":" not in name:
            matches = [s for s in self.sources() if s.graph == _graph_iri(name)]
        if not matches:
            known = ", ".join(s.name for s in self.sources()) or "none"
            raise KeyError(f"no source named {name!r} (sources: {known})")
        if len(matches) > 1:
            graphs = ", ".join(s.graph for s in matches)
            raise KeyError(f"{name!r} is ambiguous ({graphs}); pass the graph IRI")
        return matches[0]

    def remove_source(self, name: str) -> int:
        """Removes a source and everything it contributed; returns the triples removed.

        Inferred triples may have been derived from it, so inferred graphs are dropped too
        (re-run :meth:`reason`): a removed source must not stay answerable.
        """
        with self._lock:
            src = self.source(name)
            before = len(self)
            self._write_meta(
                src.graph,
                name=src.name,
                kind=src.kind,
                path=src.path,
                format=src.format,
                loadedAt=src.loaded_at,
                status="removing",
            )
            self._drop_source_graphs(src.graph, src.extra_graphs)
            self._delete_meta(src.graph)
            if src.kind != "inferred":
                for other in self.sources():
                    if other.kind == "inferred":
                        self._drop_source_graphs(other.graph)
                        self._delete_meta(other.graph)
                        log.info("dropped %s (it may depend on %s)", other.name, src.name)
            self.backend.flush()
            self._changed()
            return before - len(self)

    # -- loading ------------------------------------------------------------------------

    def load(
        self,
        path: str | Path,
        format: str | None = None,
        graph: str | None = None,
        *,
        base_iri: str | None = None,
        progress: bool = False,
    ) -> LoadReport:
        """Loads an RDF file (Turtle, N-Triples, N-Quads, TriG, RDF/XML, JSON-LD, N3; .gz too).

        The format comes from ``format``, else the extension, else the content. The
        source goes into its own named graph: ``graph`` if given (an IRI, or a bare
        name), else the file's ``file://`` IRI. Re-loading the same file replaces its
        source; loading into an existing explicit ``graph`` adds to it.

        Args:
            progress: show a progress bar (bytes read) on stderr.

        Raises:
            KGLoadError: naming the file, line and column; the store is unchanged.
        """
        resolved = resolve_file(path, format)
        p = resolved.path.resolve()
        g, name, mode = _target(p, graph)
        base = base_iri or p.as_uri()
        opener = resolved.open
        if progress:
            from kgagent._progress import progress_opener

            opener = progress_opener(resolved.open, total=p.stat().st_size, desc=p.name)
        return self._ingest(
            opener=opener,
            fmt=resolved.format,
            fmt_name=resolved.format_name,
            graph=g,
            name=name,
            path=p,
            kind="rdf",
            base_iri=base,
            mode=mode,
        )

    def load_triples(
        self,
        path: str | Path,
        sep: str | None = None,
        base_iri: str | None = None,
        graph: str | None = None,
    ) -> LoadReport:
        """Loads a delimited triple file (``head|relation|tail``, tab-separated, ...).

        Entities become ``{base_iri}entity/{name}`` with ``rdfs:label`` = the name;
        relations become ``{base_iri}relation/{name}`` properties labelled with the name
        in words (``directed_by`` -> "directed by"). ``sep`` is detected if omitted.
        """
        p = Path(path).resolve()
        data = read_delimited(p, sep=sep, base_iri=base_iri)
        g, name, mode = _target(p, graph)
        return self._ingest(
            opener=lambda: _BytesOpener(data.ntriples),
            fmt=ox.RdfFormat.N_TRIPLES,
            fmt_name=f"delimited({data.sep!r})",
            graph=g,
            name=name,
            path=p,
            kind="triples",
            base_iri=None,
            mode=mode,
        )

    def _ingest(
        self, *, opener, fmt, fmt_name, graph, name, path, kind, base_iri, mode
    ) -> LoadReport:
        t0 = time.perf_counter()
        with self._lock:
            previous = next((s for s in self.sources() if s.graph == graph), None)
            exists = previous is not None or graph in self.backend.named_graphs()
            before = self.backend.graph_size(graph) if exists else 0
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
            graphs_before = set(self.backend.named_graphs()) if fmt.supports_datasets else set()
            if not exists:
                self._write_meta(graph, **meta, status="loading")
            try:
                with opener() as stream:
                    self.backend.load(
                        stream, format=fmt, graph=target, base_iri=base_iri, fresh=True
                    )
            except SyntaxError as exc:
                self._rollback(graph, target, exists)
                raise syntax_error(exc, path=path, fmt_name=fmt_name, opener=opener) from exc
            except (OSError, EOFError, ValueError) as exc:
                self._rollback(graph, target, exists)
                raise KGLoadError(f"cannot load: {exc}", path=path) from exc
            except BaseException:
                self._rollback(graph, target, exists)
                raise
            if exists:
                op = "MOVE" if mode == "replace" else "ADD"
                self.backend.update(
                    f"{op} <{target}> TO <{graph}>"
                    + ("" if op == "MOVE" else f" ; DROP SILENT GRAPH <{target}>")
                )
            extra = sorted(
                set(previous.extra_graphs if previous else ())
                | (
                    set(self.backend.named_graphs()) - graphs_before
                    if fmt.supports_datasets
                    else set()
                )
                - {graph, target, META_GRAPH}
            )
            triples = sum(self.backend.graph_size(g) for g in (graph, *extra))
            self._write_meta(graph, **meta, triples=triples, extraGraph=extra, status="complete")
            self.backend.flush()
            self._changed()
        added = triples - before if mode != "replace" else triples
        mode_done = "new" if not exists else ("replaced" if mode == "replace" else "appended")
        report = LoadReport(
            name, graph, fmt_name, triples, added, time.perf_counter() - t0, mode_done
        )
        log.info("%s", report)
        return report

    def _rollback(self, graph: str, target: str, exists: bool) -> None:
        self.backend.drop_graph(target)
        if not exists:
            self._delete_meta(graph)
        self._changed()

    # -- querying -----------------------------------------------------------------------

    def __len__(self) -> int:
        """Distinct triples in the union of all sources."""

        def compute() -> int:
            out = self._run(
                "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"
            )
            return int(out.rows[0][0].value)

        return self._cached("len", compute)

    def query(
        self,
        sparql: str,
        bindings: Mapping[str, Any] | None = None,
        *,
        prefixes: Mapping[str, str] | None = None,
    ) -> Result:
        """Runs a SELECT, ASK, CONSTRUCT or DESCRIBE over the union of all sources.

        Args:
            sparql: the query; rdf, rdfs, owl, xsd and skos prefixes are predeclared.
            bindings: variable -> value, joined in safely as a VALUES block (never string
                formatting). Plain ``str`` is a literal; use ``rdflib.URIRef`` for IRIs. A
                list value binds several rows.
            prefixes: extra prefix -> namespace declarations.

        Returns:
            an ``rdflib.query.Result``: iterate rows (``row.var``), ``bool(result)`` for
            ASK, ``result.graph`` for CONSTRUCT.
        """
        form = query_form(sparql)
        if form == "UPDATE":
            raise QueryError("this is a SPARQL update; use kg.update(...)")
        text = _with_prefixes(apply_bindings(sparql, bindings), prefixes)
        outcome = self._run(text)
        return _to_result(outcome)

    def update(
        self,
        sparql: str,
        bindings: Mapping[str, Any] | None = None,
        *,
        prefixes: Mapping[str, str] | None = None,
    ) -> None:
        """Runs a SPARQL 1.1 Update (bindings joined into each WHERE group safely)."""
        if query_form(sparql) != "UPDATE":
            raise QueryError("this is a query, not an update; use kg.query(...)")
        text = _with_prefixes(apply_bindings(sparql, bindings, update=True), prefixes)
        with self._lock:
            self.backend.update(text)
            self.backend.flush()
            self._changed()

    def fingerprint(self) -> str:
        """A digest that changes whenever the graph's content may have changed."""

        def compute() -> str:
            h = hashlib.sha256()
            for s in self.sources():
                h.update(f"{s.graph}\t{s.triples}\t{s.loaded_at}\n".encode())
            h.update(str(len(self)).encode())
            return h.hexdigest()[:16]

        return self._cached("fingerprint", compute)

    # -- views --------------------------------------------------------------------------

    @property
    def ontology(self):
        """Classes, properties, hierarchies, individuals and labels (see :class:`Ontology`)."""
        from kgagent.kg.ontology import Ontology

        return self._cached("ontology", lambda: Ontology(self, lang=self.lang))

    def triples_frame(self):
        """Every distinct triple of the union: a DataFrame of N-Triples terms, columns 0 1 2.

        One scan of the store serves the vocabulary, the adjacency and the fact table. The
        frame is cached only while someone holds it (a weak reference), so a caller that
        derives several views keeps it alive for their duration and nothing lingers after.
        """
        with self._lock:
            if self._triples is not None and self._triples[0] == self._generation:
                frame = self._triples[1]()
                if frame is not None:
                    return frame
            frame = read_tsv(self.select_tsv("SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o }"), 3)
            frame[2] = canonical_terms(frame[2])
            self._triples = (self._generation, weakref.ref(frame))
            return frame

    def held_triples_frame(self):
        """The :meth:`triples_frame` of the current state if someone holds it, else None.

        Views that can be computed either by a targeted query or from the full scan (the
        ontology's property usage) use the scan when it is already in memory.
        """
        with self._lock:
            if self._triples is not None and self._triples[0] == self._generation:
                return self._triples[1]()
            return None

    @property
    def vocab(self) -> Vocabulary:
        """Stable entity/relation ids, synced with the store on access."""
        with self._lock:
            if self._vocab_generation != self._generation:
                import pandas as pd

                frame = self.triples_frame()
                objects = frame[2][~_literal(frame[2])]
                ents = pd.unique(pd.concat([frame[0], objects], ignore_index=True).to_numpy())
                rels = pd.unique(frame[1].to_numpy())
                self._vocab.extend([e for e in ents.tolist() if e], rels.tolist())
                self._vocab_generation = self._generation
            return self._vocab

    def adjacency(self, *, inverse: bool = False):
        """CSR arrays of the entity-to-entity edges, indexed by the stable ids."""
        from kgagent.kg.adjacency import Adjacency

        def compute() -> Adjacency:
            vocab = self.vocab
            frame = self.triples_frame()
            rows = frame[~_literal(frame[2])]
            import numpy as np

            triples = np.stack(
                [
                    vocab.entities.lookup(rows[0].to_numpy()),
                    vocab.relations.lookup(rows[1].to_numpy()),
                    vocab.entities.lookup(rows[2].to_numpy()),
                ],
                axis=1,
            )
            return Adjacency.from_triples(
                triples, num_entities=len(vocab.entities), num_relations=len(vocab.relations)
            )

        adj = self._cached("adjacency", compute)
        return adj.with_inverse() if inverse else adj

    def to_networkx(self, *, labels: bool = True):
        """A ``networkx.MultiDiGraph``: nodes are IRIs, edge keys are relation IRIs."""
        from kgagent.kg.export import to_networkx

        return to_networkx(self, labels=labels)

    def to_rdflib(self):
        """A copy of the union as an in-memory ``rdflib.Graph``."""
        from rdflib import Graph

        g = Graph()
        data = self.backend.dump(self._union(), include_default=self.backend.separate_default_graph)
        if data:
            g.parse(data=data, format="nt")
        return g

    def rdflib_dataset(self):
        """A live ``rdflib.Dataset`` over the embedded store (oxrdflib), for rdflib users."""
        if not isinstance(self.backend, OxigraphBackend):
            raise StoreError("rdflib_dataset() needs the embedded Oxigraph store; use to_rdflib()")
        from oxrdflib import OxigraphStore
        from rdflib import Dataset

        return Dataset(store=OxigraphStore(store=self.backend.store))

    def label(self, iri: Any, lang: str | None = None) -> str:
        """The best label of ``iri`` in ``lang`` (default: the graph's language)."""
        return self.ontology.label(iri, lang=lang)

    # -- reasoning and validation -------------------------------------------------------

    def reason(self, profile: str = "rdfs", *, keep_trivial: bool = False):
        """Materializes inferred triples into their own named graph (see kg.reasoning)."""
        from kgagent.kg.reasoning import materialize

        return materialize(self, profile=profile, keep_trivial=keep_trivial)

    def clear_inferences(self) -> int:
        """Removes every inferred graph; returns the number of triples removed."""
        removed = 0
        for s in self.sources():
            if s.kind == "inferred":
                removed += self.remove_source(s.graph)
        return removed

    def validate(self, shapes: Any, *, inference: str = "none"):
        """Validates the graph against SHACL shapes (see kg.validation)."""
        from kgagent.kg.validation import validate

        return validate(self, shapes, inference=inference)

    def _add_inferred(self, graph: str, name: str, profile: str, ntriples: bytes) -> LoadReport:
        with self._lock:
            return self._ingest(
                opener=lambda: _BytesOpener(ntriples),
                fmt=ox.RdfFormat.N_TRIPLES,
                fmt_name=f"inferred({profile})",
                graph=graph,
                name=name,
                path=None,
                kind="inferred",
                base_iri=None,
                mode="replace",
            )


class _BytesOpener:
    """A context manager yielding in-memory bytes, like an opened file."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> bytes:
        return self.data

    def __exit__(self, *exc: object) -> None:
        return None


def _with_prefixes(sparql: str, prefixes: Mapping[str, str] | None) -> str:
    decls = dict(STANDARD_PREFIXES)
    decls.update(prefixes or {})
    head = "".join(f"PREFIX {k}: {nt(ox.NamedNode(v))}\n" for k, v in decls.items())
    return head + sparql


def _to_result(outcome) -> Result:
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


def _literal(terms):
    """Boolean mask of the literals in a Series of N-Triples terms."""
    return terms.str.startswith('"')
