"""The public methods other kg modules use instead of the graph's private state, and the
import paths that survived splitting graph.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rdflib import URIRef

from kgagent.errors import StoreError
from kgagent.kg import STORE_BACKENDS, KnowledgeGraph

D = "http://example.org/data/"


def test_add_inferred_is_a_replaceable_removable_source(data_dir):
    kg = KnowledgeGraph()
    kg.load(data_dir / "tiny.ttl")
    n = len(kg)
    triple = f"<{D}nolan> <http://example.org/p> <{D}x> .\n".encode()
    report = kg.add_inferred(triple, profile="test")
    assert (report.graph, report.source, report.mode) == (
        "urn:kgagent:inferred:test",
        "inferred:test",
        "new",
    )
    assert report.format == "inferred(test)" and len(kg) == n + 1
    again = kg.add_inferred(triple + triple.replace(b"x>", b"y>"), profile="test")
    assert again.mode == "replaced" and len(kg) == n + 2
    src = kg.source("urn:kgagent:inferred:test")
    assert src.kind == "inferred" and src.path is None
    assert kg.clear_inferences() == 2 and len(kg) == n


def test_select_rows_gives_store_terms_over_the_union(data_dir):
    kg = KnowledgeGraph()
    kg.load(data_dir / "tiny.ttl")
    rows = kg.select_rows(
        "SELECT ?f ?y WHERE { ?f <http://example.org/film#releaseYear> ?y } ORDER BY ?y"
    )
    assert [int(y.value) for _, y in rows] == [1997, 2010, 2014]
    assert rows[0][0].value == D + "titanic"
    assert kg.select_rows("SELECT ?s WHERE { ?s <urn:kgagent:meta#name> ?n }") == []
    rows = kg.select_rows(
        "SELECT ?x ?l WHERE { ?x a <http://example.org/film#Film> "
        "OPTIONAL { ?x <http://example.org/none> ?l } }"
    )
    assert rows and all(r[1] is None for r in rows)


def test_store_names_come_from_the_registry():
    kg = KnowledgeGraph(store="oxigraph")
    assert isinstance(kg.backend, STORE_BACKENDS.get("oxigraph"))
    with pytest.raises(StoreError, match="unknown store 'nope'; registered: oxigraph, sparql"):
        KnowledgeGraph(store="nope")


def test_reasoning_still_goes_through_add_inferred(data_dir):
    kg = KnowledgeGraph()
    kg.load(data_dir / "tiny.ttl")
    report = kg.reason("rdfs")
    assert kg.source(report.graph).kind == "inferred"
    assert bool(
        kg.query(
            "ASK { ?d a <http://example.org/film#Person> }", bindings={"d": URIRef(D + "nolan")}
        ).askAnswer
    )


def test_old_import_paths():
    from kgagent.kg import graph, sources, sparql

    assert graph.LoadReport is sources.LoadReport and graph.Source is sources.Source
    assert graph.INFERRED == sources.INFERRED == "urn:kgagent:inferred:"
    assert graph.META_GRAPH == sources.META_GRAPH and graph.STAGING == sources.STAGING
    assert graph.INTERNAL == "urn:kgagent:"
    assert graph.STANDARD_PREFIXES is sparql.STANDARD_PREFIXES


def test_no_kg_module_reaches_into_the_graphs_private_state():
    root = Path(__file__).resolve().parents[2] / "kgagent" / "kg"
    private = re.compile(r"\bkg\._[a-z]\w*")
    hits = [
        f"{path.name}: {m.group(0)}"
        for path in sorted(root.glob("*.py"))
        if path.name != "graph.py"
        for m in private.finditer(path.read_text(encoding="utf-8"))
    ]
    assert hits == []
