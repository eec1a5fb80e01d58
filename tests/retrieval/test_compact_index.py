"""Compact fact vectors: float16 flat/HNSW and IVF-PQ through FactIndex: each kind
round-trips a mapped save/load, takes adds after a load without retraining, removes,
reaches a recall floor on random data, names the file it cannot read, and records its
kind, settings and measured recall in the manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kgagent.errors import IndexLoadError
from kgagent.retrieval.index import FactIndex, PQParams

D = 16
N = 3000
#: storage, exact_max -> the kind it builds at N vectors
KINDS = {
    "flat16": ("float16", 1_000_000),
    "hnsw16": ("float16", 100),
    "ivfpq": ("pq", 1_000_000),
    "ivfpq-auto": ("auto", 2000),
}
#: recall@10 floors on clustered random data (measured: flat16 1.0, hnsw16 ~0.99,
#: ivfpq ~0.95 with the default refine; PQ alone on 16-d data, 2 bytes, ~0.3)
FLOOR = {"flat16": 0.98, "hnsw16": 0.9, "ivfpq": 0.8, "ivfpq-auto": 0.8}


def unit(rng: np.random.Generator, n: int, d: int = D) -> np.ndarray:
    centres = rng.standard_normal((32, d)).astype(np.float32)  # clusters, as real facts
    x = centres[rng.integers(0, 32, n)] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(3)


def built(name: str, rng: np.random.Generator, pq: PQParams | None = None):
    storage, exact_max = KINDS[name]
    index = FactIndex(D, exact_max=exact_max, storage=storage, pq=pq or PQParams(nprobe=8))
    x = unit(rng, N)
    ids = np.arange(N, dtype=np.int64) * 7 + 5
    for start in range(0, N, 500):  # chunks, as a streaming build adds them
        index.add(ids[start : start + 500], x[start : start + 500])
    return index, ids, x


def recall_at_10(index: FactIndex, base: np.ndarray, ids: np.ndarray, queries: np.ndarray):
    exact = ids[np.argsort(-(queries @ base.T), axis=1)[:, :10]]  # (q, 10)
    found = index.search(queries, 10)[1]
    return np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)])


@pytest.mark.parametrize("name", list(KINDS))
def test_kind_recall_and_manifest_roundtrip(tmp_path, rng, name):
    index, ids, x = built(name, rng)
    want = "ivfpq" if name.startswith("ivfpq") else name
    assert index.kind == want and len(index) == N
    queries = unit(rng, 100)
    measured = recall_at_10(index, x, ids, queries)
    assert measured >= FLOOR[name]
    probe = index.recall()  # the index's own measurement, on stored vectors
    assert probe is not None and probe >= FLOOR[name]
    index.save(tmp_path / "v")
    m = json.loads((tmp_path / "v" / "manifest.json").read_text())
    assert m["kind"] == want and m["storage"] == KINDS[name][0]
    assert m["recall_at_10"] == pytest.approx(probe, abs=1e-4) and m["recall_probes"] > 0
    loaded = FactIndex.load(tmp_path / "v")
    assert loaded.kind == want and len(loaded) == N
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])
    np.testing.assert_allclose(loaded.vectors(ids[:5]), x[:5], atol=2e-3)  # float16 rows
    assert loaded.recall() == pytest.approx(probe)
    assert "recall@10 vs exact" in FactIndex.summary(tmp_path / "v")


@pytest.mark.parametrize("name", list(KINDS))
def test_adds_and_removes_after_a_mapped_load(tmp_path, rng, name):
    index, ids, x = built(name, rng)
    index.save(tmp_path / "v")
    loaded = FactIndex.load(tmp_path / "v")
    if loaded.kind == "ivfpq":
        trained = json.loads((tmp_path / "v" / "manifest.json").read_text())["trained_on"]
    new = unit(rng, 50)
    new_ids = np.arange(10**6, 10**6 + 50)
    loaded.add(new_ids, new)  # the mapped index is read into memory first, not written
    assert len(loaded) == N + 50 and 10**6 in loaded
    assert (loaded.search(new, 1)[1][:, 0] == new_ids).mean() >= 0.9
    assert loaded.remove(np.concatenate([ids[:100], [123456789]])) == 100
    assert len(loaded) == N - 50 and ids[0] not in loaded
    assert not np.isin(loaded.search(x[:100], 10)[1], ids[:100]).any()
    replaced = unit(rng, 1)
    loaded.add(ids[200:201], replaced)  # replace: one live row, the new vector
    np.testing.assert_allclose(loaded.vectors(ids[200:201]), replaced, atol=2e-3)
    loaded.save(tmp_path / "v")  # over the directory it maps
    again = FactIndex.load(tmp_path / "v")
    assert len(again) == N - 50 and again.kind == loaded.kind
    assert sorted(again.ids().tolist()) == sorted(loaded.ids().tolist())
    if again.kind == "ivfpq":  # added and saved without retraining
        m = json.loads((tmp_path / "v" / "manifest.json").read_text())
        assert m["trained_on"] == trained


def test_ivfpq_reuses_its_float16_rows_and_compacts_without_retraining(tmp_path, rng):
    index, ids, x = built("ivfpq", rng)
    index.save(tmp_path / "a")
    loaded = FactIndex.load(tmp_path / "a")
    loaded.add(np.arange(10**6, 10**6 + 20), unit(rng, 20))
    loaded.save(tmp_path / "a", reuse=tmp_path / "a")  # as RetrievalIndex.save does
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "vectors16.tail.npy" in files  # only the new rows written; the base linked
    again = FactIndex.load(tmp_path / "a")
    before = again.search(x[1000:1100], 10)[1]
    again.remove(ids[:900])  # past 20 % tombstones: compacted, codebooks kept
    assert again.tombstones == 0 and len(again) == N + 20 - 900
    after = again.search(x[1000:1100], 10)[1]
    assert not np.isin(after, ids[:900]).any()
    kept = ~np.isin(before, ids[:900])
    same = [np.isin(b[k], a).mean() for b, a, k in zip(before, after, kept, strict=True)]
    assert np.mean(same) > 0.9  # the surviving neighbours are still found
    again.rebuild()  # the explicit rebuild retrains, on the live vectors
    assert again.kind == "ivfpq" and len(again) == N + 20 - 900


def test_pq_search_settings_apply_without_retraining(rng):
    index, ids, x = built("ivfpq", rng, PQParams(nprobe=1, refine=0))
    low = recall_at_10(index, x, ids, x[:100])
    index.configure(storage="pq", pq=PQParams(nprobe=16, refine=200))
    assert index.kind == "ivfpq"
    assert recall_at_10(index, x, ids, x[:100]) > low


def test_configure_switches_kind_from_the_stored_vectors(rng):
    index = FactIndex(D)
    x = unit(rng, N)
    index.add(np.arange(N), x)
    assert index.kind == "flat" and index.recall() is None  # exact: nothing to measure
    index.configure(storage="float16")
    assert index.kind == "flat16"
    assert index.recall() >= 0.98
    index.configure(storage="pq")
    assert index.kind == "ivfpq" and len(index) == N
    with pytest.raises(ValueError, match="storage must be one of"):
        index.configure(storage="int4")


@pytest.mark.parametrize("name", ["flat16", "hnsw16", "ivfpq"])
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_file_is_an_index_load_error_naming_it(tmp_path, rng, name, damage):
    index, _, _ = built(name, rng)
    index.save(tmp_path / "v")
    target = tmp_path / "v" / ("vectors16.npy" if name == "ivfpq" else "index.faiss")
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    else:
        target.write_bytes(b"\0" * len(data))
    with pytest.raises(IndexLoadError, match=target.name):
        FactIndex.load(tmp_path / "v")


def test_an_old_save_without_a_probe_loads_with_unknown_recall(tmp_path, rng):
    index, _, _ = built("hnsw16", rng)
    index.save(tmp_path / "v")
    manifest = tmp_path / "v" / "manifest.json"
    m = json.loads(manifest.read_text())
    for key in ("storage", "pq", "recall_at_10", "recall_probes"):
        m.pop(key)
    m["files"].pop("probe.npz")
    m["inventory"].pop("probe.npz")
    (tmp_path / "v" / "probe.npz").unlink()
    manifest.write_text(json.dumps(m))
    loaded = FactIndex.load(tmp_path / "v")
    assert loaded.kind == "hnsw16" and loaded.recall() is None


def test_auto_turns_ivfpq_with_the_add_that_crosses_exact_max(rng):
    """Trained on the exact rows in place, the crossing chunk added after: each chunk
    below the threshold stays exact, the first one past it is IVF-PQ and found."""
    index = FactIndex(D, exact_max=2000, storage="auto", pq=PQParams(nprobe=8))
    x = unit(rng, 2500)
    kinds = []
    for start in range(0, 2500, 500):
        index.add(np.arange(start, start + 500, dtype=np.int64), x[start : start + 500])
        kinds.append(index.kind)
    assert kinds == ["flat", "flat", "flat", "flat", "ivfpq"]
    assert len(index) == 2500
    assert np.array_equal(index.search(x[2400:2410], 1)[1][:, 0], np.arange(2400, 2410))
