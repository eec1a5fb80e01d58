"""Every distinct triple of a graph, in chunks of bounded size.

:meth:`KnowledgeGraph.triples_frame` holds the whole union as one DataFrame of Python
strings: ~400 MB per million triples, so a 10M-triple graph needs gigabytes just to be
read. A streaming reader (the retrieval index build) instead has the store write the
same ``SELECT DISTINCT`` as SPARQL TSV to a scratch file (Oxigraph serializes it as it
evaluates; other backends write their result) and parses it block by block: a chunk is
at most ``chunk_bytes`` of TSV (and at least one row), so what is held at a time is
bounded by bytes, whatever the number of rows.

A remote SPARQL endpoint (a backend with ``scan_page_rows``, e.g. Virtuoso) is read in
pages instead: one result of the whole graph would be capped by the server (Virtuoso's
``ResultSetMaxRows`` truncates it silently), time out, or be held whole by the HTTP
client. Each page is the distinct triples in a fixed order (``ORDER BY ?s ?p ?o`` in a
subquery, ``LIMIT``/``OFFSET`` outside it: the form Virtuoso pages without its sorted-TOP
limit, ``MaxSortedTopRows``), fed to the same chunks; the rows read are checked against
a ``COUNT`` of the scan, so a capped page or a graph written during the scan is an error,
never a silently partial index.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from kgagent.errors import StoreError
from kgagent.kg.backends import canonical_terms, read_tsv
from kgagent.kg.sources import union_graphs

if TYPE_CHECKING:
    import pandas as pd

    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["ALL_TRIPLES", "page_query", "triple_chunks", "tsv_chunks"]

#: the scan of :meth:`KnowledgeGraph.triples_frame`, so both read the same rows
ALL_TRIPLES = "SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o }"
#: how many distinct triples the scan reads (the check of a paged scan)
COUNT_TRIPLES = f"SELECT (COUNT(*) AS ?n) WHERE {{ {ALL_TRIPLES} }}"


def page_query(offset: int, rows: int) -> str:
    """The SELECT of one page of :data:`ALL_TRIPLES`: ``rows`` triples from ``offset`` in
    a fixed order."""
    return (
        f"SELECT ?s ?p ?o WHERE {{ {{ {ALL_TRIPLES} ORDER BY ?s ?p ?o }} }} "
        f"LIMIT {int(rows)} OFFSET {int(offset)}"
    )


def triple_chunks(
    kg: KnowledgeGraph, *, chunk_bytes: int = 16 << 20, scratch: str | Path | None = None
) -> Iterator[pd.DataFrame]:
    """DataFrames of N-Triples terms (columns 0 1 2, objects spelled as
    :meth:`~KnowledgeGraph.triples_frame` spells them) covering every distinct triple of
    the union once, each from at most ``chunk_bytes`` of TSV.

    Args:
        kg: the graph.
        chunk_bytes: TSV bytes per chunk (a row longer than this is a chunk of its own).
        scratch: directory for the scratch file (default: the system's temp directory);
            it takes about the size of an N-Triples dump of the graph, and is deleted
            when the iteration ends or is abandoned.
    """
    backend = kg.backend
    dataset = {
        "default_graphs": union_graphs(backend),
        "include_default": backend.separate_default_graph,
    }
    with tempfile.TemporaryDirectory(prefix="kgagent-scan-", dir=scratch) as tmp:
        path = Path(tmp) / "triples.tsv"
        if backend.scan_page_rows is not None:
            files = _pages(backend, path, dataset, int(backend.scan_page_rows))
        else:
            backend.select_tsv_to(ALL_TRIPLES, path, **dataset)
            files = iter([path])
        for page in files:
            for block in tsv_chunks(page, chunk_bytes):
                frame = read_tsv(block, 3)
                frame[2] = canonical_terms(frame[2])
                yield frame


def _pages(backend, path: Path, dataset: dict, rows: int) -> Iterator[Path]:
    """Writes each page's TSV to ``path`` in turn (yielding it once written) until a page
    comes back short; then checks that every distinct triple was read once."""
    if rows < 1:
        raise StoreError(f"{_where(backend)}: scan_page_rows is {rows}; it must be at least 1")
    out = backend.query(COUNT_TRIPLES, **dataset)
    want = int(out.rows[0][0].value) if out.rows and out.rows[0][0] is not None else 0
    read = 0
    while True:
        data = backend.select_tsv(page_query(read, rows), **dataset)
        got = max(data.count(b"\n") - 1, 0)  # rows after the header (terms hold no newline)
        path.write_bytes(data)
        read += got
        yield path
        if got < rows:
            break
    if read != want:
        raise StoreError(
            f"{_where(backend)}: the paged scan read {read:,} triples, the graph has {want:,}: "
            f"the server caps results below scan_page_rows={rows:,} (Virtuoso: "
            "ResultSetMaxRows), or the graph changed during the scan; index again"
        )


def _where(backend) -> str:
    return getattr(backend, "query_endpoint", backend.name)


def tsv_chunks(path: str | Path, chunk_bytes: int) -> Iterator[bytes]:
    """Blocks of a TSV file, each the header line plus whole rows, at most ``chunk_bytes``
    of rows unless one row alone is longer; no block for a file without rows."""
    chunk_bytes = max(1, int(chunk_bytes))
    with open(path, "rb") as fh:
        header = fh.readline()
        buf = b""
        while True:
            data = fh.read(chunk_bytes)
            buf += data
            while buf and (len(buf) > chunk_bytes or not data):
                cut = buf.rfind(b"\n", 0, chunk_bytes) + 1  # whole rows within the budget
                if cut == 0:  # a row longer than the budget: alone, once it is whole
                    cut = buf.find(b"\n") + 1
                    if cut == 0 and data:
                        break
                    cut = cut or len(buf)
                if not data and len(buf) <= chunk_bytes:  # the end of the file
                    cut = len(buf)
                yield header + buf[:cut]
                buf = buf[cut:]
            if not data:
                return
