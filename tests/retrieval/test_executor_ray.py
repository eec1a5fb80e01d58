"""Encoding an index build on Ray actors (``kgagent index WS --executor ray``, issue 24):
the same ids, vectors and manifest as a build in this process; without Ray, an error
that names the flag. The Ray tests share one local Ray (loopback, 2 CPUs; ~5 s to start
here, so not marked slow); they are skipped where Ray is not installed."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from kgagent.cli import app
from kgagent.errors import KGAgentError
from kgagent.retrieval import EXECUTORS
from kgagent.retrieval.artifacts import RetrievalIndex
from kgagent.retrieval.encoder import get_encoder
from kgagent.retrieval.executors import LocalExecutor, RayExecutor
from kgagent.workspace import Workspace
from tests.programs.conftest import FILMS_TTL
from tests.workspaces import turtle_workspace

runner = CliRunner()
#: MiB in flight per chunk: a few rows per chunk, one text per batch (many batches)
SMALL_CHUNKS = 7 * 8 * 120 / 2**20
#: what differs between two builds of the same graph: when, and how long they took
_RUN_FIELDS = ("built_at", "build")


def _build(kg, executor=None):
    return RetrievalIndex.build(
        kg, get_encoder("hashing"), exact_max=1000, chunk_mb=SMALL_CHUNKS, executor=executor
    )


def _same(a: RetrievalIndex, b: RetrievalIndex, *, other_store: bool = False) -> None:
    np.testing.assert_array_equal(a.facts.ids, b.facts.ids)
    np.testing.assert_array_equal(a.vectors.ids(), b.vectors.ids())  # the order added
    ids = a.facts.ids
    np.testing.assert_array_equal(a.vectors.vectors(ids), b.vectors.vectors(ids))  # hashing
    skip = (*_RUN_FIELDS, "kg_fingerprint") if other_store else _RUN_FIELDS  # own store: own id
    strip = lambda m: {k: v for k, v in m.items() if k not in skip}  # noqa: E731
    assert strip(a.manifest) == strip(b.manifest)
    assert a.manifest["build"]["encoded"] == b.manifest["build"]["encoded"] == len(ids)


# -- without Ray ----------------------------------------------------------------------------


def test_the_local_executor_is_the_default_build(kg):
    default, _ = _build(kg)
    with LocalExecutor() as local:
        built, report = _build(kg, local)
    _same(built, default)
    assert report.encoded == len(built.facts) > 0
    assert EXECUTORS.names() == ["local", "ray"] and EXECUTORS.get("local") is LocalExecutor


def test_without_ray_the_error_names_the_flag(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(KGAgentError, match=r"--executor ray needs Ray: pip install"):
        RayExecutor(encoder="hashing")
    root = turtle_workspace(tmp_path, FILMS_TTL, index=False)
    r = runner.invoke(app, ["index", str(root), "--executor", "ray"])
    assert r.exit_code != 0 and "--executor ray needs Ray" in r.output
    assert not (Workspace(root).index_dir / "manifest.json").exists()  # nothing written


def test_an_unknown_executor_or_no_workers_is_refused(tmp_path):
    root = turtle_workspace(tmp_path, FILMS_TTL, index=False)
    r = runner.invoke(app, ["index", str(root), "--executor", "dask"])
    assert r.exit_code != 0 and "--executor 'dask': one of local, ray" in r.output
    with pytest.raises(KGAgentError, match="--workers: 0"):
        RayExecutor(encoder="hashing", workers=0)


# -- on a local Ray -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session():
    """One Ray for the module (executors use it and leave it running)."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 << 20,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    yield ray
    ray.shutdown()


def test_ray_workers_give_the_vectors_ids_and_manifest_of_a_local_build(kg, ray_session):
    local, _ = _build(kg)
    with RayExecutor(encoder="hashing", workers=2, num_cpus=1) as pool:
        remote, report = _build(kg, pool)
        assert report.encoded == len(remote.facts)
    _same(remote, local)
    assert ray_session.is_initialized()  # not the executor's Ray: left running


def test_a_large_batch_is_cut_among_the_workers_and_joined_in_order(ray_session):
    hashing = get_encoder("hashing")
    batches = [[f"fact number {i} of batch {b}" for i in range(n)] for b, n in enumerate((700, 3))]
    with RayExecutor(encoder="hashing", workers=2) as pool:
        out = list(pool.encode_batches(batches, hashing))
    assert [v.shape for v in out] == [(700, hashing.dim), (3, hashing.dim)]
    for texts, vectors in zip(batches, out, strict=True):
        np.testing.assert_array_equal(vectors, hashing.encode(texts))


def test_cli_index_with_ray_matches_a_local_index(tmp_path, ray_session):
    roots = [turtle_workspace(tmp_path / n, FILMS_TTL, index=False) for n in ("a", "b")]
    assert runner.invoke(app, ["index", str(roots[0])]).exit_code == 0
    r = runner.invoke(app, ["index", str(roots[1]), "--executor", "ray", "--workers", "1"])
    assert r.exit_code == 0, r.output
    enc = get_encoder("hashing")
    a, b = (
        RetrievalIndex.load(Workspace(root).index_dir, encoder=enc, fingerprint=fp)
        for root, fp in ((x, _fingerprint(x)) for x in roots)
    )
    _same(a, b, other_store=True)


def test_an_encoder_that_fails_on_the_workers_is_named(ray_session):
    with pytest.raises(KGAgentError, match="encoder 'nosuch' failed on a worker"):
        RayExecutor(encoder="nosuch", workers=1)


def _fingerprint(root) -> str:
    ws = Workspace(root)
    kg = ws.open_kg()
    try:
        return kg.fingerprint()
    finally:
        kg.close()
