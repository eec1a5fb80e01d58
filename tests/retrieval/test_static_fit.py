"""The static encoder fitted to its teacher on the graph's facts (kgagent.retrieval.static_fit).

The teacher is a hashing encoder and the distilled model a lookup table (conftest's
``fake_distill``), so these run in seconds; the real fit (MiniLM) is measured by
bench/static_encoder.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig
from kgagent.kg import KnowledgeGraph
from kgagent.retrieval import static_fit
from kgagent.retrieval.encoder import HashingEncoder
from kgagent.retrieval.static import StaticEncoder
from kgagent.retrieval.static_fit import fit_rows, ridge_map, sample_fact_texts, worker_spec

NEW_FACT = "INSERT DATA { <http://example.org/a> <http://example.org/p> 'b' }"


def _problem(seed: int = 0, n: int = 400, vocab: int = 300, d: int = 16, h: int = 24):
    """Rows, texts as piece ids, and teacher vectors: sums of other rows (a fit exists)."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((vocab, d)).astype(np.float32)
    truth = rng.standard_normal((vocab, h)).astype(np.float32)
    ids = [list(rng.integers(0, vocab // 2, size=rng.integers(1, 6))) for _ in range(n)]
    teacher = np.stack([truth[t].sum(axis=0) for t in ids])
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    return rows, ids, teacher


def test_the_fit_moves_the_rows_of_the_pieces_seen_towards_the_teacher():
    rows, ids, teacher = _problem()
    fitted, stats = fit_rows(rows, ids, teacher, steps=200, lr=0.02)
    assert stats["distance_after"] < 0.5 * stats["distance_before"]
    seen = sorted({i for t in ids for i in t})
    assert stats["pieces_fitted"] == len(seen)
    unseen = np.setdiff1d(np.arange(len(rows)), seen)
    np.testing.assert_array_equal(fitted[unseen], rows[unseen])  # question words stay
    assert not np.allclose(fitted[seen], rows[seen])
    again, _ = fit_rows(rows, ids, teacher, steps=200, lr=0.02)
    np.testing.assert_array_equal(fitted, again)  # deterministic


def test_a_fit_that_ends_no_closer_to_the_teacher_is_not_kept():
    rows, ids, teacher = _problem()
    fitted, stats = fit_rows(rows, ids, teacher, steps=0)
    assert stats["pieces_fitted"] == 0 and stats["distance_after"] == stats["distance_before"]
    np.testing.assert_array_equal(fitted, rows)


def test_the_fit_refuses_texts_and_targets_that_do_not_pair_up():
    rows, ids, teacher = _problem()
    with pytest.raises(Exception, match="400 texts but 399 teacher vectors"):
        fit_rows(rows, ids, teacher[:-1])


def test_the_map_into_the_static_space_is_one_answer_on_rank_deficient_vectors():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 8)).astype(np.float32)
    x = np.concatenate([x, x[:, :2]], axis=1)  # (500, 10) of rank 8
    y = rng.standard_normal((500, 4)).astype(np.float32)
    a, b = ridge_map(x, y), ridge_map(x, y)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all() and np.abs(a).max() < 10


def _graph(data_dir) -> KnowledgeGraph:
    g = KnowledgeGraph()  # an agent closes its graph: one each
    g.load(data_dir / "tiny.ttl")
    g.load_triples(data_dir / "tiny_kb.txt")
    return g


def test_a_sample_is_verbalized_as_the_index_verbalizes(kg):
    with Agent(kg, config=AgentConfig(retrieval={"encoder": "hashing"})) as agent:
        agent.index()
        facts = agent.retriever.facts
        texts = set(facts.texts)
        everything = sample_fact_texts(kg, 10_000)  # one sentence per fact, as indexed
        assert set(everything) == texts and len(everything) == len(facts)
        some = sample_fact_texts(kg, 5, seed=3)
        assert 0 < len(some) <= 5 and set(some) <= texts
        assert some == sample_fact_texts(kg, 5, seed=3)


@pytest.fixture
def fitting(monkeypatch, tmp_path, source, fake_distill):
    """Static encoding of ``source`` (a lookup table), a hashing teacher that counts calls."""
    monkeypatch.setenv("KGAGENT_CACHE", str(tmp_path / "cache"))
    calls = []

    def teacher(encoder):
        calls.append(encoder.name)
        return HashingEncoder(dim=48)

    monkeypatch.setattr(static_fit, "teacher_for", teacher)
    retrieval = {"encoder": "static", "encoder_kwargs": {"model": str(source), "dim": 16}}
    return AgentConfig(retrieval={**retrieval, "static_fit": 200}), calls


def test_a_full_build_fits_the_encoder_and_later_opens_use_the_fit(data_dir, tmp_path, fitting):
    config, calls = fitting
    ws = tmp_path / "ws"
    kg = _graph(data_dir)
    with Agent(kg, config=config, workspace=ws) as agent:
        agent.index()
        enc = agent.encoder
        assert len(calls) == 1 and enc.path == ws / "encoder"
        base = StaticEncoder(str(config.retrieval.encoder_kwargs["model"]), dim=16).name
        assert enc.name.startswith(f"{base}:fit-")
        fit = enc.model.config["fit"]
        assert fit["base"] == base and fit["facts_sampled"] > 0
        assert fit["distance_after"] <= fit["distance_before"]  # never further
        assert agent.retriever.index.read_manifest(ws / "index" / "vectors")["encoder"] == enc.name
        assert static_fit.describe(enc).startswith("static encoder fitted to hashing")
        name, kwargs = worker_spec(enc, config.retrieval)  # what Ray workers load
        assert name == "static" and kwargs["path"] == str(ws / "encoder")
        assert kwargs["name"] == enc.name
        first = agent.retrieve("Who directed Inception?").facts
        # an update keeps the fit (no refit, no re-encoding of what is there)
        kg.update(NEW_FACT)
        report = agent.index()
        assert len(calls) == 1 and agent.encoder is enc and report.encoded == 1
    kg = _graph(data_dir)  # as a new process would (its sources loaded at another time)
    kg.update(NEW_FACT)
    with Agent(kg, config=config, workspace=ws) as again:
        assert again.encoder.name == enc.name and again.encoder.path == ws / "encoder"
        assert again.index().encoded == 0 and len(calls) == 1
        assert [f.id for f in again.retrieve("Who directed Inception?").facts] == [
            f.id for f in first
        ]


def test_no_fit_when_switched_off_or_for_another_model(data_dir, tmp_path, fitting):
    config, calls = fitting
    off = config.model_copy(
        update={"retrieval": config.retrieval.model_copy(update={"static_fit": 0})}
    )
    with Agent(_graph(data_dir), config=off, workspace=tmp_path / "off") as agent:
        agent.index()
        assert not calls and agent.encoder.path is None and ":fit-" not in agent.encoder.name
    ws = tmp_path / "ws"
    with Agent(_graph(data_dir), config=config, workspace=ws) as agent:
        agent.index()
    other = config.retrieval.model_copy(
        update={"encoder_kwargs": {**config.retrieval.encoder_kwargs, "dim": 8}}
    )
    changed = config.model_copy(update={"retrieval": other})
    with Agent(_graph(data_dir), config=changed, workspace=ws) as agent:
        assert agent.encoder.path is None  # the fit was of another model: not used


def test_an_agent_without_a_workspace_fits_in_memory(kg, fitting):
    config, calls = fitting
    with Agent(kg, config=config) as agent:
        agent.index()
        assert len(calls) == 1 and ":fit-" in agent.encoder.name
        assert agent.encoder.path is None and agent.retrieve("Who directed Inception?").facts
