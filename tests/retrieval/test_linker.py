"""Entity linking: exact to fuzzy to dense, bracket hints, span choice, persistence."""

from __future__ import annotations

import itertools
import json
import shutil
import zlib
from typing import ClassVar

import numpy as np
import pytest

from kgagent.errors import IndexMismatchError
from kgagent.kg.graph import KnowledgeGraph
from kgagent.retrieval.linker import EntityCandidate, EntityLinker, normalize

D = "http://example.org/data/"
E = "http://example.org/e/"

NAMES = {
    E + "matrix": ["The Matrix"],
    E + "amelie": ["Amélie"],
    E + "strangelove": ["Dr. Strangelove"],
    E + "schindler": ["Schindler's List"],
    E + "spiderman": ["Spider-Man"],
    E + "tom": ["Tom"],
    E + "tom_cullen": ["Tom Cullen"],
    E + "weekend": ["Weekend"],
    E + "in": ["In"],
    E + "up": ["Up"],
    E + "heat": ["Heat"],
    E + "heat_tag": ["heat"],
    E + "paris_city": ["Paris"],
    E + "paris_film": ["Paris"],
    E + "moulin": ["Moulin Rouge"],
    E + "moulin_bang": ["Moulin Rouge!"],
    E + "tell": ["Tell No One"],
    E + "nolan": ["Christopher Nolan"],
    E + "inception": ["Inception", "Начало"],
    E + "dollar": ["$"],
}
POPULARITY = {E + "paris_city": 10.0, E + "paris_film": 1.0, E + "heat_tag": 50.0}


@pytest.fixture(scope="module")
def linker() -> EntityLinker:
    return EntityLinker(NAMES, popularity=POPULARITY)


@pytest.fixture
def tiny_kg(data_dir):
    kg = KnowledgeGraph()
    kg.load(data_dir / "tiny.ttl")
    yield kg
    kg.close()


class FakeEncoder:
    """Bag of concepts: words map to a handful of axes, so 'dream heist' sits on Inception."""

    name = "fake-concepts"
    dim = 4
    CONCEPTS: ClassVar[dict[str, int]] = {
        "inception": 0,
        "dream": 0,
        "heist": 0,
        "titanic": 1,
        "ship": 1,
        "iceberg": 1,
    }

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in normalize(text).split():
                out[row, self.CONCEPTS.get(word, 3)] += 1.0
            out[row, 2] += 0.1  # never all zero
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def top(found: list[EntityCandidate]) -> str:
    return found[0].iri if found else ""


def test_normalize_folds_case_accents_quotes_and_inner_dots():
    assert normalize("The Matrix: Reloaded") == "the matrix reloaded"
    assert normalize("Amélie") == normalize("AMELIE") == "amelie"
    assert normalize("Dr. Strangelove") == normalize("Dr Strangelove")
    assert normalize("Schindler’s List") == normalize("Schindler's List") == "schindlers list"
    assert normalize("Spider–Man") == normalize("spider-man") == "spider man"
    assert normalize("Æon  Flux") == "aeon flux"
    assert normalize("Tom & Jerry") == "tom and jerry"
    assert normalize("!!!") == ""


@pytest.mark.parametrize(
    ("mention", "iri", "method"),
    [
        ("The Matrix", "matrix", "exact"),
        ("the matrix", "matrix", "normalized"),
        ("Matrix", "matrix", "alias"),  # article-insensitive variant
        ("Amelie", "amelie", "normalized"),
        ("Dr Strangelove", "strangelove", "normalized"),
        ("Schindler’s List", "schindler", "normalized"),
        ("Spider Man", "spiderman", "normalized"),
        ("$", "dollar", "exact"),
    ],
)
def test_candidates_exact_normalized_alias(linker, mention, iri, method):
    found = linker.candidates(mention)
    assert found[0].iri == E + iri
    assert found[0].method == method
    assert found[0].mention == mention.strip()


def test_scores_are_ordered_by_match_precision(linker):
    exact = linker.candidates("The Matrix")[0].score
    folded = linker.candidates("the matrix")[0].score
    article = linker.candidates("Matrix")[0].score
    assert 1.0 == exact > folded > article > 0.0


def test_exact_case_then_popularity_break_ties(linker):
    # same normalized key: the name as written wins, else the more popular entity
    assert [c.iri for c in linker.candidates("Heat")][:2] == [E + "heat", E + "heat_tag"]
    assert [c.iri for c in linker.candidates("Paris")][:2] == [E + "paris_city", E + "paris_film"]
    assert linker.candidates("Moulin Rouge")[0].iri == E + "moulin"
    assert linker.candidates("Moulin Rouge!")[0].iri == E + "moulin_bang"


def test_bracket_hint_is_linked_and_ranked_first(linker):
    q = "did Tom Cullen act in [Christopher Nolan] films"
    found = linker.link(q)
    assert found[0].iri == E + "nolan"
    assert found[0].method == "hint"
    assert q[found[0].start : found[0].end] == "Christopher Nolan"
    assert found[1].iri == E + "tom_cullen"  # the rest of the question is still linked


def test_no_brackets_prefers_the_longest_span_and_skips_stopwords(linker):
    q = "what movies did Tom Cullen act in"
    found = linker.link(q)
    assert found[0].iri == E + "tom_cullen"
    assert found[0].method == "exact"
    assert (found[0].start, found[0].end) == (16, 26)
    film_in = [c for c in found if c.iri == E + "in"]  # "in": a stopword, kept as a long shot
    assert film_in and film_in[0].score < 0.5
    assert found[0].score > max(c.score for c in found[1:])


def test_a_short_or_stopword_title_is_still_found_when_alone(linker):
    assert top(linker.link("who directed Up")) == E + "up"
    # capitalized inside a cased question, stopwords can be a title
    assert top(linker.link("who is the director of Tell No One")) == E + "tell"


def test_primary_spans_do_not_overlap(linker):
    found = linker.link("was Tom Cullen in Heat with Christopher Nolan", top_k=3)
    assert [c.iri for c in found] == [E + "tom_cullen", E + "nolan", E + "heat"]
    spans = sorted((c.start, c.end) for c in found)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_glued_punctuation_and_possessive(linker):
    assert top(linker.link("who acted in Moulin Rouge!")) == E + "moulin_bang"
    assert top(linker.link("who acted in Moulin Rouge")) == E + "moulin"
    assert top(linker.link("list Christopher Nolan's films")) == E + "nolan"
    assert top(linker.link("who acted in $")) == E + "dollar"


def test_fuzzy_typo(tiny_kg):
    linker = EntityLinker.from_kg(tiny_kg)
    found = linker.link("what did Christopher Nollan direct")
    assert found[0].iri == D + "nolan"
    assert found[0].method == "fuzzy"
    assert found[0].mention == "Christopher Nollan"
    assert 0.0 < found[0].score < 1.0
    assert linker.candidates("Interstelar")[0].iri == D + "interstellar"
    assert linker.candidates("Something Else Entirely") == []


def test_alias_from_skos_alt_label_and_other_languages(tiny_kg):
    linker = EntityLinker.from_kg(tiny_kg)
    titanic = linker.candidates("Titanic (1997)")[0]
    assert (titanic.iri, titanic.method, titanic.label) == (D + "titanic", "alias", "Titanic")
    leo = linker.candidates('Léo "DiCaprio"')[0]  # the French label
    assert (leo.iri, leo.method, leo.label) == (D + "dicaprio", "alias", "Leonardo DiCaprio")


def test_from_kg_links_entities_not_schema(tiny_kg):
    linker = EntityLinker.from_kg(tiny_kg)
    iris = set(linker.table.iris)
    assert {D + "inception", D + "nolan", D + "titanic"} <= iris
    assert not any(i.startswith("http://example.org/film#") for i in iris)  # classes, props
    assert not any(i.startswith("http://www.w3.org/") for i in iris)
    assert top(linker.link("who directed Inception")) == D + "inception"
    assert linker.link("which film is a director") == []  # schema words are stopwords


def test_delimited_kb(data_dir):
    kg = KnowledgeGraph()
    kg.load_triples(data_dir / "tiny_kb.txt")
    linker = EntityLinker.from_kg(kg)
    found = linker.link("which films did Leonardo DiCaprio star in")
    assert found[0].label == "Leonardo DiCaprio"
    assert linker.link("what was released in 2014")[0].label == "2014"
    kg.close()


def test_kg_without_labels_uses_local_names(tmp_path):
    f = tmp_path / "nolabels.nt"
    f.write_text(
        "<http://ex.org/Christopher_Nolan> <http://ex.org/directed> <http://ex.org/Inception> .\n"
        "<http://ex.org/Inception> <http://ex.org/releaseYear> <http://ex.org/Y2010> .\n"
    )
    kg = KnowledgeGraph()
    kg.load(f)
    linker = EntityLinker.from_kg(kg)
    found = linker.link("what did Christopher Nolan direct")
    assert found[0].iri == "http://ex.org/Christopher_Nolan"
    assert top(linker.link("when was Inception released")) == "http://ex.org/Inception"
    assert "http://ex.org/directed" not in linker.table.iris  # a property, not an entity
    kg.close()


def test_dense_fallback_with_a_fake_encoder(tiny_kg):
    encoder = FakeEncoder()
    linker = EntityLinker.from_kg(tiny_kg, encoder=encoder)
    found = linker.link("the one about a dream heist")
    assert found[0].iri == D + "inception"
    assert found[0].method == "dense"
    assert 0.0 < found[0].score <= 0.8
    hint = linker.link("who sank with the [iceberg ship]")
    assert hint[0].iri == D + "titanic"
    assert hint[0].method == "dense"
    assert encoder.calls == 3  # labels once (cached), then one query each
    # dict matches never wait for the encoder
    assert linker.link("who directed Inception")[0].method == "exact"
    assert encoder.calls == 3
    # without an encoder nothing is found, and nothing crashes
    assert EntityLinker.from_kg(tiny_kg).link("the one about a dream heist") == []


@pytest.mark.parametrize(
    "question",
    [
        "",
        "   ",
        "[]",
        "[ ]",
        "???",
        "谁导演了盗梦空间",
        "🎬🍿",
        "x" * 5000,
        "[[Inception]",
        "a]b[c",
    ],
)
def test_odd_input_never_crashes(linker, question):
    found = linker.link(question)
    assert isinstance(found, list)
    assert all(0.0 <= c.score <= 1.0 for c in found)


def test_other_scripts_link_by_their_own_labels(linker):
    assert linker.link("Кто снял Начало?")[0].iri == E + "inception"
    assert linker.link(None) == []  # type: ignore[arg-type]
    assert linker.link("who directed Heat", top_k=0) == []


def test_candidate_to_dict(linker):
    c = linker.link("who directed [Heat]")[0]
    d = c.to_dict()
    assert d == {
        "iri": E + "heat",
        "label": "Heat",
        "mention": "Heat",
        "start": 14,
        "end": 18,
        "score": 1.0,
        "method": "hint",
    }
    json.dumps(d)


def test_save_load_roundtrip(tiny_kg, tmp_path):
    encoder = FakeEncoder()
    linker = EntityLinker.from_kg(tiny_kg, encoder=encoder, fuzzy_threshold=90.0)
    questions = ["what did Christopher Nollan direct", "the one about a dream heist", "[Titanic]"]
    before = [linker.link(q) for q in questions]
    linker.save(tmp_path / "linker")
    files = sorted(p.name for p in (tmp_path / "linker").iterdir())
    assert files == ["entities.json", "labels", "manifest.json", "popularity.npy"]

    again = FakeEncoder()
    loaded = EntityLinker.load(
        tmp_path / "linker", encoder=again, fingerprint=tiny_kg.fingerprint()
    )
    assert [loaded.link(q) for q in questions] == before
    assert again.calls == 1  # label embeddings came from disk: only the query was encoded
    assert loaded.fuzzy_threshold == 90.0
    assert len(loaded) == len(linker)

    with pytest.raises(IndexMismatchError, match="rebuild"):
        EntityLinker.load(tmp_path / "linker", fingerprint="0" * 16)
    (tmp_path / "linker" / "manifest.json").write_text("{not json")
    with pytest.raises(IndexMismatchError, match="unreadable"):
        EntityLinker.load(tmp_path / "linker")
    with pytest.raises(IndexMismatchError):
        EntityLinker.load(tmp_path / "missing")


def test_embeddings_from_another_encoder_are_not_reused(tiny_kg, tmp_path):
    linker = EntityLinker.from_kg(tiny_kg, encoder=FakeEncoder())
    linker.candidates("dream heist")
    linker.save(tmp_path / "linker")
    other = FakeEncoder()
    other.name = "another-model"
    loaded = EntityLinker.load(tmp_path / "linker", encoder=other)
    assert loaded.candidates("dream heist")[0].iri == D + "inception"
    assert other.calls == 2  # re-encoded the labels, then the query


def test_update_extends_the_previous_tables_like_a_rebuild(data_dir, tmp_path):
    kg = KnowledgeGraph()
    kg.load_triples(data_dir / "tiny_kb.txt")
    before = EntityLinker.from_kg(kg)
    extra = tmp_path / "extra.txt"
    extra.write_text("Memento|directed_by|Christopher Nolan\nMemento|starred_actors|Guy Pearce\n")
    kg.load_triples(extra)
    updated = EntityLinker.from_kg(kg, previous=before)
    fresh = EntityLinker.from_kg(kg)
    assert updated.table.extends(before.table)  # only added entities: tables extended
    for attr in ("iris", "labels", "entries", "symbols", "prefixes", "keys"):
        assert getattr(updated.table, attr) == getattr(fresh.table, attr), attr
    assert updated.link("who directed Memento")[0].label == "Memento"
    assert "memento" not in before.table.entries  # the tables it shares: copied on write
    nolan = "christopher nolan"
    assert before.table.entries[nolan] == fresh.table.entries[nolan][:1]
    kg.remove_source(kg.sources()[-1].name)
    after_removal = EntityLinker.from_kg(kg, previous=updated)
    assert not after_removal.table.extends(updated.table)  # names changed: a full rebuild
    assert after_removal.table.entries == EntityLinker.from_kg(kg).table.entries
    kg.close()


# -- the lexicon: English in the library, the graph's words derived, a dataset's configured --


def test_the_library_knows_english_not_film_words(linker):
    assert linker.is_stopword("what") and linker.is_stopword("which")
    for word in ("movie", "films", "director", "genre", "screenwriter", "votes"):
        assert not linker.is_stopword(word), word


def test_from_kg_derives_the_lexicon_with_inflections(data_dir):
    kg = KnowledgeGraph()
    kg.load_triples(data_dir / "tiny_kb.txt")  # directed_by, starred_actors, release_year
    linker = EntityLinker.from_kg(kg)
    assert {"directed", "by", "starred", "actors", "release", "year"} <= set(linker.lexicon)
    for word in ("director", "directors", "directing", "actor", "acting", "released", "years"):
        assert linker.is_stopword(word), word
    for word in ("movie", "nolan", "inception", "dir"):
        assert not linker.is_stopword(word), word
    assert linker.extra_stopwords == []
    kg.close()


def test_configured_stopwords_are_matched_as_written(data_dir):
    from kgagent.config import RetrievalConfig

    assert RetrievalConfig().linker_stopwords == []
    config = RetrievalConfig(linker_stopwords=["Movie", "films"])
    kg = KnowledgeGraph()
    kg.load_triples(data_dir / "tiny_kb.txt")
    linker = EntityLinker.from_kg(kg, stopwords=config.linker_stopwords)
    assert linker.extra_stopwords == ["films", "movie"]
    assert linker.is_stopword("movie") and linker.is_stopword("films")
    assert not linker.is_stopword("movies")  # a dataset's list is taken as written
    kg.close()


def test_a_stopword_makes_a_name_a_last_resort():
    names = {E + "movie": ["Movie"]}
    plain = EntityLinker(names).link("which movie")[0].score
    assert plain > 0.5  # a name like any other: linked with confidence
    for linker in (
        EntityLinker(names, stopwords=["movie"]),
        EntityLinker(names, lexicon=["movies"]),
    ):
        found = linker.link("which movie")  # by itself a stopword span is still offered,
        assert found[0].iri == E + "movie" and found[0].score < 0.5  # below a topic's bar


def test_a_name_inside_a_longer_exact_name_is_a_weak_alternative():
    # "Mitchell" (a film) inside "Maia Mitchell" (an actress): the film stays on offer,
    # but far enough below that the actress's relations decide the question
    names = {E + "maia": ["Maia Mitchell"], E + "mitchell": ["Mitchell"], E + "x": ["Hot"]}
    found = EntityLinker(names).link("what films did Maia Mitchell act in")
    assert [c.iri for c in found[:2]] == [E + "maia", E + "mitchell"]
    assert found[0].score == 1.0 and found[1].score < 0.5
    alone = EntityLinker(names).link("what films did Mitchell act in")
    assert alone[0].iri == E + "mitchell" and alone[0].score > 0.8  # alone, a name as before
    # two names side by side are not nested: neither loses weight
    both = EntityLinker(names).link("did Mitchell star in Hot")
    assert {c.iri for c in both if c.score > 0.8} == {E + "mitchell", E + "x"}


def test_saved_linker_keeps_its_lexicon(data_dir, tmp_path):
    kg = KnowledgeGraph()
    kg.load_triples(data_dir / "tiny_kb.txt")
    linker = EntityLinker.from_kg(kg, stopwords=["movie"])
    linker.save(tmp_path / "linker")
    manifest = json.loads((tmp_path / "linker" / "manifest.json").read_text())
    assert manifest["format"] == "kgagent-linker/2"
    assert manifest["stopwords"] == ["movie"] and "directed" in manifest["lexicon"]
    loaded = EntityLinker.load(tmp_path / "linker")
    assert (loaded.extra_stopwords, loaded.lexicon) == (linker.extra_stopwords, linker.lexicon)
    assert loaded.is_stopword("director") and loaded.is_stopword("movie")
    # a linker saved before the lexicon (its stopwords held film words): rebuild, not guess
    manifest["format"] = "kgagent-linker/1"
    del manifest["lexicon"]
    (tmp_path / "linker" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="kgagent index"):
        EntityLinker.load(tmp_path / "linker")
    kg.close()


class HashEncoder:
    """Random unit vectors per text, the same for the same text: a label's own text is its
    nearest label."""

    name = "hash-16"
    dim = 16

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.stack(
            [np.random.default_rng(zlib.crc32(t.encode())).normal(size=self.dim) for t in texts]
        ).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def many_names(n: int) -> dict[str, list[str]]:
    return {f"{D}e{i}": [f"Entity number {i}"] for i in range(n)}


def test_many_labels_are_held_compactly_and_found_again_after_a_save(monkeypatch, tmp_path):
    """Past _EXACT_LABELS the label vectors are IVF-PQ codes over float16 rows on disk;
    a label's own text still finds it, before and after a save, with no re-encoding."""
    from kgagent.retrieval import name_table

    monkeypatch.setattr(name_table, "_EXACT_LABELS", 500)
    monkeypatch.setattr(name_table, "_EMBED_CHUNK", 1500)
    encoder = HashEncoder()
    linker = EntityLinker(many_names(4000), encoder=encoder)
    assert linker.embed_labels() == 4000
    assert linker.table.vectors.kind == "ivfpq"
    for i in (0, 1234, 3999):
        assert linker.candidates(f"Entity number {i}")[0].iri == f"{D}e{i}"  # exact key
        assert linker.table.dense(f"Entity number {i}", 3)[0][0] == i
    linker.save(tmp_path / "linker")
    again = HashEncoder()
    loaded = EntityLinker.load(tmp_path / "linker", encoder=again)
    assert loaded.table.vectors.kind == "ivfpq"
    assert loaded.table.dense("Entity number 77", 3)[0][0] == 77
    assert again.texts == 1  # the query alone


def test_a_rebuild_reuses_the_label_vectors_it_has(tmp_path):
    first = HashEncoder()
    before = EntityLinker(many_names(300), encoder=first)
    before.embed_labels()
    names = {**many_names(300), f"{D}new": ["A new entity"]}
    second = HashEncoder()
    after = EntityLinker(names, encoder=second)
    assert after.table.embed_labels(before.table) == 1  # only the new label encoded
    assert after.table.dense("Entity number 5", 1)[0][0] == 5


def test_label_embeddings_saved_by_older_linkers_still_load(tiny_kg, tmp_path):
    linker = EntityLinker.from_kg(tiny_kg, encoder=FakeEncoder())
    linker.embed_labels()
    linker.save(tmp_path / "linker")
    # the layout before label vectors were an index: float32 rows in embeddings.npy
    rows = linker.table.vectors.vectors(np.arange(len(linker), dtype=np.int64))
    shutil.rmtree(tmp_path / "linker" / "labels")
    np.save(tmp_path / "linker" / "embeddings.npy", rows)
    manifest = json.loads((tmp_path / "linker" / "manifest.json").read_text())
    manifest.pop("inventory", None)
    (tmp_path / "linker" / "manifest.json").write_text(json.dumps(manifest))
    again = FakeEncoder()
    loaded = EntityLinker.load(tmp_path / "linker", encoder=again)
    assert loaded.candidates("dream heist")[0].iri == D + "inception"
    assert again.calls == 1


def test_a_cased_question_looks_fuzzily_only_for_names_left_unmatched(tiny_kg, monkeypatch):
    """ "Who was born in Inception" needs no fuzzy search: its one capitalized word is a
    name; a misspelt capitalized name still gets one."""
    linker = EntityLinker.from_kg(tiny_kg)
    calls: list[str] = []
    real = linker.table.fuzzy

    def counted(text, key, limit):
        calls.append(key)
        return real(text, key, limit)

    monkeypatch.setattr(linker.table, "fuzzy", counted)
    assert linker.link("Which films were shot before Inception?")[0].iri == D + "inception"
    assert calls == []
    assert linker.link("What did Christopher Nollan direct?")[0].iri == D + "nolan"
    assert calls
