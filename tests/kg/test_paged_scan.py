"""A graph on a SPARQL endpoint is scanned in pages (issue 24 item 4): every distinct
triple read once, in queries of at most ``scan_page_rows`` rows, fed to the same chunks
(so the index is the same as from a local store); a server that caps its results below the
page size is an error naming the setting, not a partial index. The fake endpoint
(tests/kg/sparql_fake.py) runs in every test run; the Virtuoso one is marked ``server``
(``make test-server``)."""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.errors import StoreError
from kgagent.kg import STORE_BACKENDS
from kgagent.kg.graph import KnowledgeGraph
from kgagent.kg.scan import triple_chunks
from kgagent.retrieval.artifacts import RetrievalIndex
from kgagent.retrieval.encoder import get_encoder
from tests.kg.sparql_fake import FakeEndpoint

PAGE = 5


def _load(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    kg.load_triples(data_dir / "tiny_kb.txt")
    return kg


@pytest.fixture
def local(data_dir):
    kg = _load(KnowledgeGraph(), data_dir)
    yield kg
    kg.close()


@pytest.fixture
def endpoint():
    with FakeEndpoint() as ep:
        yield ep


@pytest.fixture
def remote(endpoint, data_dir, tmp_path):
    backend = STORE_BACKENDS.get("sparql")(endpoint.url, scan_page_rows=PAGE)
    kg = _load(KnowledgeGraph(store=backend, vocab_dir=tmp_path / "vocab"), data_dir)
    yield kg
    kg.close()


def _rows(kg, chunk_bytes=1 << 20) -> list[tuple[str, str, str]]:
    return [
        r for f in triple_chunks(kg, chunk_bytes=chunk_bytes) for r in f.itertuples(index=False)
    ]


def test_every_triple_is_read_once_in_pages_of_bounded_rows(remote, local, endpoint):
    endpoint.queries.clear()
    rows = _rows(remote, chunk_bytes=200)  # chunks smaller than a page, too
    want = set(local.triples_frame().itertuples(index=False))
    assert len(rows) == len(set(rows)) == len(want) > 3 * PAGE and set(rows) == want
    pages = [q for q in endpoint.queries if "OFFSET" in q]
    assert len(pages) == len(want) // PAGE + 1
    assert all(f"LIMIT {PAGE} OFFSET {k * PAGE}" in q for k, q in enumerate(pages))
    unpaged = [q for q in endpoint.queries if "?o" in q and "OFFSET" not in q and "COUNT" not in q]
    assert unpaged == []  # never the whole graph in one answer


def test_the_index_of_an_endpoint_graph_is_the_local_one(remote, local):
    enc = get_encoder("hashing")
    a, _ = RetrievalIndex.build(local, enc, exact_max=1000, chunk_mb=1e-3)
    b, report = RetrievalIndex.build(remote, enc, exact_max=1000, chunk_mb=1e-3)
    ids = a.facts.ids  # the table follows the scan's order: the paged one is sorted
    assert sorted(zip(ids.tolist(), a.facts.texts, strict=True)) == sorted(
        zip(b.facts.ids.tolist(), b.facts.texts, strict=True)
    )
    assert report.encoded == len(b.facts) == len(a.facts)
    np.testing.assert_array_equal(a.vectors.vectors(ids), b.vectors.vectors(ids))


def test_a_server_that_caps_pages_below_the_page_size_is_an_error(remote, endpoint):
    endpoint.max_rows = PAGE - 1  # as Virtuoso's ResultSetMaxRows would, silently
    with pytest.raises(StoreError, match=r"read 4 triples, the graph has \d+.*scan_page_rows=5"):
        _rows(remote)


def test_a_page_size_below_one_is_refused(remote):
    remote.backend.scan_page_rows = 0
    with pytest.raises(StoreError, match="scan_page_rows is 0"):
        _rows(remote)


@pytest.mark.server
def test_virtuoso_is_scanned_in_pages(virtuoso, local, data_dir, tmp_path):
    from tests.contract.cases import _wipe

    backend = STORE_BACKENDS.get("sparql")(
        virtuoso.query_endpoint,
        update_endpoint=virtuoso.update_endpoint,
        auth=virtuoso.auth,
        scan_page_rows=PAGE,
    )
    _wipe(backend)
    kg = KnowledgeGraph(store=backend, vocab_dir=tmp_path / "vocab")
    try:
        _load(kg, data_dir)
        rows = _rows(kg, chunk_bytes=200)
        assert len(rows) == len(set(rows)) and set(rows) == set(
            local.triples_frame().itertuples(index=False)
        )
    finally:
        _wipe(backend)
        kg.close()
