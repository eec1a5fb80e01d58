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
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from rdflib.query import Result

from kgagent.errors import QueryError, StoreError
from kgagent.kg import snapshot as _snapshot
from kgagent.kg import sources as _sources
from kgagent.kg.backends import Backend, OxigraphBackend, QueryOutcome, canonical_terms, read_tsv
from kgagent.kg.bindings import prepare
from kgagent.kg.formats import resolve_file
from kgagent.kg.loaders import read_delimited
from kgagent.kg.scan import ALL_TRIPLES
from kgagent.kg.sources import INFERRED, BytesOpener, LoadReport, Source, graph_iri, load_target
from kgagent.kg.sparql import query_form, refuse_network, to_result
from kgagent.kg.vocab import Vocabulary
from kgagent.kg.xmlguard import check_entities

__all__ = ["KnowledgeGraph", "LoadReport", "Source"]

# constants older code imports from this module; they live in kg.sources and kg.sparql
from kgagent.kg.sources import INTERNAL, META_GRAPH, STAGING  # noqa: F401
from kgagent.kg.sparql import STANDARD_PREFIXES  # noqa: F401


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
        allow_service: let queries use ``SERVICE`` and updates ``LOAD``, which make the
            store fetch a URL (off: an SSRF path wherever query text can be influenced);
            :meth:`query` and :meth:`update` can also allow it per call.
    """

    def __init__(
        self,
        *,
        store: Backend | str = "oxigraph",
        store_kwargs: Mapping[str, Any] | None = None,
        vocab_dir: str | Path | None = None,
        lang: str = "en",
        allow_service: bool = False,
    ) -> None:
        if isinstance(store, str):
            from kgagent.kg import STORE_BACKENDS

            store = STORE_BACKENDS.get(store)(**dict(store_kwargs or {}))
        self.backend: Backend = store
        self.lang = lang
        self.allow_service = allow_service
        self.directory: Path | None = None
        self._lock = threading.RLock()
        self._generation = 0
        self._cache: dict[str, tuple[int, Any]] = {}
        self._triples: tuple[int, weakref.ref] | None = None  # (generation, frame)
        self._vocab = Vocabulary(vocab_dir)
        self._vocab_generation = -1
        _sources.recover(self.backend)  # roll back loads a crash interrupted

    # -- construction -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        read_only: bool = False,
        lang: str = "en",
        allow_service: bool = False,
    ) -> KnowledgeGraph:
        """Opens (or creates) a persistent graph in directory ``path``.

        Layout: ``path/store/`` (Oxigraph) and ``path/vocab/`` (id tables) — the same
        layout an agent workspace uses, so a workspace directory opens directly.

        ``read_only``: beside processes that have it open; sees the store as it was then.
        """
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root}: exists and is not a directory")
        backend = OxigraphBackend(root / "store", read_only=read_only)
        kg = cls(store=backend, vocab_dir=root / "vocab", lang=lang, allow_service=allow_service)
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
        allow_service: bool = False,
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
        return cls(store=backend, vocab_dir=vocab_dir, lang=lang, allow_service=allow_service)

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
        _snapshot.invalidate(self._state())

    def _cached(self, key: str, compute):
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self._generation:
            return hit[1]
        value = compute()
        self._cache[key] = (self._generation, value)
        return value

    def _union(self) -> list[str]:
        """Named graphs that make up the queryable union (internal graphs excluded)."""
        return self._cached("union", lambda: _sources.union_graphs(self.backend))

    def _run(self, sparql: str) -> QueryOutcome:
        return self.backend.query(
            sparql,
            default_graphs=self._union(),
            include_default=self.backend.separate_default_graph,
        )

    def select_rows(self, sparql: str) -> list[tuple[Any, ...]]:
        """Runs a SELECT over the union; rows of pyoxigraph terms (None where unbound).

        No prefixes, bindings or rdflib conversion: for readers that walk many rows (the
        ontology view), where rdflib terms would cost more than the query.
        """
        return self._run(sparql).rows

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
                for s in _sources.source_rows(self.backend)
                if s["status"] == "complete"
            ],
        )

    def source(self, name: str) -> Source:
        """The source with this name or graph IRI."""
        matches = [s for s in self.sources() if name in (s.name, s.graph, s.path)]
        if not matches and ":" not in name:
            matches = [s for s in self.sources() if s.graph == graph_iri(name)]
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
            _sources.remove(self.backend, src, sources=self.sources())
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

        RDF/XML with DOCTYPE entities that expand out of proportion is refused (xmlguard).

        Raises:
            KGLoadError: naming the file, line and column; the store is unchanged.
        """
        resolved = resolve_file(path, format)
        p = resolved.path.resolve()
        if resolved.format_name == "xml":
            check_entities(resolved.open, path=p)  # before Oxigraph expands them
        g, name, mode = load_target(p, graph)
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
            sniffed=resolved.sniffed,
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
        g, name, mode = load_target(p, graph)
        return self._ingest(
            opener=lambda: BytesOpener(data.ntriples),
            fmt=ox.RdfFormat.N_TRIPLES,
            fmt_name=f"delimited({data.sep!r})",
            graph=g,
            name=name,
            path=p,
            kind="triples",
            base_iri=None,
            mode=mode,
        )

    def _ingest(self, **load: Any) -> LoadReport:
        """Runs :func:`kgagent.kg.sources.ingest` under the lock; caches see the result."""
        with self._lock:
            try:
                return _sources.ingest(self.backend, sources=self.sources(), **load)
            finally:
                self._changed()

    # -- querying -----------------------------------------------------------------------

    def __len__(self) -> int:
        """Distinct triples in the union of all sources."""

        def count() -> int:
            out = self._run(f"SELECT (COUNT(*) AS ?n) WHERE {{ {ALL_TRIPLES} }}")
            return int(out.rows[0][0].value)

        return self._cached("len", lambda: _snapshot.triple_count(self, self._state(), count))

    def query(
        self,
        sparql: str,
        bindings: Mapping[str, Any] | None = None,
        *,
        prefixes: Mapping[str, str] | None = None,
        allow_service: bool | None = None,
    ) -> Result:
        """Runs a SELECT, ASK, CONSTRUCT or DESCRIBE over the union of all sources.

        Args:
            sparql: the query; rdf, rdfs, owl, xsd and skos prefixes are predeclared.
            bindings: variable -> value (a list: several rows), joined in safely (never by
                string formatting; see kg.bindings). A plain ``str`` matched in a triple
                pattern matches that text in any language or as ``xsd:string``
                (``{"l": "Inception"}`` finds ``"Inception"@en``); an ``rdflib.Literal``
                with a language or datatype, or a ``URIRef`` (IRIs), matches exactly.
            prefixes: extra prefix -> namespace declarations.
            allow_service: allow ``SERVICE`` (the store fetching a URL) for this call;
                None: the graph's ``allow_service``.

        Returns:
            an ``rdflib.query.Result``: iterate rows (``row.var``), ``bool(result)`` for
            ASK, ``result.graph`` for CONSTRUCT.

        Raises:
            QueryError: syntax (positioned in ``sparql``), binding, or ``SERVICE`` errors.
        """
        form = query_form(sparql)
        if form == "UPDATE":
            raise QueryError("this is a SPARQL update; use kg.update(...)")
        refuse_network(sparql, allowed=self._allows_service(allow_service))
        prepared = prepare(sparql, bindings, prefixes)
        return to_result(prepared.run(self._run))

    def update(
        self,
        sparql: str,
        bindings: Mapping[str, Any] | None = None,
        *,
        prefixes: Mapping[str, str] | None = None,
        allow_service: bool | None = None,
    ) -> None:
        """Runs a SPARQL 1.1 Update (bindings joined into each WHERE group safely).

        On the embedded store the whole update is one transaction: if any part fails,
        nothing of it is applied. ``LOAD`` and ``SERVICE`` need ``allow_service``.
        """
        if query_form(sparql) != "UPDATE":
            raise QueryError("this is a query, not an update; use kg.query(...)")
        refuse_network(sparql, allowed=self._allows_service(allow_service))
        prepared = prepare(sparql, bindings, prefixes, update=True)
        with self._lock:
            try:
                prepared.run(self.backend.update)
                self.backend.flush()
            finally:
                self._changed()

    def _allows_service(self, allow: bool | None) -> bool:
        return self.allow_service if allow is None else allow

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

        ~400 MB of strings per million triples (ids, adjacency and index scan in chunks:
        kg/scan.py); cached only while someone holds it (a weak reference).
        """
        with self._lock:
            if self._triples is not None and self._triples[0] == self._generation:
                frame = self._triples[1]()
                if frame is not None:
                    return frame
            frame = read_tsv(self.select_tsv(ALL_TRIPLES), 3)
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
        """Stable entity/relation ids, synced with the store on access, together with the
        adjacency: one scan in chunks, or the snapshot saved at this fingerprint."""
        with self._lock:
            if self._vocab_generation != self._generation:
                adj = _snapshot.sync(self, self._vocab, state=self._state())
                self._cache["adjacency"] = (self._generation, adj)
                self._vocab_generation = self._generation
            return self._vocab

    def _state(self) -> Path | None:  # kept counts and arrays: an embedded store alone
        return self._vocab.directory if self.directory is not None else None  # changes by us

    def adjacency(self, *, inverse: bool = False):
        """CSR arrays of the entity-to-entity edges, indexed by the stable ids."""
        with self._lock:
            _ = self.vocab  # syncs the ids and builds (or maps) the adjacency with them
            adj = self._cache["adjacency"][1]
        return adj.with_inverse() if inverse else adj

    def to_networkx(self, *, labels: bool = True):
        """A ``networkx.MultiDiGraph``: nodes are IRIs, edge keys are relation IRIs."""
        from kgagent.kg.export import to_networkx

        return to_networkx(self, labels=labels)

    def to_rdflib(self):
        """A copy of the union as an in-memory ``rdflib.Graph``."""
        from kgagent.kg.export import to_rdflib

        return to_rdflib(self.backend, self._union())

    def rdflib_dataset(self):
        """A live ``rdflib.Dataset`` over the embedded store (oxrdflib), for rdflib users."""
        from kgagent.kg.export import rdflib_dataset

        return rdflib_dataset(self.backend)

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

    def add_inferred(
        self, ntriples: bytes, *, profile: str, graph: str | None = None, name: str | None = None
    ) -> LoadReport:
        """Stores derived triples as an ``inferred`` source, replacing its previous content.

        Inferred triples live in a source of their own so that :meth:`clear_inferences`
        and :meth:`remove_source` can take them back out (see kg.reasoning).

        Args:
            ntriples: the triples, serialized as N-Triples.
            profile: the reasoning profile that derived them (``rdfs``, ``owlrl``).
            graph: the source's graph (default ``urn:kgagent:inferred:{profile}``).
            name: the source's name (default ``inferred:{profile}``).
        """
        return self._ingest(
            opener=lambda: BytesOpener(ntriples),
            fmt=ox.RdfFormat.N_TRIPLES,
            fmt_name=f"inferred({profile})",
            graph=graph or f"{INFERRED}{profile}",
            name=name or f"inferred:{profile}",
            path=None,
            kind="inferred",
            base_iri=None,
            mode="replace",
        )
