"""`kgagent kge train / eval`: split files, a workspace, bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgagent.cli import app

runner = CliRunner()

FAST = ["--model", "complex", "--dim", "8", "--epochs", "3", "--threads", "1"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_split_files_write_metrics_json(ring_files, tmp_path):
    out = tmp_path / "emb"
    r = invoke(
        "kge",
        "train",
        "--train",
        ring_files["train"],
        "--valid",
        ring_files["valid"],
        "--test",
        ring_files["test"],
        "--out",
        out,
        *FAST,
    )
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("mrr", "hits_at_1", "hits_at_3", "hits_at_10", "train_seconds", "epochs"):
        assert isinstance(metrics[key], int | float), key
    assert metrics["epochs"] == 3
    assert (out / "weights.safetensors").exists() and (out / "config.json").exists()

    r = invoke("kge", "eval", out, "--test", ring_files["test"], "--train", ring_files["train"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["num_triples"] == 5


def test_malformed_split_fails_with_file_and_line(ring_files, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("a\tr\tb\na r b\n", encoding="utf-8")
    r = invoke("kge", "train", "--train", bad, "--out", tmp_path / "x", *FAST)
    assert r.exit_code == 1
    assert f"{bad}:2:" in r.output
    r = invoke("kge", "train", "--train", ring_files["train"], *FAST)
    assert r.exit_code == 1 and "--out" in r.output


def test_unseen_test_entities_are_reported(ring_files, tmp_path):
    test = tmp_path / "test.txt"
    test.write_text("e0\tnext\te1\ne0\tnext\tnowhere\n", encoding="utf-8")
    r = invoke(
        "kge",
        "train",
        "--train",
        ring_files["train"],
        "--test",
        test,
        "--out",
        tmp_path / "o",
        *FAST,
    )
    assert r.exit_code == 0, r.output
    assert "test: 1 triples dropped" in r.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["data"]["unseen"]["test"]["entities"] == ["nowhere"]
    assert metrics["test"]["num_triples"] == 1


@pytest.fixture
def workspace(tmp_path, ring_files):
    ws = tmp_path / "ws"
    assert invoke("init", ws).exit_code == 0
    r = invoke("load", ws, ring_files["train"], "--sep", "\\t")
    assert r.exit_code == 0, r.output
    return ws


def test_workspace_train_eval_and_vocabulary_mismatch(workspace, tmp_path):
    r = invoke("kge", "train", workspace, "--heldout", "0.1", *FAST)
    assert r.exit_code == 0, r.output
    emb_dir = workspace / "embeddings" / "complex"
    metrics = json.loads((emb_dir / "metrics.json").read_text())
    assert metrics["test"]["num_triples"] >= 1

    from kgagent.embeddings import load_workspace
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        emb = load_workspace(workspace, "complex", kg=kg)
        assert emb.entities == list(kg.vocab.entities.terms)
        assert emb.model.num_entities == len(kg.vocab.entities)

    r = invoke("kge", "eval", workspace)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["num_triples"] == metrics["test"]["num_triples"]

    more = tmp_path / "more.txt"
    more.write_text("new1\tnext\tnew2\n", encoding="utf-8")
    assert invoke("load", workspace, more, "--sep", "\\t").exit_code == 0
    r = invoke("kge", "eval", workspace, "--name", "complex")
    assert r.exit_code == 1
    assert "trained on another vocabulary" in r.output
