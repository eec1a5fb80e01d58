"""Shared fixtures: tiny data files and a KnowledgeGraph factory for every backend.

The contract suite (tests/kg/test_contract.py) runs once per backend through the
``make_kg`` fixture, as rdflib's ``make_graph`` and pykeen's ``cases.py`` do: memory,
a persistent Oxigraph directory, and a real Virtuoso server (marker ``server``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kgagent.kg.graph import KnowledgeGraph

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


def _wipe(kg: KnowledgeGraph) -> None:
    """Drops every graph kgagent or the tests created on a shared server."""
    for s in kg.sources():
        kg.backend.drop_graph(s.graph)
    for g in kg.backend.named_graphs():
        if g.startswith(("urn:kgagent:", "file:", "http://example.org/")):
            kg.backend.drop_graph(g)


BACKENDS = [
    "memory",
    "oxigraph-dir",
    pytest.param("virtuoso", marks=pytest.mark.server),
    pytest.param("virtuoso-gsp", marks=pytest.mark.server),
]


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    return request.param


@pytest.fixture
def make_kg(backend_name, tmp_path, request) -> Iterator[Callable[..., KnowledgeGraph]]:
    """Factory of empty KnowledgeGraphs on the parametrized backend.

    Calling it twice with ``reopen=True`` on the persistent backends gives the same
    store again (for restart tests).
    """
    made: list[KnowledgeGraph] = []

    def factory(*, reopen: bool = False) -> KnowledgeGraph:
        if backend_name == "memory":
            kg = KnowledgeGraph()
        elif backend_name == "oxigraph-dir":
            kg = KnowledgeGraph.open(tmp_path / "kg")
        else:
            server = request.getfixturevalue("virtuoso")
            kg = KnowledgeGraph.connect(
                server.query_endpoint,
                server.update_endpoint,
                auth=server.auth,
                vocab_dir=tmp_path / "vocab",
                graph_store_endpoint=(
                    server.graph_store_endpoint if backend_name == "virtuoso-gsp" else None
                ),
            )
            if not reopen:
                _wipe(kg)
                kg._changed()
        made.append(kg)
        return kg

    yield factory
    for kg in made:
        if backend_name.startswith("virtuoso") and kg.backend is not None:
            _wipe(kg)
        kg.close()


@pytest.fixture
def kg(make_kg) -> KnowledgeGraph:
    return make_kg()
