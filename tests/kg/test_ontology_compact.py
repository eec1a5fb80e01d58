"""The ontology view held compactly: labels by language, types as one class or a shared
tuple, rows read as TSV in bounded blocks; every lookup answers as the per-node dicts did
(language preference, several types, union of two graphs, the names accessor)."""

from __future__ import annotations

import gc
import tempfile
import tracemalloc

import pytest

import kgagent.kg.ontology as ontology_module
from kgagent.kg.graph import KnowledgeGraph
from kgagent.kg.ontology import Ontology

EX = "http://example.org/onto#"

TTL = """
@prefix ex: <http://example.org/onto#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .

ex:Agent a owl:Class .
ex:Person a owl:Class ; rdfs:subClassOf ex:Agent .
ex:Painter a owl:Class ; rdfs:subClassOf ex:Person ; rdfs:label "painter"@en .
ex:Sculptor a owl:Class ; rdfs:subClassOf ex:Person .

ex:colour rdfs:label "Colour"@en-GB , "Couleur"@fr , "Color" ;
    rdfs:comment "A hue."@en , "Une teinte."@fr .
ex:dog rdfs:label "Hund"@de .
ex:cat skos:prefLabel "Cat"@en ; skos:altLabel "Kitty" , "Puss" .
ex:quote rdfs:label "Say \\"hi\\"\\tnow"@en .

ex:michelangelo a ex:Painter , ex:Sculptor , owl:NamedIndividual ;
    rdfs:label "Michelangelo"@en , "Michel-Ange"@fr .
ex:leonardo a ex:Painter , ex:Sculptor ; rdfs:label "Leonardo"@en .
ex:rembrandt a ex:Painter ; rdfs:label "Rembrandt" .
ex:someone a ex:Person .
_:anon a ex:Agent ; rdfs:label "anonymous"@en .
"""


def _graph(tmp_path, ttl: str, name: str = "g") -> KnowledgeGraph:
    path = tmp_path / f"{name}.ttl"
    path.write_text(ttl, encoding="utf-8")
    kg = KnowledgeGraph()
    kg.load(path)
    return kg


@pytest.fixture
def kg(tmp_path):
    kg = _graph(tmp_path, TTL)
    yield kg
    kg.close()


def test_labels_follow_the_language_preference(kg):
    onto = kg.ontology  # lang "en"
    assert onto.label(EX + "colour") == "Colour"  # en-GB for en, before untagged
    assert onto.label(EX + "colour", lang="fr") == "Couleur"
    assert onto.label(EX + "colour", lang="FR") == "Couleur"
    assert onto.label(EX + "colour", lang="de") == "Color"  # untagged, before any other
    assert onto.label(EX + "colour", lang="en-GB") == "Colour"
    assert onto.label(EX + "dog") == "Hund"  # the only language there is
    assert onto.label(EX + "cat") == "Cat"  # skos:prefLabel counts as a label
    assert onto.label(EX + "quote") == 'Say "hi"\tnow'  # TSV escapes undone
    assert onto.label(EX + "someone") == "someone"  # no label: the local name
    assert onto.labels(EX + "colour") == {"en-gb": "Colour", "fr": "Couleur", "": "Color"}
    assert onto.labels(EX + "someone") == {}
    assert onto.comment(EX + "colour") == "A hue."
    assert onto.comment(EX + "colour", lang="fr") == "Une teinte."
    assert onto.comment(EX + "dog") is None
    assert sorted(onto.alt_labels(EX + "cat")) == ["Kitty", "Puss"]
    assert onto.alt_labels(EX + "dog") == []
    assert onto.classes[EX + "Painter"].label == "painter"


def test_names_put_the_shown_label_first(kg):
    onto = kg.ontology
    names = onto.names(EX + "colour")
    assert names[0] == "Colour" and sorted(names) == ["Color", "Colour", "Couleur"]
    assert onto.names(EX + "michelangelo")[0] == "Michelangelo"
    assert sorted(onto.names(EX + "michelangelo")) == ["Michel-Ange", "Michelangelo"]
    assert onto.names(EX + "dog") == ["Hund"]
    assert onto.names(EX + "cat") == ["Cat"]  # alternative labels are alt_labels'
    assert onto.names(EX + "someone") == []  # no local name either
    for iri, labels in onto.labelled().items():
        assert sorted(onto.names(iri)) == sorted(labels.values())
        assert onto.names(iri)[0] == onto.label(iri)


def test_labelled_reads_as_a_dict_of_labels_by_language(kg):
    onto = kg.ontology
    labelled = onto.labelled()
    names = "Painter colour dog cat quote michelangelo leonardo rembrandt"
    want = {EX + x for x in names.split()}
    iris = set(labelled)
    assert want <= iris and len(iris) == len(want) + 1  # and the blank node
    assert len(labelled) == len(iris) == len(list(labelled))  # each node once
    assert labelled[EX + "colour"] == onto.labels(EX + "colour")
    assert labelled.get(EX + "someone") is None and EX + "someone" not in labelled
    assert dict(labelled.items())[EX + "michelangelo"] == {
        "en": "Michelangelo",
        "fr": "Michel-Ange",
    }
    # held by language (lang -> {iri: label}), not as a dict per node
    assert set(labelled.tables) == {"en", "en-gb", "fr", "de", ""}  # Oxigraph lower-cases tags
    assert labelled.tables["fr"] == {EX + "colour": "Couleur", EX + "michelangelo": "Michel-Ange"}


def test_several_types_per_individual(kg):
    onto = kg.ontology
    both = [EX + "Painter", EX + "Sculptor"]
    assert onto.types(EX + "michelangelo") == both  # sorted; owl:NamedIndividual is meta
    assert onto.types(EX + "leonardo") == both
    assert onto.types(EX + "rembrandt") == [EX + "Painter"]
    assert onto.types(EX + "colour") == []
    assert onto.individuals(EX + "Sculptor") == [EX + "leonardo", EX + "michelangelo"]
    assert onto.individuals(EX + "Person") == [
        EX + x for x in ("leonardo", "michelangelo", "rembrandt", "someone")
    ]
    assert len(onto.individuals(EX + "Agent")) == 5  # the blank node too
    assert len(onto.individuals()) == 5
    assert onto.classes[EX + "Painter"].instances == 3
    assert onto.classes[EX + "Sculptor"].instances == 2
    assert onto.classes[EX + "Agent"].instances == 1
    assert onto.summary().endswith("5 typed individuals")


def test_a_blank_node_is_keyed_as_its_term_value(kg):
    onto = kg.ontology
    (row,) = kg.select_rows(f"SELECT ?x WHERE {{ ?x a <{EX}Agent> }}")
    assert onto.types(row[0]) == [EX + "Agent"]  # a pyoxigraph term is looked up by .value
    assert onto.label(row[0].value) == "anonymous"
    assert onto.names(row[0]) == ["anonymous"]


def test_rows_read_in_many_small_blocks_give_the_same_view(kg, tmp_path, monkeypatch):
    whole = Ontology(kg, lang="en")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(ontology_module, "_CHUNK_BYTES", 64)  # a block every row or two
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    blocks = Ontology(kg, lang="en")
    assert list(scratch.iterdir()) == []  # the scratch TSV is gone
    assert {i: blocks.labels(i) for i in blocks.labelled()} == {
        i: whole.labels(i) for i in whole.labelled()
    }
    nodes = [*whole.labelled(), *whole.individuals()]
    assert [blocks.types(x) for x in nodes] == [whole.types(x) for x in nodes]
    assert [sorted(blocks.alt_labels(x)) for x in nodes] == [
        sorted(whole.alt_labels(x)) for x in nodes
    ]
    assert {c: i.instances for c, i in blocks.classes.items()} == {
        c: i.instances for c, i in whole.classes.items()
    }


OTHER = """
@prefix ex: <http://example.org/onto#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .

ex:Architect a owl:Class ; rdfs:subClassOf ex:Person .
ex:Person rdfs:subClassOf ex:Human .
ex:michelangelo a ex:Architect ; rdfs:label "Buonarroti"@en , "Miguel Ángel"@es .
ex:cat skos:altLabel "Puss" , "Tom" .
ex:colour rdfs:comment "Eine Farbe."@de .
ex:gaudi a ex:Architect ; rdfs:label "Gaudí"@es .
"""


def test_union_of_two_ontologies(kg, tmp_path):
    other = _graph(tmp_path, OTHER, "other")
    one, two = kg.ontology, other.ontology
    both = Ontology.union([one, two])
    mic = EX + "michelangelo"
    assert both.labels(mic) == {"en": "Michelangelo", "fr": "Michel-Ange", "es": "Miguel Ángel"}
    assert both.label(mic) == "Michelangelo"  # the first one's where two disagree
    assert Ontology.union([two, one]).label(mic) == "Buonarroti"
    assert both.label(EX + "gaudi") == "Gaudí"
    assert both.types(mic) == [EX + "Architect", EX + "Painter", EX + "Sculptor"]
    assert both.types(EX + "leonardo") == [EX + "Painter", EX + "Sculptor"]
    assert sorted(both.alt_labels(EX + "cat")) == ["Kitty", "Puss", "Tom"]  # each once
    assert both.comment(EX + "colour", lang="de") == "Eine Farbe."
    assert both.comment(EX + "colour") == "A hue."
    assert both.classes[EX + "Person"].parents == [EX + "Agent", EX + "Human"]
    assert EX + "gaudi" in both.individuals(EX + "Person")
    assert both.names(EX + "gaudi") == ["Gaudí"]
    assert Ontology.union([one], lang="fr").label(mic) == "Michel-Ange"
    # the parts are untouched
    assert one.types(mic) == [EX + "Painter", EX + "Sculptor"]
    assert "es" not in one.labels(mic)
    other.close()


def _generated(n: int) -> str:
    rows = [
        "@prefix ex: <http://example.org/gen/> .",
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .",
    ]
    rows += [f'ex:e{i} a ex:C{i % 7} ; rdfs:label "Entity number {i}" .' for i in range(n)]
    return "\n".join(rows)


def test_an_entity_costs_a_few_hundred_bytes(tmp_path):
    """3,000 entities with a label and a type each: 215 B per entity retained when
    measured (the dict per node layout: 765 B); bound with margin on either side."""
    n = 3000
    kg = _graph(tmp_path, _generated(n))
    Ontology(kg)  # imports and caches outside the measure
    gc.collect()
    tracemalloc.start()
    try:
        onto = Ontology(kg)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(onto.labelled()) == len(onto.individuals()) == n
    assert held / n < 350, f"{held / n:.0f} bytes per entity"
    # one key string per node: the label table's keys are the typed individuals' keys
    (labels,) = onto.labelled().tables.values()
    assert {id(k) for k in labels} == {id(x) for x in onto.individuals()}
    assert onto.types("http://example.org/gen/e5") == ["http://example.org/gen/C5"]
    kg.close()
