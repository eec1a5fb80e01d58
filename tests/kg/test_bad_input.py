"""Bad input: clear errors naming file and line, and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgagent.errors import KGLoadError
from kgagent.kg.graph import KnowledgeGraph
from tests.conftest import SHARED

CASES = {
    # file: (expected line or None, words the message must contain)
    "broken.ttl": (4, "invalid turtle"),
    "broken.nt": (3, "invalid ntriples"),
    "broken.rdf": (9, "invalid xml"),
    "broken.jsonld": (5, "invalid json-ld"),
    "ontology.owl": (None, "OWL/XML"),
    "binary.ttl": (1, "binary"),
    "empty.ttl": (None, "empty file"),
    "empty.ttl.gz": (None, "empty gzip"),
    "nothing.nt.gz": (None, "decompresses to nothing"),
    "fake.ttl.gz": (None, "not gzip"),
    "unknown.xyz": (None, "cannot tell the RDF format"),
    "terms.obo": (None, "OBO"),
}


@pytest.fixture
def loaded(data_dir):
    kg = KnowledgeGraph()
    kg.load(data_dir / "tiny.ttl")
    yield kg
    kg.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_rdf_file(loaded, data_dir, name):
    line, words = CASES[name]
    before = (len(loaded), loaded.sources(), loaded.fingerprint())
    with pytest.raises(KGLoadError) as err:
        loaded.load(data_dir / "bad" / name)
    exc = err.value
    assert name in str(exc)
    assert words in str(exc)
    assert exc.line == line
    assert (len(loaded), loaded.sources(), loaded.fingerprint()) == before


def test_column_is_reported(loaded, data_dir):
    with pytest.raises(KGLoadError) as err:
        loaded.load(data_dir / "bad" / "broken.ttl")
    assert err.value.column is not None
    assert str(err.value).startswith(f"{data_dir / 'bad' / 'broken.ttl'}:4:")


def test_missing_file_and_unknown_format(loaded, data_dir):
    with pytest.raises(KGLoadError, match="no such file"):
        loaded.load(data_dir / "nope.ttl")
    with pytest.raises(KGLoadError, match=r"unknown format 'yaml'.*turtle.*json-ld"):
        loaded.load(data_dir / "tiny.ttl", format="yaml")


def test_delimited_errors_name_the_line(loaded, data_dir):
    with pytest.raises(KGLoadError) as err:
        loaded.load_triples(data_dir / "bad" / "bad_kb.txt")
    assert err.value.line == 3
    assert "expected 3 fields" in str(err.value)
    with pytest.raises(KGLoadError, match="empty file"):
        loaded.load_triples(data_dir / "bad" / "empty.ttl")
    assert len(loaded.sources()) == 1


def test_delimited_file_passed_to_load_gets_a_hint(loaded, data_dir, tmp_path):
    f = tmp_path / "kb.dat"
    f.write_bytes((data_dir / "tiny_kb.txt").read_bytes())
    with pytest.raises(KGLoadError, match="load_triples"):
        loaded.load(f)


W3C = SHARED / "badinput"


def _negative_tests() -> list[Path]:
    if not W3C.exists():
        return []
    return sorted(p for p in W3C.glob("w3c-*/*") if "bad" in p.name)


@pytest.mark.skipif(not W3C.exists(), reason="../shared/data/badinput not present")
def test_w3c_negative_syntax_suite():
    """Every W3C Turtle/N-Triples negative syntax test is rejected with a position."""
    kg = KnowledgeGraph()
    kg.load_triples(Path(__file__).parents[1] / "data" / "tiny_kb.txt")
    before = len(kg)
    accepted, unlocated = [], []
    tests = _negative_tests()
    for path in tests:
        try:
            kg.load(path)
            accepted.append(path.name)
        except KGLoadError as exc:
            if exc.line is None:
                unlocated.append(path.name)
    assert len(tests) > 100
    assert accepted == []
    assert unlocated == []
    assert len(kg) == before
    assert len(kg.sources()) == 1
