"""The knowledge-graph layer: stores, loaders, ontology view, reasoning, validation, ids."""

from __future__ import annotations

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

#: Store backends by name (``KnowledgeGraph(store=NAME, store_kwargs=...)``).
STORE_BACKENDS: dict[str, type[Backend]] = {
    "oxigraph": OxigraphBackend,
    "sparql": SparqlEndpointBackend,
}
