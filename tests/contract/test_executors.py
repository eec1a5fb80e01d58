"""Contract suite of the index-build executors (:data:`kgagent.retrieval.EXECUTORS`).

Every registered executor gets these tests: registering a name adds it here, and a name
without a case below is reported, not silently passed over. An executor must hand back
each batch's vectors in the order given, equal to the build's encoder's own, so an index
is the same whichever executor encoded it.
"""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.retrieval import EXECUTORS
from kgagent.retrieval.encoder import HashingEncoder


def _local():
    from kgagent.retrieval.executors import LocalExecutor

    return LocalExecutor(HashingEncoder())


def _ray():
    ray = pytest.importorskip("ray")
    from kgagent.retrieval.executors import RayExecutor

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    return RayExecutor(encoder="hashing", workers=1)


CASES = {"local": _local, "ray": _ray}


def _make(name: str):
    if name not in CASES:
        pytest.skip(f"executor {name!r} has no contract case: add a case for it")
    return CASES[name]()


@pytest.fixture(params=EXECUTORS.names())
def executor(request):
    ex = _make(request.param)
    yield ex
    ex.close()
    if request.param == "ray":
        import ray

        ray.shutdown()


def test_every_registered_executor_has_a_case():
    assert set(EXECUTORS.names()) <= set(CASES)


def test_batches_come_back_in_order_equal_to_the_encoders_own(executor):
    enc = HashingEncoder()
    batches = [[f"fact {i} of batch {b}" for i in range(n)] for b, n in enumerate((3, 600, 1))]
    got = list(executor.encode_batches(iter(batches), enc))
    assert [g.shape for g in got] == [(len(b), enc.dim) for b in batches]
    for g, b in zip(got, batches, strict=True):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, np.asarray(enc.encode(b), dtype=np.float32), atol=1e-6)
    assert list(executor.encode_batches(iter([]), enc)) == []


def test_close_is_idempotent_and_a_context_manager(executor):
    with executor as ex:
        assert ex is executor
    executor.close()
