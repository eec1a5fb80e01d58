"""``GraphPath`` is the path type's name; ``Path`` stays as its alias."""

from __future__ import annotations

import kgagent
from kgagent import types


def test_graph_path_and_its_alias() -> None:
    assert types.Path is types.GraphPath
    assert kgagent.GraphPath is kgagent.Path is types.GraphPath
    assert "GraphPath" in kgagent.__all__ and "Path" in kgagent.__all__
    p = types.GraphPath(entities=("a", "b"), facts=(), inverse=(False,), text="a -> b")
    assert p.answer == "b"
