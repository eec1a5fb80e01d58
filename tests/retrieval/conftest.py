"""The graph most retrieval tests build an index of: tiny.ttl (schema, labels) and the
delimited triples of tiny_kb.txt. A module that needs another graph defines its own
``kg`` fixture, which takes precedence."""

from __future__ import annotations

import pytest

from kgagent.kg import KnowledgeGraph


@pytest.fixture
def kg(data_dir):
    g = KnowledgeGraph()
    g.load(data_dir / "tiny.ttl")
    g.load_triples(data_dir / "tiny_kb.txt")
    yield g
    g.close()
