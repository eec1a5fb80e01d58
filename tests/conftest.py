"""Shared fixtures: tiny data files and a real Virtuoso server for ``server`` tests.

The store contract suite (tests/contract/test_stores.py) runs once per registered store
backend, its parameters read from the registry (tests/contract/cases.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def virtuoso(tmp_path_factory):
    """A real Virtuoso on loopback for the whole session (tests marked ``server``)."""
    from tests.virtuoso import run_virtuoso, virtuoso_available

    if not virtuoso_available():
        pytest.fail("Virtuoso is not installed: run `bash scripts/install-virtuoso.sh`")
    with run_virtuoso(tmp_path_factory.mktemp("virtuoso")) as server:
        yield server


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small REINFORCE batches run several times faster on one thread of shared cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
