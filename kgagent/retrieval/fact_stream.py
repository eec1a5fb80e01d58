"""The fact table, built from chunks of triples without ever holding them all as objects.

:class:`FactTableBuilder` takes the graph's triples one chunk at a time (a DataFrame of
N-Triples terms, as :func:`kgagent.kg.scan.triple_chunks` yields them), and keeps of
each only arrays: the fact ids, int32 codes of the terms (a dict of the distinct terms
is the one structure that grows with the graph, as its vocabulary does), the sentences
appended as UTF-8 to a scratch file, and the entity-to-entity edges for the linker's
popularity prior. :meth:`FactTableBuilder.add` returns the chunk's facts (ids and
sentences), so the caller encodes them while they are at hand; :meth:`finish` sorts the
terms once, recodes the columns, and maps the sentences back from the scratch file.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgagent.kg.terms import iri_of, parse_literal
from kgagent.retrieval.executors import LocalExecutor
from kgagent.retrieval.facts import FactTable
from kgagent.retrieval.strings import Strings
from kgagent.retrieval.verbalize import NAME_PREDICATES, Verbalizer, format_literal
from kgagent.types import fact_id

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FactChunk", "FactTableBuilder"]

_NAMES = frozenset(f"<{p}>" for p in NAME_PREDICATES)


@dataclass(frozen=True)
class FactChunk:
    """The facts of one chunk, in table order: (k,) int64 ids and their sentences."""

    ids: np.ndarray
    texts: list[str]


class FactTableBuilder:
    """Accumulates chunks of triples into a :class:`FactTable`.

    Args:
        verbalizer: phrases each fact (its ontology supplies the labels).
        scratch: directory for the sentences' scratch file (default: the system's temp
            directory); the file has no name (it is gone when the table is).
    """

    def __init__(self, verbalizer: Verbalizer, *, scratch: str | Path | None = None) -> None:
        self.verbalizer = verbalizer
        self._code: dict[str, int] = {}  # term -> provisional code (first seen)
        self._ids: list[np.ndarray] = []
        self._cols: dict[str, list[np.ndarray]] = {"s": [], "p": [], "o": []}
        self._lengths: list[np.ndarray] = []  # bytes of each sentence
        self._edges: list[np.ndarray] = []  # (k, 3) int32 s, p, o codes, IRI objects
        self._texts = tempfile.TemporaryFile(dir=scratch)  # noqa: SIM115 (closed by finish)
        self._finished = False

    def add(self, frame: pd.DataFrame) -> FactChunk:
        """Takes one chunk of distinct triples (columns 0 1 2, N-Triples terms) and returns
        its facts (name triples such as rdfs:label are not facts: they are left out)."""
        import pandas as pd

        if self._finished:
            raise RuntimeError("FactTableBuilder.add after finish")
        codes = [self._encode(frame[c]) for c in (0, 1, 2)]  # (k,) int32 each
        iri_object = ~frame[2].str.startswith('"').to_numpy(dtype=bool)
        self._edges.append(np.stack([c[iri_object] for c in codes], axis=1))
        keep = ~frame[1].isin(_NAMES).to_numpy(dtype=bool)
        rows = frame[keep]
        s_col, p_col, o_col = (rows[c].tolist() for c in (0, 1, 2))
        ids = np.fromiter(
            (fact_id(s, p, o) for s, p, o in zip(s_col, p_col, o_col, strict=True)),
            dtype=np.int64,
            count=len(s_col),
        )
        labels: dict[str, str] = {}  # per chunk: the whole graph's would grow with it
        s_labels = self._labels(rows[0], labels)
        o_labels = self._labels(rows[2], labels)
        texts = np.empty(len(rows), dtype=object)
        p_codes, predicates = pd.factorize(rows[1])
        order = np.argsort(p_codes, kind="stable")
        bounds = np.searchsorted(p_codes[order], np.arange(len(predicates) + 1))
        for k, p in enumerate(predicates.tolist()):
            at = order[bounds[k] : bounds[k + 1]]  # rows of predicate p
            texts[at] = self.verbalizer.sentences(s_labels[at], iri_of(p), o_labels[at])
        texts = texts.tolist()
        encoded = [t.encode("utf-8") for t in texts]
        self._texts.write(b"".join(encoded))
        self._lengths.append(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
        self._ids.append(ids)
        for name, c in zip(("s", "p", "o"), codes, strict=True):
            self._cols[name].append(c[keep])
        return FactChunk(ids, texts)

    def _encode(self, column: pd.Series) -> np.ndarray:
        """(k,) int32 provisional codes of a column's terms (new terms get new codes)."""
        import pandas as pd

        local, uniques = pd.factorize(column)
        code = self._code
        mapped = np.fromiter(
            (code.setdefault(t, len(code)) for t in uniques.tolist()),
            dtype=np.int64,
            count=len(uniques),
        )
        if len(code) > np.iinfo(np.int32).max:
            raise ValueError("more than 2**31 distinct terms")
        return mapped.astype(np.int32)[local] if len(local) else np.zeros(0, np.int32)

    def _labels(self, column: pd.Series, labels: dict[str, str]) -> np.ndarray:
        """(k,) object array: the label of each term, looked up once per distinct term."""
        import pandas as pd

        local, uniques = pd.factorize(column)
        onto = self.verbalizer.ontology
        for term in uniques.tolist():
            if term not in labels:
                if term.startswith('"'):
                    lex, dt, _ = parse_literal(term)
                    labels[term] = format_literal(lex, dt)
                else:
                    labels[term] = onto.label(iri_of(term))
        return np.array([labels[t] for t in uniques.tolist()], dtype=object)[local]

    # -- the end ----------------------------------------------------------------------------

    def finish(self) -> FactTable:
        """The table of every chunk added: terms sorted (a term's code is its rank), the
        sentences mapped from the scratch file. A fact id seen twice (a 64-bit collision
        of two triples) keeps its first row, as ``drop_duplicates`` did."""
        self._finished = True
        terms = np.empty(len(self._code), dtype=object)
        terms[:] = list(self._code)  # provisional code order
        order = np.argsort(terms, kind="stable")  # (m,) sorted position -> provisional
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)  # provisional -> sorted
        self._rank = rank
        self._sorted_terms = terms[order]
        self._code = {}  # the sorted terms replace it
        ids = _cat(self._ids, np.int64)
        cols = {c: rank[_cat(v, np.int32)] for c, v in self._cols.items()}
        lengths = _cat(self._lengths, np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        self._texts.flush()
        size = int(offsets[-1])
        data = (
            np.memmap(self._texts, dtype=np.uint8, mode="r", shape=(size,))
            if size
            else np.zeros(0, dtype=np.uint8)
        )
        texts = Strings(data, offsets)
        _, first = np.unique(ids, return_index=True)
        if len(first) < len(ids):  # keep each id's first row
            keep = np.sort(first)
            kept = texts.take(keep.tolist())
            ids, cols = ids[keep], {c: v[keep] for c, v in cols.items()}
            texts = Strings.from_list(kept)
        self._ids, self._cols, self._lengths = [], {}, []
        return FactTable.from_columns(
            ids=ids,
            **cols,
            terms=Strings.from_list(self._sorted_terms.tolist()),
            texts=texts,
        )

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """After :meth:`finish`: the (e, 3) int32 (s, p, o) sorted-term codes of every
        triple whose object is not a literal (name triples too: the graph's edges), and
        the (m,) sorted terms they index."""
        if not self._finished:
            raise RuntimeError("FactTableBuilder.edges before finish")
        edges = _cat(self._edges, np.int32).reshape(-1, 3)
        return self._rank[edges], self._sorted_terms


def _cat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


# -- the streamed build's loop --------------------------------------------------------------

#: Python objects of a chunk in flight (three terms, two labels, a sentence and its bytes
#: per row) take about this many times the chunk's TSV bytes; measured at 1M facts
OBJECTS_PER_TSV_BYTE = 8
#: float32 copies of a batch's vectors an encoder holds at once (rows, normalized, out)
VECTOR_COPIES = 4


def chunk_sizes(chunk_mb: float, dim: int) -> tuple[int, int]:
    """(TSV bytes scanned per chunk, texts encoded per batch) for ``chunk_mb`` MiB held by
    one chunk in flight: the bound is memory, whatever the rows' length or the dim."""
    budget = max(1, int(chunk_mb * (1 << 20)))
    return max(1, budget // OBJECTS_PER_TSV_BYTE), max(1, budget // (VECTOR_COPIES * 4 * dim))


@dataclass
class VectorSink:
    """Encodes a chunk's facts that the vectors lack (or whose sentence changed since
    ``old``) in batches of ``batch_rows``, and adds them to ``vectors``.

    Args:
        encoder: ``encode(texts) -> (n, dim)``.
        vectors: a :class:`~kgagent.retrieval.index.FactIndex` (its public API only).
        have: (h,) the ids ``vectors`` held before the build, sorted.
        old: the previous build's facts, to spot re-worded ones (None: every held id is
            re-encoded, as its sentence cannot be vouched for).
        check_text: compare sentences with ``old`` (only when ``vectors`` is reused).
        batch_rows: texts per encoder call.
        executor: where the batches are encoded (:mod:`kgagent.retrieval.executors`;
            None: ``encoder`` in this process); vectors come back in batch order and
            are added as a local build adds them.
    """

    encoder: object
    vectors: object
    have: np.ndarray
    old: FactTable | None
    check_text: bool
    batch_rows: int
    executor: object | None = None
    encoded: int = 0

    def take(self, chunk: FactChunk) -> None:
        ids = chunk.ids
        have = self.have
        if len(have):
            pos = np.minimum(np.searchsorted(have, ids), len(have) - 1)
            held = have[pos] == ids  # (k,)
        else:
            held = np.zeros(len(ids), dtype=bool)
        todo = ~held
        if self.check_text and held.any():
            at = np.flatnonzero(held)
            if self.old is None:
                todo[at] = True
            else:
                rows = self.old.rows_for_ids(ids[at])
                at, rows = at[rows >= 0], rows[rows >= 0]
                before = self.old.texts_at(rows)
                changed = [a != chunk.texts[i] for a, i in zip(before, at.tolist(), strict=True)]
                todo[at[np.array(changed, dtype=bool)]] = True
        rows = np.flatnonzero(todo)
        parts = [rows[at : at + self.batch_rows] for at in range(0, len(rows), self.batch_rows)]
        batches = ([chunk.texts[i] for i in part.tolist()] for part in parts)
        executor = self.executor if self.executor is not None else _LOCAL
        vectors = executor.encode_batches(batches, self.encoder)  # (b, d) each, in order
        for part, emb in zip(parts, vectors, strict=True):
            self.vectors.add(ids[part], np.asarray(emb, dtype=np.float32))
        self.encoded += len(rows)


_LOCAL = LocalExecutor()


def stream_facts(
    kg, builder: FactTableBuilder, sink: VectorSink, *, chunk_bytes: int, progress: bool
) -> FactTable:
    """One pass over the store: each chunk of triples into the table and its new facts'
    vectors into the sink; the finished table."""
    from tqdm import tqdm

    from kgagent.kg.scan import triple_chunks

    bar = tqdm(total=len(kg), unit="triple", desc="indexing", disable=not progress)
    try:
        for frame in triple_chunks(kg, chunk_bytes=chunk_bytes):
            sink.take(builder.add(frame))
            bar.update(len(frame))
    finally:
        bar.close()
    return builder.finish()
