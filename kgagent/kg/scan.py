"""Every distinct triple of a graph, in chunks of bounded size.

:meth:`KnowledgeGraph.triples_frame` holds the whole union as one DataFrame of Python
strings: ~400 MB per million triples, so a 10M-triple graph needs gigabytes just to be
read. A streaming reader (the retrieval index build) instead has the store write the
same ``SELECT DISTINCT`` as SPARQL TSV to a scratch file (Oxigraph serializes it as it
evaluates; other backends write their result) and parses it block by block: a chunk is
at most ``chunk_bytes`` of TSV (and at least one row), so what is held at a time is
bounded by bytes, whatever the number of rows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from kgagent.kg.backends import canonical_terms, read_tsv
from kgagent.kg.sources import union_graphs

if TYPE_CHECKING:
    import pandas as pd

    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["ALL_TRIPLES", "triple_chunks", "tsv_chunks"]

#: the scan of :meth:`KnowledgeGraph.triples_frame`, so both read the same rows
ALL_TRIPLES = "SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o }"


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
    with tempfile.TemporaryDirectory(prefix="kgagent-scan-", dir=scratch) as tmp:
        path = Path(tmp) / "triples.tsv"
        backend.select_tsv_to(
            ALL_TRIPLES,
            path,
            default_graphs=union_graphs(backend),
            include_default=backend.separate_default_graph,
        )
        for block in tsv_chunks(path, chunk_bytes):
            frame = read_tsv(block, 3)
            frame[2] = canonical_terms(frame[2])
            yield frame


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
