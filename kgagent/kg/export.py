"""Exports of the graph to other libraries' structures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgagent.errors import StoreError

if TYPE_CHECKING:
    from kgagent.kg.backends import Backend
    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["rdflib_dataset", "to_networkx", "to_rdflib"]


def to_rdflib(backend: Backend, graphs: list[str]):
    """A copy of ``graphs`` (and the default graph, where separate) as an ``rdflib.Graph``."""
    from rdflib import Graph

    g = Graph()
    data = backend.dump(graphs, include_default=backend.separate_default_graph)
    if data:
        g.parse(data=data, format="nt")
    return g


def rdflib_dataset(backend: Backend):
    """A live ``rdflib.Dataset`` over an embedded Oxigraph store (through oxrdflib)."""
    from kgagent.kg.backends import OxigraphBackend

    if not isinstance(backend, OxigraphBackend):
        raise StoreError("rdflib_dataset() needs the embedded Oxigraph store; use to_rdflib()")
    from oxrdflib import OxigraphStore
    from rdflib import Dataset

    return Dataset(store=OxigraphStore(store=backend.store))


def to_networkx(kg: KnowledgeGraph, *, labels: bool = True):
    """A ``networkx.MultiDiGraph`` of the entity-to-entity edges.

    Nodes are IRIs with attributes ``id`` (stable int id) and ``label``; each edge has key
    = relation IRI and attributes ``relation_id`` and ``label``. Literal-valued triples
    are attributes, not nodes, and are left out.
    """
    import networkx as nx

    adj = kg.adjacency()
    vocab = kg.vocab
    onto = kg.ontology if labels else None
    g = nx.MultiDiGraph()
    heads = adj.triples()
    used = set(heads[:, 0].tolist()) | set(heads[:, 2].tolist())
    for e in sorted(used):
        iri = vocab.entities.iri(e)
        attrs = {"id": e}
        if onto is not None:
            attrs["label"] = onto.label(iri)
        g.add_node(iri, **attrs)
    rel_iris = vocab.relations.iris()
    rel_labels = {r: onto.label(rel_iris[r]) for r in set(heads[:, 1].tolist())} if onto else {}
    ent = vocab.entities
    g.add_edges_from(
        (
            ent.iri(h),
            ent.iri(t),
            rel_iris[r],
            {"relation_id": r, **({"label": rel_labels[r]} if onto else {})},
        )
        for h, r, t in heads.tolist()
    )
    return g
