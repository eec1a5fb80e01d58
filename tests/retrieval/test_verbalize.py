"""Verbalization: sentences from labels, templates from the ontology, inverse phrasing."""

from __future__ import annotations

import pytest

from kgagent.kg.graph import KnowledgeGraph
from kgagent.retrieval.verbalize import Verbalizer, format_literal

EX = "http://example.org/film#"
XSD = "http://www.w3.org/2001/XMLSchema#"


@pytest.fixture
def verbalizer(data_dir):
    kg = KnowledgeGraph()
    kg.load(data_dir / "tiny.ttl")
    yield Verbalizer(kg.ontology)
    kg.close()


@pytest.mark.parametrize(
    ("label", "forward", "inverse"),
    [
        ("directed by", "Inception was directed by Nolan", "Nolan directed Inception"),
        ("written by", "Inception was written by Nolan", "Nolan wrote Inception"),
        ("has genre", "Inception has genre Nolan", "Nolan is the genre of Inception"),
        ("in language", "Inception is in language Nolan", "Nolan is the language of Inception"),
        (
            "release year",
            "The release year of Inception is Nolan",
            "Nolan is the release year of Inception",
        ),
        ("spouse", "The spouse of Inception is Nolan", "Nolan is the spouse of Inception"),
        ("knows", "Inception knows Nolan", "Nolan (knows) Inception"),
    ],
)
def test_phrasing_from_label_shape(label, forward, inverse):
    from kgagent.retrieval.verbalize import _from_label

    t = _from_label(label)
    assert t.forward.format(subject="Inception", object="Nolan") == forward
    assert t.inverse.format(subject="Inception", object="Nolan") == inverse


def test_sentences_use_ontology_labels(verbalizer):
    v = verbalizer
    assert v.sentence("Inception", EX + "directedBy", "Christopher Nolan") == (
        "Inception was directed by Christopher Nolan"
    )
    assert v.sentence("Inception", EX + "directedBy", "Christopher Nolan", inverse=True) == (
        "Christopher Nolan directed Inception"
    )
    rdf_type = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
    assert v.sentence("Inception", rdf_type, "film") == "Inception is a film"


def test_templates_from_an_ontology_annotation(data_dir, tmp_path):
    f = tmp_path / "t.ttl"
    f.write_text(
        "@prefix kga: <https://kgagent.dev/vocab#> .\n"
        '<http://example.org/film#starring> kga:template "{subject} stars {object}" ;\n'
        '  kga:inverseTemplate "{object} appears in {subject}" .\n'
    )
    kg = KnowledgeGraph()
    kg.load(data_dir / "tiny.ttl")
    kg.load(f)
    v = Verbalizer(kg.ontology)
    assert (
        v.sentence("Titanic", EX + "starring", "Leonardo DiCaprio")
        == "Titanic stars Leonardo DiCaprio"
    )
    assert v.sentence("Titanic", EX + "starring", "Leonardo DiCaprio", inverse=True) == (
        "Leonardo DiCaprio appears in Titanic"
    )


def test_literal_formatting():
    assert format_literal("2010", XSD + "integer") == "2010"
    assert format_literal("true", XSD + "boolean") == "yes"
    assert format_literal("8.80E0", XSD + "double") == "8.8"
    assert format_literal("2010-07-16T00:00:00", XSD + "dateTime") == "2010-07-16"
    assert format_literal("a\n  b") == "a b"
    assert format_literal("x" * 500).endswith("…") and len(format_literal("x" * 500)) == 200


def test_bulk_sentences_match_one_by_one(verbalizer):
    subjects = ["inception", "Léo", "", "a {brace}"]
    objects = ["Nolan", "2010", "x", "{object}"]
    for predicate in (EX + "directedBy", EX + "releaseYear", "http://ex.org/unlabelled_rel"):
        bulk = verbalizer.sentences(subjects, predicate, objects)
        assert bulk == [
            verbalizer.sentence(s, predicate, o) for s, o in zip(subjects, objects, strict=True)
        ]
    verbalizer._templates["http://ex.org/odd"] = type(verbalizer.templates(EX + "directedBy"))(
        "{object} then {subject} {{literal}}", "x"
    )
    assert verbalizer.sentences(["a"], "http://ex.org/odd", ["b"]) == ["B then a {literal}"]
