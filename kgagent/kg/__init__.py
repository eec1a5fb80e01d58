"""The knowledge-graph layer: stores, loaders, ontology view, reasoning, validation, ids."""

from __future__ import annotations

from kgagent._registry import Registry
from kgagent.errors import StoreError
from kgagent.kg.adjacency import Adjacency
from kgagent.kg.backends import Backend, OxigraphBackend
from kgagent.kg.endpoint import SparqlEndpointBackend
from kgagent.kg.graph import KnowledgeGraph, LoadReport, Source
from kgagent.kg.vocab import Vocabulary

__all__ = [
    "STORE_BACKENDS",
    "Adjacency",
    "Backend",
    "KnowledgeGraph",
    "LoadReport",
    "OxigraphBackend",
    "Source",
    "SparqlEndpointBackend",
    "Vocabulary",
]

#: Store backends by name (``KnowledgeGraph(store=NAME, store_kwargs=...)``); the store
#: contract suite (tests/contract/test_stores.py) runs against every name registered here.
STORE_BACKENDS = Registry("store", error=StoreError)
STORE_BACKENDS.register("oxigraph", "kgagent.kg.backends", "OxigraphBackend")
STORE_BACKENDS.register("sparql", "kgagent.kg.endpoint", "SparqlEndpointBackend")
