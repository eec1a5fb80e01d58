"""IVF-PQ's float16 re-ranking rows spilled out of memory during a build: with the bound
set to a few small blocks, a store that spilled searches, reads and saves exactly like
one that never did (same trained codebooks, same data), its save is a plain .npy, and the
unlinked scratch file is let go after a save, a close and a collection."""

from __future__ import annotations

import errno
import gc
import os
from pathlib import Path

import numpy as np
import pytest

from kgagent.retrieval import rows16
from kgagent.retrieval.faiss_kinds import faiss_module
from kgagent.retrieval.faiss_pq import IVFPQ, PQParams
from kgagent.retrieval.index import FactIndex

D = 16
N = 5000
BLOCK = 256
BOUND = 3 * BLOCK * D * 2  # bytes: three blocks of float16 rows

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/maps").is_file(), reason="reads /proc/self to see open files"
)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    centres = rng.standard_normal((32, D)).astype(np.float32)
    x = centres[rng.integers(0, 32, n)] + 0.5 * rng.standard_normal((n, D)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(5)
    return np.arange(N, dtype=np.int64) * 3 + 1, unit(rng, N), unit(rng, 40)


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(rows16, "BLOCK", BLOCK)
    monkeypatch.setattr(rows16, "SPILL_BYTES", BOUND)


@pytest.fixture
def trained(data):
    """A trained, empty IVF-PQ index (faiss) and its settings: both stores start from it."""
    ids, x, _ = data
    store = IVFPQ.build(D, PQParams(nprobe=8), ids[:1500], x[:1500])
    index = faiss_module().clone_index(store.index)
    index.reset()
    return index, store.params


def fill(trained, data, *, spill_dir=None, queries=None, check=None) -> IVFPQ:
    """A store over a copy of the trained index, given the data in chunks of 500."""
    index, params = trained
    ids, x, _ = data
    store = IVFPQ(D, params, faiss_module().clone_index(index), spill_dir=spill_dir)
    for start in range(0, N, 500):
        store.add(ids[start : start + 500], x[start : start + 500])
        if check is not None:  # searches during the build see every row so far
            np.testing.assert_array_equal(store.search(queries, 10)[1], check[start])
    return store


def held(directory: Path) -> list[str]:
    """Files under ``directory`` this process holds open or mapped (an unlinked file
    lives on while either remains)."""
    prefix = os.path.realpath(directory)
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(prefix):
            found.append(target)
    with open("/proc/self/maps") as fh:
        found += [line.split(maxsplit=5)[-1].strip() for line in fh if prefix in line]
    return found


@pytest.fixture
def reference(trained, data, monkeypatch):
    """The same store, never spilled, and its search results after each chunk."""
    bound = rows16.SPILL_BYTES  # whichever the test set, restored after
    monkeypatch.setattr(rows16, "SPILL_BYTES", 1 << 62)
    index, params = trained
    ids, x, queries = data
    store = IVFPQ(D, params, faiss_module().clone_index(index))
    during = {}
    for start in range(0, N, 500):
        store.add(ids[start : start + 500], x[start : start + 500])
        during[start] = store.search(queries, 10)[1]
    assert store.float16_rows.spilled == 0
    monkeypatch.setattr(rows16, "SPILL_BYTES", bound)
    return store, during


def same(store: IVFPQ, reference: IVFPQ, data) -> None:
    ids, _, queries = data
    for got, want in zip(store.search(queries, 10), reference.search(queries, 10), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(store.vectors(ids), reference.vectors(ids))
    for got, want in zip(store.live_items(), reference.live_items(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_spilled_store_searches_and_reads_as_one_that_never_spilled(
    tmp_path, trained, data, reference, small_blocks
):
    ref, during = reference
    store = fill(trained, data, spill_dir=tmp_path, queries=data[2], check=during)
    rows = store.float16_rows
    assert rows.spilled >= N - BOUND // (D * 2) - BLOCK and rows.spilled % BLOCK == 0
    assert rows.in_memory * D * 2 <= BOUND + BLOCK * D * 2 and len(rows) == N
    assert list(tmp_path.iterdir()) == []  # the scratch file has no name
    same(store, ref, data)
    np.testing.assert_allclose(store.vectors(data[0][-3:]), data[1][-3:], atol=2e-3)


@needs_proc
def test_save_and_open_round_trip_and_let_the_scratch_file_go(
    tmp_path, trained, data, reference, small_blocks
):
    ref, _ = reference
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    store = fill(trained, data, spill_dir=scratch)
    assert store.float16_rows.spilled and held(scratch)
    (tmp_path / "v").mkdir()
    files = store.save(tmp_path / "v", None)
    assert files == ["index.faiss", "vectors16.npy"]
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == sorted(files)
    assert held(scratch) == [] and list(scratch.iterdir()) == []
    saved = np.load(tmp_path / "v" / "vectors16.npy", allow_pickle=False)
    assert saved.dtype == np.float16 and saved.shape == (N, D)
    np.testing.assert_array_equal(saved, ref.float16_rows.gather(np.arange(N)))
    same(store, ref, data)  # now over the saved file, mapped
    assert store.float16_rows.spilled == 0 and store.float16_rows.in_memory == 0

    index = faiss_module().read_index(str(tmp_path / "v" / "index.faiss"))
    loaded = IVFPQ.open(tmp_path / "v", D, store.params, store.row_ids(), index=index, source=None)
    same(loaded, ref, data)


@needs_proc
def test_close_and_collection_free_the_scratch_file(tmp_path, trained, data, small_blocks):
    store = fill(trained, data, spill_dir=tmp_path)
    assert held(tmp_path)
    store.close()
    assert held(tmp_path) == []
    with pytest.raises(ValueError, match="closed"):
        store.vectors(data[0][:1])

    store = fill(trained, data, spill_dir=tmp_path)
    assert held(tmp_path)
    gc.disable()  # no cycle keeps a dropped store: it goes by reference counting
    try:
        del store
        assert held(tmp_path) == []
    finally:
        gc.enable()


def test_adds_after_a_load_spill_and_save_as_a_linked_base_and_a_tail(
    tmp_path, trained, data, reference, small_blocks
):
    ref, _ = reference
    first = fill(trained, data, spill_dir=tmp_path)
    (tmp_path / "a").mkdir()
    first.save(tmp_path / "a", None)
    extra_ids, extra = np.arange(10**6, 10**6 + 1000), unit(np.random.default_rng(9), 1000)
    for store in (first, ref):
        store.add(extra_ids, extra)  # 1000 rows: past the bound, under MAX_TAIL of 5000
    assert first.float16_rows.spilled
    (tmp_path / "b").mkdir()
    assert first.save(tmp_path / "b", tmp_path / "a")[-1] == "vectors16.tail.npy"
    assert (tmp_path / "b" / "vectors16.npy").stat().st_ino == (
        tmp_path / "a" / "vectors16.npy"
    ).stat().st_ino  # hard-linked, not rewritten
    tail = np.load(tmp_path / "b" / "vectors16.tail.npy", allow_pickle=False)
    assert tail.shape == (1000, D) and tail.dtype == np.float16
    same(first, ref, data)

    index = faiss_module().read_index(str(tmp_path / "b" / "index.faiss"))
    loaded = IVFPQ.open(tmp_path / "b", D, first.params, first.row_ids(), index=index, source=None,
                        spill_dir=tmp_path)  # fmt: skip
    same(loaded, ref, data)
    more_ids, more = np.arange(2 * 10**6, 2 * 10**6 + 1000), extra[::-1].copy()
    for store in (loaded, ref):
        store.add(more_ids, more)  # mapped base + mapped tail + scratch file + memory
    (tmp_path / "c").mkdir()
    assert loaded.save(tmp_path / "c", None) == ["index.faiss", "vectors16.npy"]  # rewritten
    whole = np.load(tmp_path / "c" / "vectors16.npy", allow_pickle=False)
    np.testing.assert_array_equal(whole, ref.float16_rows.gather(np.arange(N + 2000)))
    same(loaded, ref, data)


def test_compaction_of_a_spilled_store_keeps_its_rows(
    tmp_path, trained, data, reference, small_blocks
):
    ref, _ = reference
    ids, _, _ = data
    store = fill(trained, data, spill_dir=tmp_path)
    for s in (store, ref):
        s.remove(ids[:1500])
        s.compact()
    assert store.tombstones == 0 and store.float16_rows.spilled
    live = ids[1500:]
    np.testing.assert_array_equal(store.vectors(live), ref.vectors(live))
    np.testing.assert_array_equal(store.search(data[2], 10)[1], ref.search(data[2], 10)[1])


def test_a_save_copies_without_sendfile_where_the_kernel_refuses(
    tmp_path, trained, data, reference, small_blocks, monkeypatch
):
    def refuse(*_):
        raise OSError(errno.EINVAL, "sendfile between these files")

    monkeypatch.setattr(os, "sendfile", refuse)
    store = fill(trained, data, spill_dir=tmp_path)
    (tmp_path / "v").mkdir()
    store.save(tmp_path / "v", None)
    saved = np.load(tmp_path / "v" / "vectors16.npy", allow_pickle=False)
    np.testing.assert_array_equal(saved, reference[0].float16_rows.gather(np.arange(N)))


@pytest.mark.parametrize("damage", ["garbage", "truncate", "float32"])
def test_a_bad_rows_file_is_refused_naming_it(tmp_path, trained, data, small_blocks, damage):
    store = fill(trained, data)
    (tmp_path / "v").mkdir()
    store.save(tmp_path / "v", None)
    target = tmp_path / "v" / "vectors16.npy"
    if damage == "garbage":
        target.write_bytes(b"\0" * target.stat().st_size)
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-D * 2])  # fmt: skip
    else:
        np.save(target, np.zeros((N, D), dtype=np.float32))
    index = faiss_module().read_index(str(tmp_path / "v" / "index.faiss"))
    with pytest.raises(ValueError, match=r"vectors16\.npy"):
        IVFPQ.open(tmp_path / "v", D, store.params, store.row_ids(), index=index, source=None)


def test_a_fact_index_build_that_spills_round_trips(tmp_path, data, small_blocks):
    ids, x, queries = data
    index = FactIndex(D, storage="pq", pq=PQParams(nprobe=8))
    for start in range(0, N, 500):
        index.add(ids[start : start + 500], x[start : start + 500])
    assert index.kind == "ivfpq"
    found = index.search(queries, 10)[1]
    index.save(tmp_path / "v")
    assert not any(p.name.startswith("kgagent-rows16") for p in (tmp_path / "v").iterdir())
    loaded = FactIndex.load(tmp_path / "v")
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)
    np.testing.assert_allclose(loaded.vectors(ids), x, atol=2e-3)
