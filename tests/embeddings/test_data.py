"""Split files: ids, malformed lines (file:line), unseen entities, held-out splits."""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.embeddings import TripleSplits
from kgagent.embeddings.data import read_triples
from kgagent.errors import KGLoadError


def test_ids_come_from_train_sorted(ring):
    assert ring.entities == sorted(ring.entities)
    assert ring.relations == ["jump", "next", "skip"]
    assert ring.train.dtype == np.int64 and ring.train.shape[1] == 3
    assert len(ring.all_triples()) == 54
    assert not ring.unseen


def test_malformed_line_names_file_and_line(tmp_path):
    f = tmp_path / "train.txt"
    f.write_text("a\tr\tb\n\nc\tr\n", encoding="utf-8")
    with pytest.raises(KGLoadError) as err:
        read_triples(f)
    assert err.value.line == 3
    assert str(err.value).startswith(f"{f}:3: expected 3 fields")
    f.write_text("a\tr\t \n", encoding="utf-8")
    with pytest.raises(KGLoadError, match=r"train.txt:1:"):
        TripleSplits.from_files(train=f)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(KGLoadError, match="cannot read"):
        read_triples(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00a\tb\tc\n")
    with pytest.raises(KGLoadError, match="not UTF-8"):
        read_triples(tmp_path / "bin.txt")
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(KGLoadError, match="no triples"):
        TripleSplits.from_files(train=tmp_path / "empty.txt")


def test_unseen_entities_are_counted_and_dropped(tmp_path):
    train = tmp_path / "train.txt"
    test = tmp_path / "test.txt"
    train.write_text("a\tr\tb\nb\tr\tc\n", encoding="utf-8")
    test.write_text("a\tr\tc\na\tr\tz\ny\tq\tb\nc\tq\tc\n", encoding="utf-8")
    data = TripleSplits.from_files(train=train, test=test)
    assert data.test.tolist() == [[0, 0, 2]]
    assert data.unseen["test"] == {"triples": 3, "entities": ["y", "z"], "relations": ["q"]}
    assert "valid" not in data.unseen


def test_heldout_split_keeps_every_id_in_train():
    rng = np.random.default_rng(0)
    triples = np.unique(rng.integers(0, [30, 4, 30], size=(300, 3)), axis=0)
    data = TripleSplits.from_id_triples(
        triples, entities=[f"e{i}" for i in range(30)], relations=list("abcd"), heldout=0.1
    )
    assert len(data.valid) == len(data.test) == int(len(triples) * 0.1)
    assert len(data.train) + len(data.valid) + len(data.test) == len(triples)
    train_ents = set(data.train[:, [0, 2]].ravel().tolist())
    train_rels = set(data.train[:, 1].tolist())
    held = np.concatenate([data.valid, data.test])
    assert set(held[:, [0, 2]].ravel().tolist()) <= train_ents
    assert set(held[:, 1].tolist()) <= train_rels
    again = TripleSplits.from_id_triples(
        triples, entities=data.entities, relations=data.relations, heldout=0.1
    )
    assert np.array_equal(again.test, data.test)  # seeded
