"""Fixtures shared by the agent tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here trains or walks with one torch thread (see tests/conftest.py)."""
