"""The retrieval index of a graph: facts, vectors, entity linker, relation phrases and the
manifest that ties them to the graph state and the encoder they were built with.

``RetrievalIndex.build`` reads the store in chunks, verbalizes each chunk's facts and
embeds only those the previous build lacks (or whose sentence changed), keeping the
facts as columns (:mod:`kgagent.retrieval.fact_stream`), and reports each stage's time
and the peak memory; ``save`` writes the directory atomically
(unchanged vector rows are hard-linked, not rewritten); ``load`` refuses an index whose
manifest does not match the graph or the encoder, with a clear error, rather than return
silently wrong results.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent._io import atomic_dir, recover_dir
from kgagent.artifact import INVENTORY, check_inventory, read_manifest, write_manifest
from kgagent.errors import IndexLoadError, IndexMismatchError, KGAgentError
from kgagent.retrieval.build_stats import Stage, StageClock, peak_rss_mib

if TYPE_CHECKING:
    from kgagent.kg.graph import KnowledgeGraph
    from kgagent.retrieval.facts import FactTable
    from kgagent.retrieval.index import FactIndex
    from kgagent.retrieval.linker import EntityLinker

__all__ = ["INDEX_FORMAT", "IndexReport", "RetrievalIndex"]

log = logging.getLogger(__name__)

INDEX_FORMAT = "kgagent-index/1"
#: MiB one chunk of a streamed build may hold in flight (its objects, its vectors)
CHUNK_MB = 64.0


@dataclass(frozen=True)
class IndexReport:
    """What a build did, and what it took (time and the process's peak memory by stage)."""

    facts: int
    encoded: int  # facts embedded in this run (new or changed)
    removed: int
    seconds: float
    kind: str  # faiss index kind: flat | hnsw | ...
    peak_rss_mib: float = 0.0  # the process's peak resident set size at the end
    stages: tuple[Stage, ...] = ()

    def __str__(self) -> str:
        head = (
            f"{self.facts:,} facts indexed ({self.kind}): {self.encoded:,} encoded, "
            f"{self.removed:,} removed, {self.seconds:.1f}s, peak RSS {self.peak_rss_mib:,.0f} MiB"
        )
        return head + "".join(f"\n  {stage}" for stage in self.stages)


@dataclass
class RetrievalIndex:
    """The in-memory retrieval artifacts of one graph.

    Attributes:
        facts: the verbalized fact table.
        vectors: the facts' vectors (faiss).
        linker: the entity linker.
        relations: per relation (term, forward phrase, inverse phrase).
        manifest: format, encoder, dim, KG fingerprint, fact count, build time.
    """

    facts: FactTable
    vectors: FactIndex
    linker: EntityLinker
    relations: list[tuple[str, str, str]]
    manifest: dict[str, Any]

    @staticmethod
    def expected(encoder) -> dict[str, Any]:
        """The manifest entries an index must have to be read with ``encoder``."""
        return {"format": INDEX_FORMAT, "encoder": encoder.name, "dim": int(encoder.dim)}

    # -- build ------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        kg: KnowledgeGraph,
        encoder,
        *,
        previous: RetrievalIndex | None = None,
        exact_max: int | None = None,
        vector_options: dict[str, Any] | None = None,
        linker_stopwords: tuple[str, ...] | list[str] = (),
        progress: bool = False,
        chunk_mb: float = CHUNK_MB,
        executor=None,
    ) -> tuple[RetrievalIndex, IndexReport]:
        """Builds the index of ``kg``, reusing ``previous``'s vectors (same encoder) and
        linker label embeddings: only new or re-worded facts are encoded.

        The store is read in chunks (:mod:`kgagent.retrieval.fact_stream`): each is
        verbalized, its new facts encoded and added to the vectors, and kept only as
        arrays, so no stage holds every fact as Python objects; ``chunk_mb`` bounds what
        one chunk in flight holds. The report and the manifest say how long each stage
        took and the process's peak memory after it.

        ``exact_max`` applies to a reused index too: if the previous build used another
        value and the index is now on the other side of it, the vectors are re-indexed
        as the other kind (flat or HNSW) from their stored values, without encoding.
        ``vector_options`` (``RetrievalConfig.vector_options()``: exact_max, storage, pq)
        likewise. ``executor`` (:mod:`kgagent.retrieval.executors`) encodes the facts'
        batches elsewhere (Ray actors) with the same vectors; None: in this process.
        """
        from kgagent.retrieval.fact_stream import (
            FactTableBuilder,
            VectorSink,
            chunk_sizes,
            stream_facts,
        )
        from kgagent.retrieval.index import FactIndex
        from kgagent.retrieval.linker import EntityLinker
        from kgagent.retrieval.verbalize import Verbalizer

        t0 = time.perf_counter()
        clock = StageClock()
        chunk_bytes, batch_rows = chunk_sizes(chunk_mb, int(encoder.dim))
        with _old_objects_frozen():
            with clock("vocabulary"):  # the graph's ids (kg/ still reads every triple)
                vocab = kg.vocab
                verbalizer = Verbalizer(kg.ontology)
            reuse = previous is not None and previous.vectors is not None and previous.fits(encoder)
            options = {"exact_max": exact_max, **(vector_options or {})}
            options = {k: v for k, v in options.items() if v is not None}
            vectors = previous.vectors if reuse else FactIndex(int(encoder.dim), **options)
            if reuse:  # the configured size, not the one the last build saved, decides
                vectors.configure(**options)  # the kind (flat, HNSW, PQ), no re-encoding
            have = np.sort(vectors.ids()) if len(vectors) else np.empty(0, dtype=np.int64)
            with clock("facts"):  # scan, verbalize, encode: chunk by chunk
                builder = FactTableBuilder(verbalizer)
                sink = VectorSink(
                    encoder,
                    vectors,
                    have,
                    previous.facts if reuse else None,
                    check_text=reuse,  # same triple, new wording (a label changed)
                    batch_rows=batch_rows,
                    executor=executor,
                )
                facts = stream_facts(kg, builder, sink, chunk_bytes=chunk_bytes, progress=progress)
            with clock("stale vectors"):
                stale = have[~np.isin(have, facts.ids)]
                removed = vectors.remove(stale) if len(stale) else 0
                vectors.configure()  # a kind the build passed through on its way: re-picked
            with clock("linker"):
                old_linker = previous.linker if previous is not None else None
                linker = EntityLinker.from_kg(
                    kg,
                    encoder=encoder,
                    previous=old_linker,
                    stopwords=list(linker_stopwords),
                    popularity=_popularity(builder, vocab),
                )
                linker.embed_labels(old_linker, show_progress=progress)
            relations = [
                (term, *_relation_phrases(verbalizer, term[1:-1]))
                for term in vocab.relations.terms  # predicates are always IRIs
            ]
        seconds = time.perf_counter() - t0
        peak = peak_rss_mib()
        manifest = {
            **cls.expected(encoder),
            "normalized": True,
            "kg_fingerprint": kg.fingerprint(),
            "facts": len(facts),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build": {
                "seconds": round(seconds, 2),
                "peak_rss_mib": round(peak, 1),
                "encoded": sink.encoded,
                "stages": [stage.to_dict() for stage in clock.stages],
            },
        }
        built = cls(facts, vectors, linker, relations, manifest)
        report = IndexReport(
            facts=len(facts),
            encoded=sink.encoded,
            removed=int(removed),
            seconds=seconds,
            kind=vectors.kind,
            peak_rss_mib=peak,
            stages=tuple(clock.stages),
        )
        return built, report

    def fits(self, encoder) -> bool:
        """Whether this index's vectors were made by ``encoder`` (reusable by it)."""
        m = self.manifest
        return m.get("encoder") == encoder.name and m.get("dim") == int(encoder.dim)

    # -- disk -------------------------------------------------------------------------------

    def save(self, directory: str | Path, *, reuse: str | Path | None = None) -> None:
        """Writes the index directory atomically; unchanged leading rows of the vector
        files of ``reuse`` (default: the directory itself) are hard-linked. The manifest,
        written last, records each top-level file's size and sha256 (its inventory);
        ``vectors/`` and ``linker/`` carry their own."""
        directory = Path(directory)
        old = Path(reuse) if reuse is not None else directory
        with atomic_dir(directory) as tmp:
            self.facts.save(tmp / "facts")
            self.vectors.save(
                tmp / "vectors", {"encoder": self.manifest["encoder"]}, reuse=old / "vectors"
            )
            self.linker.save(tmp / "linker", reuse=old / "linker")
            (tmp / "relations.json").write_text(
                json.dumps([list(r) for r in self.relations], ensure_ascii=False, indent=1)
            )
            fields = {k: v for k, v in self.manifest.items() if k not in ("format", INVENTORY)}
            fields["relations"] = len(self.relations)
            # in the order built (the layout of every index saved so far)
            write_manifest(
                tmp,
                "manifest.json",
                format=INDEX_FORMAT,
                sort_keys=False,
                inventory=True,
                **fields,
            )

    @classmethod
    def load(
        cls, directory: str | Path, *, encoder, fingerprint: str, exact_max: int | None = None
    ) -> RetrievalIndex:
        """The index saved in ``directory``, checked against the encoder and the graph
        state (``kg.fingerprint()``); :class:`IndexMismatchError` names what differs.

        Every file is checked against the manifests before it is used: sizes and digests
        where the index has an inventory (every index saved since), and in any case the
        row counts (facts, relations, vectors, entities), so a truncated fact table is
        an :class:`IndexLoadError` naming it, never an index that retrieves nothing.

        ``exact_max`` (the configured ``retrieval.exact_max``) is a build-time property:
        the saved index keeps the kind (exact or HNSW) it was built as, because switching
        on every open would rebuild an HNSW graph in memory each time (~22 s per 129k
        facts) and never save it. Given a value that differs from the saved one, a
        warning says so, naming both and the next ``kgagent index`` (which applies it
        without re-encoding).
        """
        from kgagent.retrieval.index import FactIndex
        from kgagent.retrieval.linker import EntityLinker

        d = Path(directory)
        recover_dir(d)  # a save killed mid-swap: finish it before looking
        if not (d / "manifest.json").exists():
            raise KGAgentError("no fact index yet: run agent.index() (CLI: `kgagent index WS`)")
        want = cls.expected(encoder)
        manifest = _read_manifest(d, format=want.pop("format"), expect=want)
        if manifest.get("kg_fingerprint") != fingerprint:
            raise IndexMismatchError(
                f"{d}: index was built for another state of the graph (fingerprint "
                f"{manifest.get('kg_fingerprint')}, graph now {fingerprint}); update it with "
                "agent.index() / `kgagent index`"
            )
        expect = {"dim": int(encoder.dim), "encoder": encoder.name}
        facts = _load_facts(d, manifest)
        vectors = FactIndex.load(d / "vectors", expect=expect)
        if len(vectors) != len(facts):
            raise IndexLoadError(
                f"{d / 'vectors'}: {len(vectors)} vectors for {len(facts)} facts in "
                f"{d / 'facts'}; {_REBUILD}"
            )
        if exact_max is not None and exact_max != vectors.exact_max:
            log.warning(
                "%s: built with retrieval.exact_max %d (%s search of %d facts); the configured "
                "%d applies at the next `kgagent index` (agent.index(), no re-encoding)",
                d,
                vectors.exact_max,
                "exact" if vectors.kind == "flat" else "HNSW",
                len(vectors),
                exact_max,
            )
        return cls(
            facts,
            vectors,
            EntityLinker.load(d / "linker", encoder=encoder),
            _load_relations(d, manifest),
            manifest,
        )

    @classmethod
    def reusable(cls, directory: str | Path, *, encoder) -> RetrievalIndex | None:
        """What a rebuild can reuse of the index in ``directory`` (any graph state): its
        vectors if ``encoder`` made them, its facts (to spot re-worded ones) and its
        linker, each on its own (a part that cannot be read is None and is rebuilt: a
        linker of an older format must not cost the vectors). None where nothing is
        usable."""
        from kgagent.retrieval.index import FactIndex
        from kgagent.retrieval.linker import EntityLinker

        d = Path(directory)
        recover_dir(d)
        try:  # each file is checked by the part that reads it, below
            manifest = _read_manifest(d, format=INDEX_FORMAT, check_files=False)
        except KGAgentError:
            return None

        def part(load):  # each part on its own: an old linker must not cost the vectors
            try:
                return load()
            except (KGAgentError, OSError, ValueError):
                return None  # unusable (other encoder, older format, corrupt): rebuilt

        # same dimension is not enough: vectors of another encoder are meaningless here
        expect = {"dim": int(encoder.dim), "encoder": encoder.name}
        vectors = part(lambda: FactIndex.load(d / "vectors", expect=expect))
        facts = part(lambda: _load_facts(d, manifest))
        linker = part(lambda: EntityLinker.load(d / "linker", encoder=encoder))
        if vectors is None and linker is None:
            return None
        return cls(facts, vectors, linker, [], manifest)


_REBUILD = "rebuild it with `kgagent index`"


def _read_manifest(
    directory: Path,
    *,
    format: str,
    expect: dict[str, Any] | None = None,
    check_files: bool = True,
) -> dict[str, Any]:
    """The index's manifest through the shared checks (:mod:`kgagent.artifact`): an
    IndexMismatchError that says to rebuild for another format or encoder, an
    IndexLoadError for a file that differs from the inventory."""
    return read_manifest(
        directory,
        "manifest.json",
        format=format,
        expect=expect,
        error=IndexMismatchError,
        broken=IndexLoadError,
        check_files=check_files,
        what="a retrieval index",
        hint=_REBUILD,
    )


def _load_facts(directory: Path, manifest: dict[str, Any]) -> FactTable:
    """``facts/`` (mapped, checked against its own manifest), or the ``facts.tsv`` of an
    index saved before it; refused (IndexLoadError naming the file) unless it matches
    the index manifest: its inventory entry where there is one, its row count always
    (indexes saved before the inventory have the count, so truncation is caught too)."""
    from kgagent.retrieval.facts import FactTable

    path = directory / "facts"
    if not path.is_dir() and (directory / "facts.tsv").exists():
        path = directory / "facts.tsv"
        if INVENTORY in manifest:
            check_inventory(
                directory, manifest[INVENTORY], error=IndexLoadError, hint=_REBUILD,
                only=[path.name],
            )  # fmt: skip
    try:
        facts = FactTable.load(path)
    except (OSError, ValueError) as exc:  # pandas' ParserError is a ValueError
        raise IndexLoadError(f"{path}: unreadable ({exc}); {_REBUILD}") from exc
    want = manifest.get("facts")
    if not isinstance(want, int) or isinstance(want, bool):
        raise IndexLoadError(
            f"{directory / 'manifest.json'}: field 'facts' is {want!r}; {_REBUILD}"
        )
    if len(facts) != want:
        raise IndexLoadError(
            f"{path}: {len(facts)} facts, manifest.json says {want} (truncated or replaced); "
            f"{_REBUILD}"
        )
    return facts


def _load_relations(directory: Path, manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``relations.json`` as (term, forward phrase, inverse phrase) rows, refused unless it
    is a list of three strings per relation, of the manifest's count where recorded."""
    path = directory / "relations.json"
    try:
        rows = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"{path}: unreadable ({exc}); {_REBUILD}") from exc
    if not isinstance(rows, list) or not all(
        isinstance(r, list) and len(r) == 3 and all(isinstance(x, str) for x in r) for r in rows
    ):
        raise IndexLoadError(f"{path}: not a list of [term, phrase, inverse phrase]; {_REBUILD}")
    want = manifest.get("relations", len(rows))
    if len(rows) != want:
        raise IndexLoadError(
            f"{path}: {len(rows)} relations, manifest.json says {want}; {_REBUILD}"
        )
    return [tuple(r) for r in rows]


@contextlib.contextmanager
def _old_objects_frozen():
    """Objects alive before a build (a warm agent's caches) are left out of cyclic GC
    while the build allocates millions of short-lived objects: their full collections
    cost ~0.4 s of a 5 s incremental update. Unlike ``gc.disable()``, other threads (a
    team's members) keep collecting."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _popularity(builder, vocab) -> np.ndarray:
    """The linker's prior per vocabulary entity, from the edges the build streamed past
    (the graph's adjacency would read every triple again)."""
    from kgagent.retrieval.linker import edge_popularity

    edges, terms = builder.edges()  # (e, 3) codes into terms
    entity = vocab.entities.lookup(terms)  # (m,) vocabulary id of each term, -1: none
    relation = vocab.relations.lookup(terms)
    h, r, t = entity[edges[:, 0]], relation[edges[:, 1]], entity[edges[:, 2]]
    ok = (h >= 0) & (r >= 0) & (t >= 0)
    return edge_popularity(h[ok], r[ok], t[ok], len(vocab.entities))


def _relation_phrases(verbalizer, predicate: str) -> tuple[str, str]:
    """Short phrasings of a relation in both directions, for relation relevance."""
    t = verbalizer.templates(predicate)
    label = verbalizer.label(predicate)
    inverse = t.inverse.replace("{subject}", "").replace("{object}", "").strip(" ,.()")
    return label, " ".join(inverse.split()) or label
