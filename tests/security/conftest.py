"""The hostile-input suite (issue 19): every test here is marked ``security``.

Run it alone with ``pytest -m security``; it is also part of the default run. Hostile
fixtures live in tests/data/hostile/, or are written by the test itself where the file
would be too large or too dangerous to keep in the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.security)


@pytest.fixture(scope="session")
def hostile_dir() -> Path:
    return HOSTILE
