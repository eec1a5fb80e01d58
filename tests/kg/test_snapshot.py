"""The ids and the adjacency come from one scan in chunks, and a persistent graph keeps
them: a reopen at the same fingerprint maps them, any change makes the next open scan."""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.kg import scan as kg_scan
from kgagent.kg import snapshot
from kgagent.kg.adjacency import Adjacency
from kgagent.kg.graph import KnowledgeGraph
from kgagent.kg.vocab import Vocabulary

E = "http://example.org/"


def edges(kg: KnowledgeGraph) -> set[tuple[str, str, str]]:
    """The adjacency as IRI triples (id-free, so two id orders compare)."""
    ents, rels = kg.vocab.entities, kg.vocab.relations
    return {(ents.iri(h), rels.iri(r), ents.iri(t)) for h, r, t in kg.adjacency().triples()}


def ttl(n: int) -> str:
    lines = [f"@prefix e: <{E}> ."]
    for i in range(n):
        lines.append(f'e:f{i} e:directedBy e:p{i % 7} ; e:year "{1990 + i % 30}" .')
        lines.append(f"e:f{i} e:genre e:g{i % 3} .")
    return "\n".join(lines) + "\n"


@pytest.fixture
def graph_file(tmp_path):
    path = tmp_path / "films.ttl"
    path.write_text(ttl(200), encoding="utf-8")
    return path


def scans(monkeypatch) -> list[int]:
    """Counts the scans of the store from here on."""
    seen: list[int] = []
    real = kg_scan.triple_chunks

    def counted(*args, **kwargs):
        seen.append(1)
        yield from real(*args, **kwargs)

    monkeypatch.setattr(kg_scan, "triple_chunks", counted)
    return seen


def test_a_scan_in_many_chunks_gives_the_graph_of_one(graph_file):
    with KnowledgeGraph() as kg:
        kg.load(graph_file)
        whole = edges(kg)
        vocab = Vocabulary()
        adj = snapshot.scan(kg, vocab, chunk_bytes=512)  # dozens of chunks
    assert len(whole) == 400  # literals are not edges
    got = {
        (vocab.entities.iri(h), vocab.relations.iri(r), vocab.entities.iri(t))
        for h, r, t in adj.triples()
    }
    assert got == whole
    assert adj.num_entities == len(vocab.entities) == 200 + 7 + 3
    assert len(set(vocab.entities.terms)) == len(vocab.entities)  # no term twice


def test_reopen_maps_the_saved_adjacency_without_a_scan(tmp_path, graph_file, monkeypatch):
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        kg.load(graph_file)
        before = kg.adjacency()
        ids = list(kg.vocab.entities.terms)
    assert (tmp_path / "ws" / "vocab" / "snapshot" / "manifest.json").is_file()
    seen = scans(monkeypatch)
    with KnowledgeGraph.open(tmp_path / "ws", read_only=True) as kg:
        after = kg.adjacency()
        assert kg.vocab.entities.terms == ids
    assert seen == []
    assert isinstance(after.targets, np.memmap)
    for name in ("indptr", "relations", "targets"):
        assert np.array_equal(getattr(before, name), getattr(after, name))


def test_a_change_makes_the_next_open_scan_again(tmp_path, graph_file, monkeypatch):
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        kg.load(graph_file)
        kg.adjacency()
        # as many triples deleted as inserted: the fingerprint's count does not change
        kg.update(
            f"DELETE DATA {{ GRAPH <{kg.sources()[0].graph}> "
            f"{{ <{E}f0> <{E}genre> <{E}g0> }} }} ;"
            f"INSERT DATA {{ GRAPH <{kg.sources()[0].graph}> "
            f"{{ <{E}f0> <{E}genre> <{E}new_genre> }} }}"
        )
    seen = scans(monkeypatch)
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        got = edges(kg)
    assert seen == [1]
    assert (f"{E}f0", f"{E}genre", f"{E}new_genre") in got
    assert (f"{E}f0", f"{E}genre", f"{E}g0") not in got


def test_a_damaged_snapshot_is_scanned_again_not_trusted(tmp_path, graph_file):
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        kg.load(graph_file)
        whole = edges(kg)
    targets = tmp_path / "ws" / "vocab" / "snapshot" / "targets.npy"
    np.save(targets, np.zeros(3, dtype=np.int64))  # the wrong length
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        assert edges(kg) == whole


def test_duplicate_rows_are_one_edge_and_rows_stay_sorted():
    triples = np.array([[2, 0, 1], [0, 1, 2], [2, 0, 1], [0, 0, 3]], dtype=np.int32)
    adj = Adjacency.from_triples(triples, num_entities=4, num_relations=2)
    assert adj.triples().tolist() == [[0, 0, 3], [0, 1, 2], [2, 0, 1]]
    assert adj.indptr.tolist() == [0, 2, 2, 3, 3]


def test_the_count_is_kept_until_the_graph_changes(tmp_path, graph_file, monkeypatch):
    """The fingerprint's distinct count hashes every triple: a reopen reads it instead,
    and a change (even one the sources do not show, an update) counts again."""
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        kg.load(graph_file)
        n, fp = len(kg), kg.fingerprint()
    assert (tmp_path / "ws" / "vocab" / "count.json").is_file()
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        monkeypatch.setattr(kg, "_run", lambda *a, **k: pytest.fail("counted again"))
        assert (len(kg), kg.fingerprint()) == (n, fp)
        monkeypatch.undo()
        kg.update(f"INSERT DATA {{ GRAPH <{kg.sources()[0].graph}> {{ <{E}x> <{E}y> <{E}z> }} }}")
        assert len(kg) == n + 1
    with KnowledgeGraph.open(tmp_path / "ws") as kg:
        assert len(kg) == n + 1
        assert kg.fingerprint() != fp
