"""RetrievalIndex: builds reuse what they can, loads refuse what does not match."""

from __future__ import annotations

import json

import pytest

from kgagent.errors import IndexMismatchError
from kgagent.kg.graph import KnowledgeGraph
from kgagent.retrieval.artifacts import RetrievalIndex
from kgagent.retrieval.encoder import get_encoder


@pytest.fixture
def kg(data_dir):
    g = KnowledgeGraph()
    g.load_triples(data_dir / "tiny_kb.txt")
    yield g
    g.close()


def _build(kg, previous=None):
    return RetrievalIndex.build(kg, get_encoder("hashing"), previous=previous, exact_max=1000)


def test_a_saved_index_loads_only_for_its_graph_and_encoder(kg, tmp_path):
    built, report = _build(kg)
    assert report.encoded == report.facts == len(built.facts) > 0
    built.save(tmp_path / "index")
    enc = get_encoder("hashing")
    again = RetrievalIndex.load(tmp_path / "index", encoder=enc, fingerprint=kg.fingerprint())
    assert len(again.facts) == len(built.facts) and again.relations == built.relations
    with pytest.raises(IndexMismatchError, match="another state of the graph"):
        RetrievalIndex.load(tmp_path / "index", encoder=enc, fingerprint="other")
    with pytest.raises(IndexMismatchError, match=r"manifest\.json: field .encoder."):
        RetrievalIndex.load(
            tmp_path / "index", encoder=get_encoder("hashing", dim=64), fingerprint="x"
        )


def test_an_unreadable_linker_does_not_cost_the_vectors(kg, tmp_path):
    built, _ = _build(kg)
    built.save(tmp_path / "index")
    manifest = tmp_path / "index" / "linker" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": "old/1"}))
    previous = RetrievalIndex.reusable(tmp_path / "index", encoder=get_encoder("hashing"))
    assert previous is not None and previous.linker is None and previous.vectors is not None
    rebuilt, report = _build(kg, previous)
    assert report.encoded == 0  # every vector reused; the linker is rebuilt
    assert len(rebuilt.linker) == len(built.linker)


def test_nothing_is_reused_from_another_encoder(kg, tmp_path):
    built, _ = _build(kg)
    built.save(tmp_path / "index")
    other = get_encoder("hashing", dim=64)
    previous = RetrievalIndex.reusable(tmp_path / "index", encoder=other)
    _, report = RetrievalIndex.build(kg, other, previous=previous, exact_max=1000)
    assert report.encoded == report.facts
