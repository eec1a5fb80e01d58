"""The store contract, run against every case of every registered store backend.

The ``kg`` fixture (tests/contract/conftest.py) is parametrized from ``STORE_BACKENDS``:
an in-memory and a directory Oxigraph store, and the SPARQL endpoint backend against a
real Virtuoso (marked ``server``). A newly registered store runs all of this unchanged.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from rdflib import Literal, URIRef

from kgagent.errors import KGLoadError, QueryError
from kgagent.kg import STORE_BACKENDS, Backend

EX = "http://example.org/film#"
D = "http://example.org/data/"
TINY_TRIPLES = 54

FORMAT_FILES = [
    "tiny.nt",
    "tiny.rdf",
    "tiny.jsonld",
    "tiny.n3",
    "tiny.nq",
    "tiny.trig",
    "tiny.ttl.gz",
]


def test_backend_is_the_registered_class_and_empty(kg, store_case):
    assert isinstance(kg.backend, Backend)
    assert isinstance(kg.backend, STORE_BACKENDS.get(store_case.name))
    assert isinstance(kg.backend.persistent, bool)
    assert len(kg) == 0 and kg.sources() == []


def test_load_turtle_report_and_sources(kg, data_dir):
    report = kg.load(data_dir / "tiny.ttl")
    assert report.triples == TINY_TRIPLES
    assert report.format == "turtle"
    assert report.mode == "new"
    assert report.graph == (data_dir / "tiny.ttl").resolve().as_uri()
    assert report.seconds >= 0
    assert len(kg) == TINY_TRIPLES
    [src] = kg.sources()
    assert src.name == "tiny.ttl"
    assert src.triples == TINY_TRIPLES
    assert src.kind == "rdf"


@pytest.mark.parametrize("name", FORMAT_FILES)
def test_every_format_gives_the_same_graph(kg, data_dir, name):
    kg.load(data_dir / "formats" / name)
    assert len(kg) == TINY_TRIPLES
    res = kg.query(
        "SELECT ?l WHERE { ?f ex:directedBy ?d . ?d rdfs:label ?l }", prefixes={"ex": EX}
    )
    assert {str(r.l) for r in res} == {"Christopher Nolan", "James Cameron"}


def test_blank_nodes_keep_their_identity(kg, tmp_path):
    f = tmp_path / "bnodes.ttl"
    f.write_text(
        "@prefix ex: <http://example.org/> .\n"
        'ex:film ex:award [ ex:name "Oscar" ; ex:year 2011 ] , [ ex:name "BAFTA" ] .\n'
    )
    assert kg.load(f).triples == 5
    res = kg.query(
        "SELECT ?n ?y WHERE { <http://example.org/film> <http://example.org/award> ?a . "
        "?a <http://example.org/name> ?n OPTIONAL { ?a <http://example.org/year> ?y } }"
    )
    got = {(str(r.n), None if r.y is None else int(r.y)) for r in res}
    assert got == {("Oscar", 2011), ("BAFTA", None)}


def test_large_load_is_batched(kg, tmp_path):
    f = tmp_path / "big.nt"
    lines = [
        f'<http://example.org/e{i}> <http://example.org/p{i % 7}> "value {i} \\"q\\" é" .\n'
        for i in range(5000)
    ]
    f.write_text("".join(lines), encoding="utf-8")
    assert kg.load(f).triples == 5000
    assert len(kg) == 5000
    row = next(iter(kg.query("SELECT ?o WHERE { <http://example.org/e42> ?p ?o }")))
    assert str(row.o) == 'value 42 "q" é'


def test_format_by_content_without_extension(kg, data_dir):
    report = kg.load(data_dir / "formats" / "tiny-noext")
    assert report.format == "ntriples"
    assert len(kg) == TINY_TRIPLES


def test_explicit_format_overrides_extension(kg, data_dir, tmp_path):
    odd = tmp_path / "data.txt"
    odd.write_bytes((data_dir / "tiny.ttl").read_bytes())
    assert kg.load(odd, format="turtle").triples == TINY_TRIPLES


def test_reload_replaces_and_explicit_graph_appends(kg, data_dir, tmp_path):
    kg.load(data_dir / "tiny.ttl")
    again = kg.load(data_dir / "tiny.ttl")
    assert again.mode == "replaced"
    assert len(kg) == TINY_TRIPLES
    assert len(kg.sources()) == 1
    extra = tmp_path / "extra.ttl"
    extra.write_text("<http://example.org/x> <http://example.org/p> <http://example.org/y> .\n")
    kg.load(data_dir / "tiny.ttl", graph="films")
    rep = kg.load(extra, graph="films")
    assert rep.mode == "appended"
    assert kg.source("films").triples == TINY_TRIPLES + 1
    # the same triples in two sources count once in the union
    assert len(kg) == TINY_TRIPLES + 1


def test_remove_source_makes_its_facts_unanswerable(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    kg.load_triples(data_dir / "tiny_kb.txt")
    n = len(kg)
    removed = kg.remove_source("tiny.ttl")
    assert removed > 0
    assert len(kg) == n - removed
    res = kg.query("ASK { ?f <http://example.org/film#directedBy> ?d }")
    assert not bool(res.askAnswer)
    assert [s.name for s in kg.sources()] == ["tiny_kb.txt"]
    with pytest.raises(KeyError, match="no source named"):
        kg.remove_source("tiny.ttl")


def test_failed_load_leaves_store_exactly_as_before(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    before = sorted(str(t) for t in kg.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }").graph)
    sources = kg.sources()
    for bad in ("broken.ttl", "broken.nt", "broken.rdf", "broken.jsonld"):
        with pytest.raises(KGLoadError) as err:
            kg.load(data_dir / "bad" / bad)
        assert bad in str(err.value)
    # a failed *replace* of an existing source keeps the old content too
    with pytest.raises(KGLoadError):
        kg.load(data_dir / "bad" / "broken.ttl", graph=sources[0].graph)
    after = sorted(str(t) for t in kg.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }").graph)
    assert after == before
    assert kg.sources() == sources


def test_query_forms(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    rows = list(
        kg.query(
            "SELECT ?film ?year WHERE { ?film ex:releaseYear ?year } ORDER BY ?year",
            prefixes={"ex": EX},
        )
    )
    assert [int(r.year) for r in rows] == [1997, 2010, 2014]
    assert rows[0].film == URIRef(D + "titanic")
    assert bool(kg.query("ASK { ?s a ex:Film }", prefixes={"ex": EX}).askAnswer)
    g = kg.query(
        "CONSTRUCT { ?f ex:directedBy ?d } WHERE { ?f ex:directedBy ?d }", prefixes={"ex": EX}
    ).graph
    assert len(g) == 3
    # language-tagged, escaped literals come back exactly
    labels = {
        (str(r.l), r.l.language)
        for r in kg.query(
            "SELECT ?l WHERE { ?x rdfs:label ?l }", bindings={"x": URIRef(D + "dicaprio")}
        )
    }
    assert labels == {("Leonardo DiCaprio", "en"), ('Léo "DiCaprio"', "fr")}


def test_bindings_are_values_not_text(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    q = "SELECT ?f WHERE { ?f ex:directedBy ?d . ?d rdfs:label ?name }"
    res = kg.query(
        q, bindings={"name": Literal("Christopher Nolan", lang="en")}, prefixes={"ex": EX}
    )
    assert {str(r.f) for r in res} == {D + "inception", D + "interstellar"}
    # an injection attempt is one (non-matching) literal
    evil = 'x"@en } ?f ?p ?o . FILTER(true) } #'
    assert list(kg.query(q, bindings={"name": evil}, prefixes={"ex": EX})) == []
    evil_iri = "http://example.org/data/nolan> . ?f ?p ?o } #"
    with pytest.raises(QueryError):
        kg.query(q, bindings={"d": URIRef(evil_iri)}, prefixes={"ex": EX})
    # several rows, and aggregates see the bound values
    res = kg.query(
        "SELECT (COUNT(?f) AS ?n) WHERE { ?f ex:directedBy ?d }",
        bindings={"d": [URIRef(D + "nolan"), URIRef(D + "cameron")]},
        prefixes={"ex": EX},
    )
    assert int(next(iter(res)).n) == 3
    with pytest.raises(QueryError, match="does not occur"):
        kg.query(q, bindings={"typo": "x"})


def test_update_with_bindings(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    n = len(kg)
    kg.update(
        "DELETE { GRAPH ?g { ?f ex:releaseYear ?y } } WHERE { GRAPH ?g { ?f ex:releaseYear ?y } }",
        bindings={"f": URIRef(D + "titanic")},
        prefixes={"ex": EX},
    )
    assert len(kg) == n - 1
    with pytest.raises(QueryError):
        kg.update("SELECT * WHERE { ?s ?p ?o }")


def test_delimited_triples(kg, data_dir):
    report = kg.load_triples(data_dir / "tiny_kb.txt")
    assert report.format == "delimited('|')"
    base = "http://kgagent.local/kg/"
    res = kg.query(
        "SELECT ?l WHERE { ?m ?r ?p . ?p rdfs:label ?l }",
        bindings={
            "m": URIRef(base + "entity/Inception"),
            "r": URIRef(base + "relation/directed_by"),
        },
    )
    assert [str(r.l) for r in res] == ["Christopher Nolan"]
    rel_label = kg.label(URIRef(base + "relation/starred_actors"))
    assert rel_label == "starred actors"
    assert kg.label(URIRef(base + "entity/Leonardo%20DiCaprio")) == "Leonardo DiCaprio"


def test_stable_ids_and_adjacency(kg, data_dir, tmp_path):
    kg.load_triples(data_dir / "tiny_kb.txt")
    vocab = kg.vocab
    ids = {iri: vocab.entities.id(iri) for iri in vocab.entities.iris()}
    rel_ids = {iri: vocab.relations.id(iri) for iri in vocab.relations.iris()}
    kg.load(data_dir / "tiny.ttl")
    vocab = kg.vocab
    assert all(vocab.entities.id(iri) == i for iri, i in ids.items())
    assert all(vocab.relations.id(iri) == i for iri, i in rel_ids.items())
    assert len(vocab.entities) > len(ids)

    adj = kg.adjacency()
    edges = {
        (str(r.s), str(r.p), str(r.o))
        for r in kg.query("SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(!isLiteral(?o)) }")
    }
    assert adj.num_edges == len(edges)
    got = {
        (vocab.entities.iri(h), vocab.relations.iri(r), vocab.entities.iri(t))
        for h, r, t in adj.triples().tolist()
    }
    assert got == edges
    nolan = vocab.entities.id(URIRef("http://example.org/data/inception"))
    rels, targets = adj.neighbors(nolan)
    assert len(rels) == len(targets) > 0
    assert np.all(np.diff(adj.indptr) >= 0)
    inv = adj.with_inverse()
    assert inv.num_edges == 2 * adj.num_edges
    assert inv.num_relations == 2 * adj.num_relations

    g = kg.to_networkx()
    assert g.number_of_edges() == adj.num_edges
    assert g.nodes["http://example.org/data/nolan"]["label"] == "Christopher Nolan"


def test_ontology_view(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    onto = kg.ontology
    assert {EX + "Film", EX + "Person", EX + "Director", EX + "Work"} <= set(onto.classes)
    assert onto.classes[EX + "Film"].parents == [EX + "Work"]
    assert onto.ancestors(EX + "Director") == [EX + "Person"]
    directed = onto.properties[EX + "directedBy"]
    assert directed.kind == "object"
    assert directed.domains == [EX + "Film"] and directed.ranges == [EX + "Director"]
    assert onto.super_properties(EX + "starring") == [EX + "hasContributor"]
    assert onto.properties[EX + "releaseYear"].kind == "datatype"
    assert onto.label(EX + "Director") == "director"
    assert onto.label(EX + "Director", lang="fr") == "réalisateur"
    assert onto.label(D + "nolan") == "Christopher Nolan"
    assert onto.label("http://example.org/film#someUnlabelledThing") == "some unlabelled thing"
    assert set(onto.individuals(EX + "Work")) == {
        D + "inception",
        D + "interstellar",
        D + "titanic",
    }


def test_rdfs_reasoning_is_a_removable_source(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    n = len(kg)
    report = kg.reason("rdfs")
    assert report.inferred > 0
    assert len(kg) == n + report.inferred
    ask = "ASK { <http://example.org/data/nolan> a <http://example.org/film#Person> }"
    assert bool(kg.query(ask).askAnswer)  # range of directedBy, then subClassOf
    trivial = "ASK { ?x a rdfs:Resource }"
    assert not bool(kg.query(trivial).askAnswer)
    assert kg.clear_inferences() == report.inferred
    assert not bool(kg.query(ask).askAnswer)
    assert len(kg) == n


def test_validate_with_shacl(kg, data_dir, tmp_path):
    kg.load(data_dir / "tiny.ttl")
    shapes = tmp_path / "shapes.ttl"
    shapes.write_text(
        """
        @prefix sh: <http://www.w3.org/ns/shacl#> .
        @prefix ex: <http://example.org/film#> .
        @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
        ex:FilmShape a sh:NodeShape ; sh:targetClass ex:Film ;
          sh:property [ sh:path ex:directedBy ; sh:minCount 1 ;
                        sh:message "a film needs a director" ] ;
          sh:property [ sh:path ex:starring ; sh:minCount 1 ;
                        sh:message "a film needs an actor" ] .
        """
    )
    report = kg.validate(shapes)
    assert not report.conforms
    assert [r.focus_node for r in report.violations] == [D + "interstellar"]
    assert "Interstellar" in str(report) and "a film needs an actor" in str(report)


def test_concurrent_queries_and_loads(kg, data_dir):
    kg.load(data_dir / "tiny.ttl")
    errors: list[BaseException] = []

    def reader():
        try:
            for _ in range(20):
                rows = list(kg.query("SELECT ?f WHERE { ?f a <http://example.org/film#Film> }"))
                assert len(rows) == 3
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    kg.load_triples(data_dir / "tiny_kb.txt")
    for t in threads:
        t.join()
    assert errors == []
