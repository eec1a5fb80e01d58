"""The streamed index build: the same facts, ids, sentences, vectors and linker as a
build from the whole triples frame, whatever the chunk size; reuse encodes only what is
new; the report and the manifest say what the build took."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kgagent.kg.terms import iri_of, parse_literal
from kgagent.retrieval.artifacts import RetrievalIndex
from kgagent.retrieval.encoder import get_encoder
from kgagent.retrieval.linker import EntityLinker
from kgagent.retrieval.verbalize import NAME_PREDICATES, Verbalizer, format_literal
from kgagent.types import fact_id

#: one row per chunk, a few rows, everything at once (MiB held by a chunk in flight)
CHUNKS = {"1 row": 1e-9, "7 rows": 7 * 8 * 120 / 2**20, "all": 1024.0}


def _build(kg, *, previous=None, chunk_mb=1024.0):
    return RetrievalIndex.build(
        kg, get_encoder("hashing"), previous=previous, exact_max=1000, chunk_mb=chunk_mb
    )


def _reference(kg) -> dict[int, tuple[str, str, str, str]]:
    """id -> (s, p, o, sentence) from the whole triples frame, one triple at a time."""
    onto, names = kg.ontology, {f"<{p}>" for p in NAME_PREDICATES}
    verbalizer = Verbalizer(onto)

    def label(term: str) -> str:
        if term.startswith('"'):
            return format_literal(*parse_literal(term)[:2])
        return onto.label(iri_of(term))

    return {
        fact_id(s, p, o): (s, p, o, verbalizer.sentence(label(s), iri_of(p), label(o)))
        for s, p, o in kg.triples_frame().itertuples(index=False)
        if p not in names
    }


def _rows(facts) -> dict[int, tuple[str, str, str, str]]:
    frame = facts.frame
    return {
        int(i): (s, p, o, t)
        for i, s, p, o, t in zip(*(frame[c] for c in ("id", "s", "p", "o", "text")), strict=True)
    }


def test_the_streamed_table_has_every_fact_of_the_frame_with_its_sentence_and_vector(kg):
    built, report = _build(kg, chunk_mb=CHUNKS["7 rows"])
    want = _reference(kg)
    assert _rows(built.facts) == want and report.facts == len(want) == report.encoded
    assert any("'Michael Bay'" in t for *_, t in want.values())  # a literal read back whole
    ids = built.facts.ids
    encoder = get_encoder("hashing")
    expected = encoder.encode([want[i][3] for i in ids.tolist()])  # (n, d)
    np.testing.assert_allclose(built.vectors.vectors(ids), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("chunk", ["1 row", "7 rows"])
def test_chunk_boundaries_change_nothing(kg, chunk):
    whole, _ = _build(kg, chunk_mb=CHUNKS["all"])
    built, _ = _build(kg, chunk_mb=CHUNKS[chunk])
    np.testing.assert_array_equal(built.facts.ids, whole.facts.ids)
    assert built.facts.texts == whole.facts.texts
    assert built.facts.frame.equals(whole.facts.frame)
    np.testing.assert_array_equal(
        built.vectors.vectors(whole.facts.ids), whole.vectors.vectors(whole.facts.ids)
    )
    assert built.linker.table.iris == whole.linker.table.iris
    np.testing.assert_array_equal(built.linker.table.popularity, whole.linker.table.popularity)
    assert built.relations == whole.relations


def test_the_linker_prior_from_the_stream_is_the_adjacency_s(kg):
    built, _ = _build(kg, chunk_mb=CHUNKS["1 row"])
    frame_built = EntityLinker.from_kg(kg)  # its prior from kg.adjacency()
    assert built.linker.table.iris == frame_built.table.iris
    np.testing.assert_allclose(built.linker.table.popularity, frame_built.table.popularity)


def test_lookups_by_id_and_by_node_agree_with_a_scan_of_the_rows(kg, tmp_path):
    built, _ = _build(kg)
    built.save(tmp_path / "index")
    loaded = RetrievalIndex.load(
        tmp_path / "index", encoder=get_encoder("hashing"), fingerprint=kg.fingerprint()
    )
    for facts in (built.facts, loaded.facts):
        ids, s, o = facts.ids, facts.column("s"), facts.column("o")
        asked = np.array([ids[3], 12345, ids[0], ids[-1], -1], dtype=np.int64)
        np.testing.assert_array_equal(facts.rows_for_ids(asked), [3, -1, 0, len(ids) - 1, -1])
        for term in {*s.tolist(), *o.tolist(), "<http://example.org/nowhere>"}:
            want = [*np.flatnonzero(s == term), *np.flatnonzero(o == term)]
            np.testing.assert_array_equal(facts.rows_touching(term), want)
        row = int(np.flatnonzero(s == "<http://example.org/data/titanic>")[0])
        assert facts.fact(row, labels=kg.label) == built.facts.fact(row, labels=kg.label)
    assert _rows(loaded.facts) == _rows(built.facts)


def test_reuse_encodes_only_new_and_reworded_facts(kg, tmp_path):
    first, _ = _build(kg, chunk_mb=CHUNKS["7 rows"])
    first.save(tmp_path / "index")
    previous = RetrievalIndex.reusable(tmp_path / "index", encoder=get_encoder("hashing"))
    extra = tmp_path / "more.txt"
    extra.write_text("Dunkirk|directed_by|Christopher Nolan\n")
    kg.load_triples(extra)
    second, report = _build(kg, previous=previous, chunk_mb=CHUNKS["1 row"])
    assert (report.encoded, report.removed, report.facts) == (1, 0, len(first.facts) + 1)
    kg.update(
        "DELETE { GRAPH ?g { ?e rdfs:label ?l } } INSERT { GRAPH ?g { ?e rdfs:label ?new } } "
        "WHERE { GRAPH ?g { ?e rdfs:label ?l } }",
        bindings={"l": "Christopher Nolan", "new": "Chris Nolan"},
    )
    kg.remove_source("more.txt")
    third, report = _build(kg, previous=second)
    reworded = [t for t in third.facts.texts if "Chris Nolan" in t]  # his films, both graphs
    assert report.encoded == len(reworded) == 4 and report.removed == 1
    encoder = get_encoder("hashing")
    rows = [third.facts.texts.index(t) for t in reworded]
    np.testing.assert_allclose(
        third.vectors.vectors(third.facts.ids[rows]), encoder.encode(reworded), atol=1e-7
    )


def test_the_report_and_the_manifest_carry_time_and_peak_memory_by_stage(kg, tmp_path):
    built, report = _build(kg)
    names = [s.name for s in report.stages]
    assert names == ["vocabulary", "facts", "stale vectors", "linker"]
    assert report.peak_rss_mib > 0 and all(s.peak_rss_mib > 0 for s in report.stages)
    assert report.peak_rss_mib >= max(s.peak_rss_mib for s in report.stages)
    assert "peak RSS" in str(report) and "facts " in str(report).splitlines()[2]
    built.save(tmp_path / "index")
    saved = json.loads((tmp_path / "index" / "manifest.json").read_text())["build"]
    assert [s["name"] for s in saved["stages"]] == names
    assert saved["peak_rss_mib"] > 0 and saved["encoded"] == report.encoded


def test_kgagent_index_prints_each_stage_and_the_run_s_peak_memory(tmp_path, data_dir):
    from typer.testing import CliRunner

    from kgagent.cli import app
    from kgagent.workspace import init_workspace
    from tests.workspaces import tiny_config

    ws = init_workspace(tmp_path / "ws", config=tiny_config())
    runner = CliRunner()
    assert runner.invoke(app, ["load", str(ws), str(data_dir / "tiny_kb.txt")]).exit_code == 0
    result = runner.invoke(app, ["index", str(ws)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "11 facts indexed" in line)
    assert "peak RSS" in lines[at]
    stages = [line.split()[0] for line in lines[at + 1 : at + 5]]
    assert stages == ["vocabulary", "facts", "stale", "linker"]
    assert any(line.startswith("peak RSS of the whole run") for line in lines)
