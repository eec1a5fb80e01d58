"""The pieces of the streamed build: the chunked store scan, the string blobs, and the
columnar fact table on disk (refused by name when damaged; the old TSV still read)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kgagent.errors import IndexLoadError
from kgagent.kg.graph import KnowledgeGraph
from kgagent.kg.scan import triple_chunks, tsv_chunks
from kgagent.retrieval.artifacts import RetrievalIndex
from kgagent.retrieval.encoder import get_encoder
from kgagent.retrieval.facts import FactTable
from kgagent.retrieval.strings import Strings

HEADER = b"?s\t?p\t?o\n"


@pytest.fixture
def kg(data_dir):
    g = KnowledgeGraph()
    g.load(data_dir / "tiny.ttl")
    yield g
    g.close()


@pytest.mark.parametrize("budget", [1, 7, 30, 100, 1 << 30])
def test_tsv_chunks_are_whole_rows_within_the_budget(tmp_path, budget):
    rows = [b"<a>\t<b>\t<c%d>\n" % i for i in range(20)] + [b"<" + b"x" * 60 + b">\n", b"<z>"]
    path = tmp_path / "t.tsv"
    path.write_bytes(HEADER + b"".join(rows))
    blocks = list(tsv_chunks(path, budget))
    assert all(b.startswith(HEADER) for b in blocks)
    bodies = [b[len(HEADER) :] for b in blocks]
    assert b"".join(bodies) == b"".join(rows)  # every byte once, in order
    assert all(body.endswith(b"\n") for body in bodies[:-1])  # whole rows
    assert bodies[-1].endswith(b"<z>")  # the last row, with no newline after it
    assert all(len(body) <= budget or body.count(b"\n") <= 1 for body in bodies)
    path.write_bytes(HEADER)
    assert list(tsv_chunks(path, budget)) == []


@pytest.mark.parametrize("chunk_bytes", [1, 500, 1 << 30])
def test_the_chunked_scan_reads_what_the_frame_holds(kg, chunk_bytes):
    chunks = list(triple_chunks(kg, chunk_bytes=chunk_bytes))
    frame = pd.concat(chunks, ignore_index=True)
    assert frame.equals(kg.triples_frame())
    assert len(chunks) == (len(frame) if chunk_bytes == 1 else len(chunks))
    assert chunk_bytes > 1 << 20 or len(chunks) > 1


def test_strings_round_trip_and_a_sorted_table_finds_its_terms(tmp_path):
    words = sorted(["", "a", "ab", "b", "é", "日本", "<http://x>", '"1"^^<y>'])
    table = Strings.from_list(words)
    assert table.tolist() == words and [table[i] for i in range(len(words))] == words
    assert [table.find(w) for w in words] == list(range(len(words)))
    assert table.find("abc") == table.find("zz") == table.find("\x00") == -1
    table.save(tmp_path, "w")
    again = Strings.load(tmp_path, "w")
    assert again.tolist() == words and again.find("日本") == words.index("日本")


def _index(kg, tmp_path):
    built, _ = RetrievalIndex.build(kg, get_encoder("hashing"), exact_max=1000)
    built.save(tmp_path / "index")
    return built


def _load(kg, tmp_path):
    return RetrievalIndex.load(
        tmp_path / "index", encoder=get_encoder("hashing"), fingerprint=kg.fingerprint()
    )


@pytest.mark.parametrize("name", ["texts.offsets.npy", "node_rows.npy", "terms.bin"])
def test_a_damaged_fact_file_is_refused_naming_it(kg, tmp_path, name):
    _index(kg, tmp_path)
    path = tmp_path / "index" / "facts" / name
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(IndexLoadError) as info:
        _load(kg, tmp_path)
    assert str(info.value).startswith(f"{path}: ") and "kgagent index" in str(info.value)


def test_fact_files_that_disagree_with_the_manifest_are_refused(kg, tmp_path):
    _index(kg, tmp_path)
    manifest = tmp_path / "index" / "facts" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "count": data["count"] - 1}))
    with pytest.raises(IndexLoadError, match=r"ids\.npy: shape .* manifest\.json says"):
        _load(kg, tmp_path)


def test_an_index_with_the_old_facts_tsv_still_loads(kg, tmp_path):
    built = _index(kg, tmp_path)
    index = tmp_path / "index"
    frame = built.facts.frame
    lines = ["\t".join(map(str, row)) for row in frame.itertuples(index=False)]
    (index / "facts.tsv").write_text("id\ts\tp\to\ttext\n" + "\n".join(lines) + "\n")
    for f in (index / "facts").iterdir():
        f.unlink()
    (index / "facts").rmdir()
    manifest = json.loads((index / "manifest.json").read_text())
    manifest.pop("inventory")  # as an index saved before the inventory
    (index / "manifest.json").write_text(json.dumps(manifest))
    old = _load(kg, tmp_path).facts
    assert old.frame.equals(frame)
    np.testing.assert_array_equal(old.rows_for_ids(frame["id"].to_numpy()), np.arange(len(old)))
    assert isinstance(FactTable(frame).fact(0), type(built.facts.fact(0)))
