"""FactIndex: exact and HNSW search, replace/remove, switching, save/load, refusals."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from kgagent.errors import IndexLoadError, IndexMismatchError, KGAgentError
from kgagent.retrieval.index import FORMAT, FactIndex

D = 16


def unit(rng: np.random.Generator, n: int, d: int = D) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)  # (n, d)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ vectors.T  # (q, n)
    return ids[np.argsort(-scores, axis=1, kind="stable")[:, :k]]  # (q, k)


# -- flat ---------------------------------------------------------------------------------


def test_flat_add_search_and_padding(rng):
    x = unit(rng, 30)
    ids = np.arange(100, 130)
    index = FactIndex(D)
    index.add(ids, x)
    assert index.kind == "flat" and len(index) == 30
    scores, found = index.search(x, 3)
    assert scores.shape == (30, 3) and scores.dtype == np.float32
    assert found.dtype == np.int64
    assert found[:, 0].tolist() == ids.tolist()
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    np.testing.assert_array_equal(found, exact_top(x, ids, x, 3))
    scores, found = index.search(x[0], 40)  # 1-d query, k past the size
    assert found.shape == (1, 40)
    assert (found[0, 30:] == -1).all() and np.isneginf(scores[0, 30:]).all()
    assert set(found[0, :30].tolist()) == set(ids.tolist())


def test_empty_index_searches_to_padding(rng):
    scores, found = FactIndex(D).search(unit(rng, 2), 4)
    assert (found == -1).all() and np.isneginf(scores).all()


def test_replace_remove_contains_ids(rng):
    x = unit(rng, 20)
    index = FactIndex(D)
    index.add(np.arange(20), x)
    new = unit(rng, 1)
    index.add(np.array([5]), new)  # replace
    assert len(index) == 20
    np.testing.assert_allclose(index.vectors(np.array([5])), new)
    assert index.search(new, 1)[1][0, 0] == 5
    scores, found = index.search(x[5], 20)  # the old vector is gone: 5 scores as the new one
    assert scores[0][found[0] == 5][0] == pytest.approx(float(x[5] @ new[0]), abs=1e-5)
    assert index.remove(np.array([1, 2, 2, 999])) == 2
    assert len(index) == 18 and 1 not in index and 3 in index and np.int64(4) in index
    assert sorted(index.ids().tolist()) == [i for i in range(20) if i not in (1, 2)]
    _, found = index.search(x, 20)
    assert not np.isin(found, [1, 2]).any()
    with pytest.raises(KeyError, match="id 1 "):
        index.vectors(np.array([3, 1]))


def test_repeated_id_in_one_add_keeps_the_last(rng):
    x = unit(rng, 3)
    index = FactIndex(D)
    index.add(np.array([4, 9, 4]), x)
    assert len(index) == 2
    np.testing.assert_allclose(index.vectors(np.array([4, 9])), x[[2, 1]])


@pytest.mark.parametrize(
    ("ids", "vectors", "match"),
    [
        (np.array([1, 2]), np.zeros((3, D), np.float32), "shape"),
        (np.array([1]), np.zeros((1, D + 1), np.float32), "shape"),
        (np.array([-1]), np.zeros((1, D), np.float32), ">= 0"),
        (np.array([0.5]), np.zeros((1, D), np.float32), "integers"),
        (np.array([[1]]), np.zeros((1, D), np.float32), "1-d"),
        (np.array([1]), np.full((1, D), np.nan, np.float32), "NaN"),
    ],
)
def test_add_validates(ids, vectors, match):
    with pytest.raises(ValueError, match=match):
        FactIndex(D).add(ids, vectors)


def test_search_validates(rng):
    index = FactIndex(D)
    with pytest.raises(ValueError, match="shape"):
        index.search(np.zeros((1, D + 2), np.float32), 3)
    with pytest.raises(ValueError, match="k must be"):
        index.search(unit(rng, 1), 0)


# -- hnsw ---------------------------------------------------------------------------------


def test_crossing_exact_max_switches_to_hnsw_keeping_every_id(rng):
    x = unit(rng, 80)
    index = FactIndex(D, exact_max=50)
    index.add(np.arange(40), x[:40])
    assert index.kind == "flat"
    index.add(np.arange(30, 80), x[30:])  # 10 replacements + 40 new: 80 > 50
    assert index.kind == "hnsw" and len(index) == 80 and index.tombstones == 0
    assert sorted(index.ids().tolist()) == list(range(80))
    np.testing.assert_allclose(index.vectors(np.arange(80)), x)
    assert index.search(x, 1)[1][:, 0].tolist() == list(range(80))


def test_hnsw_tombstones_filter_and_readd(rng):
    x = unit(rng, 200)
    index = FactIndex(D, exact_max=50)
    index.add(np.arange(200), x)
    assert index.kind == "hnsw"
    gone = np.arange(0, 200, 8)  # 25 rows: 12.5 %, under the rebuild threshold
    assert index.remove(gone) == 25
    assert index.tombstones == 25 and len(index) == 175 and 8 not in index
    scores, found = index.search(x, 10)
    assert not np.isin(found, gone).any()
    assert (found >= 0).all() and np.isfinite(scores).all()  # still k hits per query
    alive = np.setdiff1d(np.arange(200), gone)
    truth = exact_top(x[alive], alive, x, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall > 0.95
    index.add(np.array([8]), x[8:9])  # re-adding a tombstoned id
    assert 8 in index and index.search(x[8], 1)[1][0, 0] == 8
    assert index.remove(np.array([8, 8])) == 1


def test_hnsw_overfetches_past_a_cluster_of_tombstones(rng):
    center = unit(rng, 1)
    cluster = center + 0.05 * rng.standard_normal((100, D)).astype(np.float32)
    cluster /= np.linalg.norm(cluster, axis=1, keepdims=True)
    x = np.concatenate([cluster, unit(rng, 400)])  # (500, D)
    ids = np.arange(500)
    index = FactIndex(D, exact_max=10)
    index.add(ids, x)
    index.remove(np.arange(80))  # 16 %: no rebuild, and every near row but 20 is dead
    assert index.tombstones == 80
    _, found = index.search(center, 30)
    alive = np.arange(80, 500)
    truth = exact_top(x[80:], alive, center, 30)
    assert (found >= 80).all()
    assert len(set(found[0]) & set(truth[0])) >= 28


def test_hnsw_rebuilds_past_20_percent_tombstones_and_can_go_back_to_flat(rng):
    x = unit(rng, 120)
    index = FactIndex(D, exact_max=50)
    index.add(np.arange(120), x)
    index.remove(np.arange(20))  # 16.7 %: tombstones stay
    assert index.kind == "hnsw" and index.tombstones == 20
    index.remove(np.arange(20, 30))  # 25 %: rebuilt from the stored vectors
    assert index.kind == "hnsw" and index.tombstones == 0 and len(index) == 90
    np.testing.assert_allclose(index.vectors(np.arange(30, 120)), x[30:])
    index.remove(np.arange(30, 80))  # 40 left, under exact_max: back to exact search
    assert index.kind == "flat" and len(index) == 40
    assert index.search(x[80:], 1)[1][:, 0].tolist() == list(range(80, 120))


def test_replacing_in_hnsw_leaves_one_live_row_per_id(rng):
    x = unit(rng, 100)
    index = FactIndex(D, exact_max=10)
    index.add(np.arange(100), x)
    near = x[3] + 0.01 * unit(rng, 1)[0]
    index.add(np.array([3]), (near / np.linalg.norm(near))[None, :])
    assert index.tombstones == 1 and len(index) == 100
    _, found = index.search(x[3], 5)
    assert list(found[0]).count(3) == 1


# -- persistence --------------------------------------------------------------------------


@pytest.mark.parametrize("exact_max", [1000, 50])
def test_save_load_roundtrip(tmp_path, rng, exact_max):
    x = unit(rng, 120)
    index = FactIndex(D, exact_max=exact_max, ef_search=64)
    index.add(np.arange(120) * 3, x)
    index.remove(np.array([0, 3, 6]))  # tombstones in the HNSW case
    index.save(tmp_path / "ix", {"encoder": "hashing-16", "kg_fingerprint": "abc"})
    manifest = FactIndex.read_manifest(tmp_path / "ix")
    assert manifest["encoder"] == "hashing-16" and manifest["kg_fingerprint"] == "abc"
    assert manifest["format"] == FORMAT and manifest["metric"] == "ip"
    assert manifest["kind"] == index.kind and manifest["dim"] == D and manifest["count"] == 117
    assert manifest["faiss_version"]
    loaded = FactIndex.load(tmp_path / "ix", expect={"encoder": "hashing-16", "dim": D})
    assert loaded.kind == index.kind and len(loaded) == 117
    assert loaded.ef_search == 64 and loaded.exact_max == exact_max
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    for a, b in zip(loaded.search(x, 7), index.search(x, 7), strict=True):
        np.testing.assert_array_equal(a, b)
    loaded.add(np.array([0]), x[:1])  # still updatable after a load
    assert loaded.search(x[0], 1)[1][0, 0] == 0


def test_save_replaces_a_previous_save(tmp_path, rng):
    x = unit(rng, 10)
    index = FactIndex(D)
    index.add(np.arange(10), x)
    index.save(tmp_path / "ix", {"v": 1})
    index.remove(np.arange(5))
    index.save(tmp_path / "ix", {"v": 2})
    loaded = FactIndex.load(tmp_path / "ix", expect={"v": 2})
    assert len(loaded) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]


def test_manifest_mismatch_names_field_values_and_directory(tmp_path, rng):
    index = FactIndex(D)
    index.add(np.arange(3), unit(rng, 3))
    index.save(tmp_path / "ix", {"encoder": "hashing-16"})
    with pytest.raises(IndexMismatchError) as info:
        FactIndex.load(tmp_path / "ix", expect={"encoder": "sentence-transformers/x"})
    msg = str(info.value)
    assert "'encoder'" in msg and "'hashing-16'" in msg and "'sentence-transformers/x'" in msg
    assert str(tmp_path / "ix") in msg
    with pytest.raises(IndexMismatchError, match="'dim' is 16, expected 384"):
        FactIndex.load(tmp_path / "ix", expect={"dim": 384})
    with pytest.raises(IndexMismatchError, match="'kg_fingerprint' is '<missing>'"):
        FactIndex.load(tmp_path / "ix", expect={"kg_fingerprint": "abc"})


def _drop_inventory(d):
    manifest = json.loads((d / "manifest.json").read_text())
    del manifest["inventory"]
    (d / "manifest.json").write_text(json.dumps(manifest))


def _saved(tmp_path, rng, exact_max=1000):
    index = FactIndex(D, exact_max=exact_max)
    index.add(np.arange(60), unit(rng, 60))
    index.save(tmp_path / "ix", {})
    return tmp_path / "ix"


@pytest.mark.parametrize("exact_max", [1000, 10])
def test_corrupt_index_file_is_a_clear_error(tmp_path, rng, exact_max):
    d = _saved(tmp_path, rng, exact_max)
    # exact indexes are saved as raw vectors, HNSW as a faiss file
    name, error = (
        ("vectors.npy", "unreadable") if exact_max == 1000 else ("index.faiss", "corrupt faiss")
    )
    path = d / name
    size = path.stat().st_size
    path.write_bytes(b"\x00garbage" * (size // 8) + b"\x00" * (size % 8))  # same size
    with pytest.raises(IndexLoadError, match=rf"{name}: contents differ .*sha256"):
        FactIndex.load(d)  # the manifest's digest catches it first
    _drop_inventory(d)  # as an index saved before the inventory: the file's own checks
    with pytest.raises(IndexLoadError, match=rf"{name}: {error}") as info:
        FactIndex.load(d)
    assert "Error in" not in str(info.value)  # no C++ trace in the message


def test_truncated_or_missing_files(tmp_path, rng):
    d = _saved(tmp_path, rng)
    data = (d / "vectors.npy").read_bytes()
    (d / "vectors.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexLoadError, match="truncated"):
        FactIndex.load(d)
    (d / "vectors.npy").write_bytes(data)
    (d / "ids.npy").unlink()
    with pytest.raises(IndexLoadError, match=r"ids\.npy: missing"):
        FactIndex.load(d)


def test_missing_directory_and_bad_manifest(tmp_path, rng):
    with pytest.raises(IndexLoadError, match="no such directory"):
        FactIndex.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexLoadError, match=r"manifest\.json: missing \(not a saved fact index\)"):
        FactIndex.read_manifest(tmp_path / "empty")
    d = _saved(tmp_path, rng)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match=r"manifest\.json: unreadable"):
        FactIndex.load(d)
    (d / "manifest.json").write_text(json.dumps({"format": "other/1"}))
    with pytest.raises(IndexLoadError, match="not 'kgagent-faiss/1'"):
        FactIndex.load(d)


def test_ids_file_that_disagrees_is_refused(tmp_path, rng):
    d = _saved(tmp_path, rng)
    ids = np.load(d / "ids.npy")
    np.save(d / "ids.npy", ids[::-1].copy())  # same size, other order
    with pytest.raises(IndexLoadError, match=r"ids\.npy: contents differ .*sha256"):
        FactIndex.load(d)
    _drop_inventory(d)  # as an index saved before the inventory: the ids digest
    with pytest.raises(IndexLoadError, match="does not match"):
        FactIndex.load(d)
    with pytest.raises(KGAgentError):
        FactIndex.load(d)


def test_a_crash_during_save_keeps_the_previous_index(tmp_path, rng, monkeypatch):
    x = unit(rng, 40)
    index = FactIndex(D)
    index.add(np.arange(20), x[:20])
    index.save(tmp_path / "ix", {"v": 1})
    before = FactIndex.load(tmp_path / "ix").search(x, 5)
    index.add(np.arange(20, 40), x[20:])

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        index.save(tmp_path / "ix", {"v": 2}, reuse=tmp_path / "ix")
    monkeypatch.undo()
    loaded = FactIndex.load(tmp_path / "ix", expect={"v": 1})
    assert len(loaded) == 20
    for a, b in zip(loaded.search(x, 5), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]  # no temp dir left


def test_save_reuses_the_unchanged_rows_of_a_previous_save(tmp_path, rng):
    x = unit(rng, 60)
    index = FactIndex(D)
    index.add(np.arange(50), x[:50])
    index.save(tmp_path / "a")
    index.add(np.arange(50, 60), x[50:])
    index.save(tmp_path / "b", reuse=tmp_path / "a")
    # the first 50 rows are the same file, hard-linked; only the 10 new rows were written
    assert (tmp_path / "b" / "vectors.npy").samefile(tmp_path / "a" / "vectors.npy")
    assert np.load(tmp_path / "b" / "vectors.tail.npy").shape == (10, D)
    loaded = FactIndex.load(tmp_path / "b")
    assert len(loaded) == 60
    np.testing.assert_array_equal(loaded.vectors(np.arange(60)), x)
    # a changed row (an id re-added with a new vector) is detected: everything is rewritten
    index.remove(np.array([3]))
    index.save(tmp_path / "c", reuse=tmp_path / "b")
    assert not (tmp_path / "c" / "vectors.npy").samefile(tmp_path / "a" / "vectors.npy")
    assert not (tmp_path / "c" / "vectors.tail.npy").exists()
    assert len(FactIndex.load(tmp_path / "c")) == 59


# -- concurrency --------------------------------------------------------------------------


def test_concurrent_searches_and_writes(rng):
    x = unit(rng, 400)
    index = FactIndex(D, exact_max=300)
    index.add(np.arange(200), x[:200])
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for i in range(60):
                _, found = index.search(x[i : i + 2], 5)
                assert found.shape == (2, 5) and (found[:, 0] >= 0).all()
        except BaseException as exc:
            errors.append(exc)

    def writer() -> None:
        try:
            for start in range(200, 400, 20):  # crosses exact_max: a switch mid-traffic
                index.add(np.arange(start, start + 20), x[start : start + 20])
                index.remove(np.array([start - 100]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert index.kind == "hnsw" and len(index) == 390


def test_single_query_search_restores_the_thread_setting(rng):
    import faiss

    index = FactIndex(D)
    index.add(np.arange(10), unit(rng, 10))
    before = faiss.omp_get_max_threads()
    index.search(unit(rng, 1), 3)
    assert faiss.omp_get_max_threads() == before
