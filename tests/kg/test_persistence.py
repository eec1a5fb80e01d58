"""A persistent graph survives restarts, keeps its ids, and recovers from a crashed load."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from rdflib import URIRef

from kgagent.errors import StoreError, VocabularyError
from kgagent.kg.graph import KnowledgeGraph


def test_reopen_gives_the_same_graph_and_ids(tmp_path, data_dir):
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        kg.load(data_dir / "tiny.ttl")
        kg.load_triples(data_dir / "tiny_kb.txt")
        n, fp = len(kg), kg.fingerprint()
        ids = list(kg.vocab.entities.terms)
        sources = kg.sources()
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        assert len(kg) == n
        assert kg.fingerprint() == fp
        assert kg.sources() == sources
        assert kg.vocab.entities.terms == ids
        assert (tmp_path / "ws" / "vocab" / "manifest.json").exists()


def test_ids_stay_reserved_after_removing_a_source(tmp_path, data_dir):
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        kg.load_triples(data_dir / "tiny_kb.txt")
        nolan = kg.vocab.entities.id(URIRef("http://kgagent.local/kg/entity/Christopher%20Nolan"))
        kg.remove_source("tiny_kb.txt")
        kg.load(data_dir / "tiny.ttl")
        assert kg.vocab.entities.iri(nolan).endswith("Christopher%20Nolan")
        assert kg.adjacency().out_degree()[nolan] == 0


def test_crashed_load_is_rolled_back_on_open(tmp_path, data_dir):
    """A process killed mid-load leaves a 'loading' record; the next open removes it."""
    script = textwrap.dedent(
        f"""
        import os
        from kgagent.kg.graph import KnowledgeGraph
        from kgagent.kg import backends
        kg = KnowledgeGraph.open({str(tmp_path / "ws")!r})
        kg.load({str(data_dir / "tiny.ttl")!r})
        real = backends.OxigraphBackend.load
        def dying(self, *a, **k):
            real(self, *a, **k)
            self.store.flush()
            os._exit(9)  # killed after the data landed, before the load was marked complete
        backends.OxigraphBackend.load = dying
        kg.load_triples({str(data_dir / "tiny_kb.txt")!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        assert [s.name for s in kg.sources()] == ["tiny.ttl"]
        assert len(kg) == 54
        assert not bool(kg.query("ASK { ?s ?p 'Christopher Nolan' }").askAnswer)


def test_read_only_open(tmp_path, data_dir):
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        kg.load(data_dir / "tiny.ttl")
    with KnowledgeGraph.open(tmp_path / "ws", read_only=True) as kg:
        assert len(kg) == 54
        assert kg.ontology.label("http://example.org/data/nolan") == "Christopher Nolan"
        with pytest.raises(StoreError, match="read-only"):
            kg.load(data_dir / "tiny.ttl", graph="again")
        assert len(kg) == 54


def test_second_writer_gets_a_clear_error(tmp_path):
    kg = KnowledgeGraph.open(tmp_path / "ws")
    try:
        with pytest.raises(StoreError, match=r"another process|cannot open"):
            KnowledgeGraph.open(tmp_path / "ws")
    finally:
        kg.close()


def test_corrupt_vocab_is_refused(tmp_path, data_dir):
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        kg.load_triples(data_dir / "tiny_kb.txt")
        _ = kg.vocab
    path = tmp_path / "ws" / "vocab" / "entities.txt"
    path.write_text(path.read_text()[: -len(path.read_text().splitlines()[-1]) - 1])
    with pytest.raises(VocabularyError, match=r"corrupt|manifest"):
        KnowledgeGraph.open(tmp_path / "ws")


def test_open_rejects_a_file(tmp_path):
    f = tmp_path / "x"
    f.write_text("hi")
    with pytest.raises(StoreError, match="not a directory"):
        KnowledgeGraph.open(f)
    assert os.path.exists(f)
