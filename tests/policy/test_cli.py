"""`kgagent policy train / eval` on link-prediction split files and on a workspace graph."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kgagent.cli import app

runner = CliRunner()
# uniform answer weights: the firm rule's colleague edges form cliques less exactly the
# held-out edges, so a random walk's mass is lowest on the very answers asked about (the
# walk weights are unit-tested in test_policy.py and measured on UMLS and Nations)
FAST = ["--epochs", "15", "--dim", "32", "--lr", "5e-3", "--batch-size", "32", "--beam", "16",
        "--answer-weights", "uniform"]  # fmt: skip


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _payload(output: str) -> dict:
    return json.loads(output[output.index("{") : output.rindex("}") + 1])


def _firm_files(tmp_path):
    """colleague(x, z) <- works_at(x, y), works_at⁻¹(y, z), as labelled split files."""
    import numpy as np

    rng = np.random.default_rng(0)
    works = [(f"p{p}", "works_at", f"firm{p % 6}") for p in range(24)]
    coll = [(f"p{a}", "colleague", f"p{b}") for a in range(24) for b in range(24)
            if a != b and a % 6 == b % 6]  # fmt: skip
    coll = [coll[i] for i in rng.permutation(len(coll))]
    files = {}
    for name, rows in (("train", works + coll[:-16]), ("valid", coll[-16:-8]),
                       ("test", coll[-8:])):  # fmt: skip
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return files


def test_split_files_train_eval_and_kge_shaping(tmp_path):
    f = _firm_files(tmp_path)
    splits = ["--train", f["train"], "--valid", f["valid"], "--test", f["test"]]
    r = invoke("policy", "train", *splits, "--out", tmp_path / "pol", *FAST)
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "pol" / "metrics.json").read_text())
    for key in ("mrr", "hits_at_1", "hits_at_3", "hits_at_10", "train_seconds"):
        assert isinstance(metrics[key], int | float), key
    assert metrics["hits_at_1"] >= 0.9, metrics  # the 2-hop rule
    assert metrics["kge"] == {"reward_shaping": False, "initialised": False}
    # no --hops: the path length is chosen on the validation split, and the choice recorded
    sel = metrics["selection"]
    assert [t["max_hops"] for t in sel["tried"]] == [2, 3]
    best = max(sel["tried"], key=lambda t: t["valid_mrr"])
    assert sel["chosen"]["max_hops"] == best["max_hops"]

    r = invoke("policy", "eval", "--checkpoint", tmp_path / "pol", "--train", f["train"],
               "--valid", f["valid"], "--test", f["test"], "--beam", "16")  # fmt: skip
    assert r.exit_code == 0, r.output
    again = _payload(r.output)
    assert again["mrr"] == metrics["mrr"] and again["triples"] == 8

    # a KGE model trained on the same files shapes the reward and initialises the policy
    r = invoke("kge", "train", *splits, "--out", tmp_path / "emb", "--model", "complex",
               "--dim", "8", "--epochs", "5", "--threads", "1")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = invoke("policy", "train", *splits, "--out", tmp_path / "shaped", "--kge",
               tmp_path / "emb", *FAST)  # fmt: skip
    assert r.exit_code == 0, r.output
    shaped = json.loads((tmp_path / "shaped" / "metrics.json").read_text())
    assert shaped["kge"] == {"reward_shaping": True, "initialised": True}
    assert shaped["hits_at_1"] >= 0.8, shaped  # a 5-epoch KGE model: plumbing, not quality


def test_default_configs_follow_the_bench_and_yield_to_the_user():
    from kgagent.policy.linkpred import default_configs

    two, three = default_configs(seed=3)
    assert (two.max_hops, three.max_hops) == (2, 3)
    assert two.mode == "relation" and two.epochs == 80 and two.patience == 20
    assert two.entropy == 0.1 and two.seed == 3
    [only] = default_configs(max_hops=4, epochs=5)
    assert only.max_hops == 4 and only.epochs == 5


def test_split_file_errors_name_the_problem(tmp_path):
    f = _firm_files(tmp_path)
    r = invoke("policy", "train", "--train", f["train"], *FAST)
    assert r.exit_code == 1 and "--out" in r.output
    bad = tmp_path / "bad.txt"
    bad.write_text("a\tr\tb\na r b\n", encoding="utf-8")
    r = invoke("policy", "train", "--train", bad, "--out", tmp_path / "x", *FAST)
    assert r.exit_code == 1 and f"{bad}:2:" in r.output
    # a checkpoint evaluated against other files: its vocabulary does not match
    r = invoke("policy", "train", "--train", f["train"], "--out", tmp_path / "pol",
               "--epochs", "1", "--dim", "8")  # fmt: skip
    assert r.exit_code == 0, r.output
    other = tmp_path / "other.txt"
    other.write_text("x\tworks_at\ty\n", encoding="utf-8")
    r = invoke("policy", "eval", "--checkpoint", tmp_path / "pol", "--train", other,
               "--test", other)  # fmt: skip
    assert r.exit_code == 1 and "entities" in r.output
    r = invoke("policy", "train", "--train", f["train"], "--out", tmp_path / "y",
               "--mode", "walk")  # fmt: skip
    assert r.exit_code == 1 and "--mode 'walk'" in r.output


def test_workspace_relation_mode(tmp_path, data_dir):
    from kgagent.workspace import init_workspace, open_kg

    ws = init_workspace(tmp_path / "ws")
    assert invoke("load", ws, data_dir / "tiny_kb.txt").exit_code == 0

    with open_kg(ws) as kg:
        ents = list(kg.vocab.entities.terms)
        rels = list(kg.vocab.relations.terms)
        trip = kg.adjacency().triples()
    rows = [(ents[h][1:-1], rels[r][1:-1], ents[t][1:-1]) for h, r, t in trip.tolist()]
    queries = tmp_path / "q.tsv"
    queries.write_text("".join("\t".join(r) + "\n" for r in [*rows, ("x:nope", "x:r", "x:y")]))
    r = invoke("policy", "train", ws, "--queries", queries, "--mode", "relation", *FAST)
    assert r.exit_code == 0, r.output
    out = ws / "policy" / "linkpred"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "valid" and metrics["triples"] >= 1
    assert metrics["unseen"]["queries"]["triples"] == 1  # the row naming unknown terms
    assert (out / "weights.safetensors").exists()


def test_graph_file_adds_triples_to_walk(tmp_path):
    """The queries name only colleagues; the works_at edges that explain them, and the
    firms, come from --graph alone."""
    f = _firm_files(tmp_path)
    rows = [line.split("\t") for line in f["train"].read_text().splitlines()]
    queries, graph = tmp_path / "queries.txt", tmp_path / "graph.txt"
    queries.write_text("".join("\t".join(r) + "\n" for r in rows if r[1] == "colleague"))
    graph.write_text("".join("\t".join(r) + "\n" for r in rows if r[1] == "works_at"))
    splits = ["--train", queries, "--graph", graph, "--valid", f["valid"], "--test", f["test"]]
    r = invoke("policy", "train", *splits, "--out", tmp_path / "pol", *FAST)
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "pol" / "metrics.json").read_text())
    assert metrics["hits_at_1"] >= 0.9, metrics  # the rule runs through --graph's edges
    assert metrics["data"]["entities"] == 30  # people and firms
    r = invoke("policy", "eval", "--checkpoint", tmp_path / "pol", *splits, "--beam", "16")
    assert r.exit_code == 0, r.output
    assert _payload(r.output)["mrr"] == metrics["mrr"]


def test_edge_walk_from_the_command_line(tmp_path):
    f = _firm_files(tmp_path)
    splits = ["--train", f["train"], "--valid", f["valid"], "--test", f["test"]]
    edge = ["--walk", "edge", "--hops", "2", "--rollouts", "8", "--action-dropout", "0.3",
            "--objective", "reward"]  # fmt: skip
    r = invoke("policy", "train", *splits, "--out", tmp_path / "pol", *FAST[:-2], *edge)
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "pol" / "metrics.json").read_text())
    config = json.loads((tmp_path / "pol" / "config.json").read_text())
    assert config["policy"]["walk"] == "edge" and config["network"]["kind"] == "edge"
    assert config["policy"]["objective"] == "reward"
    assert metrics["tail"]["mrr"] > 0.5, metrics  # colleagues: works_at, then works_at⁻¹
    r = invoke("policy", "eval", "--checkpoint", tmp_path / "pol", "--train", f["train"],
               "--valid", f["valid"], "--test", f["test"], "--beam", "16")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _payload(r.output)["mrr"] == metrics["mrr"]
    r = invoke("policy", "train", tmp_path, "--queries", f["train"], "--walk", "edge")
    assert r.exit_code != 0 and "--mode relation" in r.output
    r = invoke("policy", "train", *splits, "--out", tmp_path / "x", "--objective", "mml")
    assert r.exit_code != 0 and "expected likelihood or reward" in r.output


def test_a_kge_companion_is_mixed_in_by_a_weight_chosen_on_validation(tmp_path):
    from kgagent.policy.mixture import MIX_WEIGHTS

    f = _firm_files(tmp_path)
    splits = ["--train", f["train"], "--valid", f["valid"], "--test", f["test"]]
    # one epoch: a walk that has not found the rule, beside a KGE model that has
    weak = ["--epochs", "1", "--dim", "8", "--hops", "2", "--beam", "16"]
    r = invoke("policy", "train", *splits, "--out", tmp_path / "pol", *weak)
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "pol" / "metrics.json").read_text())
    mix = metrics["mixture"]
    assert mix["companion"]["model"] == "complex" and mix["companion"]["seconds"] >= 0
    scores = {float(w): s for w, s in mix["valid_mrr"].items()}
    assert sorted(scores) == sorted(MIX_WEIGHTS)
    assert scores[mix["kge_weight"]] == max(scores.values())
    assert mix["kge_weight"] > 0, mix  # the companion ranks held-out colleagues better
    assert metrics["mrr"] > metrics["walk"]["mrr"], metrics
    assert (tmp_path / "pol" / "kge" / "weights.safetensors").exists()
    # eval ranks as training reported: the companion is read back from the checkpoint
    r = invoke("policy", "eval", "--checkpoint", tmp_path / "pol", *splits, "--beam", "16")
    assert r.exit_code == 0, r.output
    again = _payload(r.output)
    assert again["mrr"] == metrics["mrr"] and again["kge_weight"] == mix["kge_weight"]

    # 'none': the walk alone, nothing mixed, nothing saved beside it
    r = invoke("policy", "train", *splits, "--out", tmp_path / "alone", *weak,
               "--kge-model", "none")  # fmt: skip
    assert r.exit_code == 0, r.output
    alone = json.loads((tmp_path / "alone" / "metrics.json").read_text())
    assert "mixture" not in alone and "walk" not in alone
    assert not (tmp_path / "alone" / "mixture.json").exists()


def test_a_damaged_mixture_record_is_named(tmp_path):
    import pytest

    from kgagent.errors import PolicyError
    from kgagent.policy.mixture import choose_weight, load_mixture

    assert load_mixture(tmp_path, ["a"]) == (None, 0.0)  # a policy saved without one
    (tmp_path / "mixture.json").write_text('{"kge_weight": 1.5}')
    with pytest.raises(PolicyError, match=r"mixture\.json.*kge_weight"):
        load_mixture(tmp_path, ["a"])
    (tmp_path / "mixture.json").write_text('{"kge_weight": 0.5}')
    with pytest.raises(PolicyError, match=r"mixture\.json.*'kge'"):
        load_mixture(tmp_path, ["a"])
    (tmp_path / "mixture.json").write_text("{")
    with pytest.raises(PolicyError, match=r"mixture\.json: unreadable"):
        load_mixture(tmp_path, ["a"])
    # ties go to the smaller weight: the walk explains its answers, the embedding does not
    assert choose_weight({0.0: 0.5, 0.5: 0.7, 1.0: 0.7}.get, weights=(0.0, 0.5, 1.0))[0] == 0.5


def test_the_companion_never_trains_on_held_out_triples(tmp_path):
    """A workspace's walked graph holds its validation queries: the walk blocks a query's
    own edge, an embedding would remember it and win the weight on validation by memory."""
    import numpy as np

    from kgagent.embeddings import TripleSplits
    from kgagent.policy.mixture import Companion

    f = _firm_files(tmp_path)
    splits = TripleSplits.from_files(train=f["train"], valid=f["valid"], test=f["test"])
    graph = np.vstack([splits.train, splits.valid, splits.test])  # everything, as a KG
    companion = Companion.train(splits, graph=graph, seed=0)
    assert companion.report["triples"] == len(splits.train)  # the 16 held out are left out
    assert companion.report["model"] == "complex"
