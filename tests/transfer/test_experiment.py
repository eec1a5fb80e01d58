"""Strategies, the fit callback, and a tiny experiment end to end (files and CLI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from kgagent.errors import KGAgentError
from kgagent.pipeline.policy import policy_queries
from kgagent.transfer import Budget, Bundle, TransferError, TransferExperiment
from kgagent.transfer.strategy import Strategy, apply_strategy, get_strategy
from tests.transfer.conftest import actor_questions, director_questions, write_kb


def test_strategies_freeze_weights_and_transferred_rows_only():
    net = torch.nn.ModuleDict({"entity": torch.nn.Embedding(4, 3), "lstm": torch.nn.Linear(3, 3)})
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rows = np.array([True, True, False, False])  # rows 2, 3 are new on the target
    done = apply_strategy(net, "partial", {"entity.weight": rows, "lstm.weight": None})
    assert done["frozen"] == [] and done["row_frozen"] == {"entity.weight": 2}
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    loss = net["lstm"](net["entity"](torch.arange(4))).sum()
    loss.backward()
    opt.step()
    after = net.state_dict()
    assert torch.equal(after["entity.weight"][:2], before["entity.weight"][:2])
    assert not torch.equal(after["entity.weight"][2:], before["entity.weight"][2:])
    assert not torch.equal(after["lstm.weight"], before["lstm.weight"])  # partial: trains
    frozen = torch.nn.Linear(2, 2)
    assert apply_strategy(frozen, "frozen", {"weight": None})["frozen"] == ["weight"]
    assert not frozen.weight.requires_grad and frozen.bias.requires_grad  # not transferred
    assert get_strategy("freeze:lstm,head").freeze == ("lstm", "head")
    with pytest.raises(Exception, match="expected one of finetune"):
        get_strategy("melt")


def test_fit_callback_sees_every_step_stops_early_and_changes_nothing(source):
    from kgagent.policy import PathReasoner, PolicyConfig
    from kgagent.transfer.exchange import action_features

    r = source.retriever
    queries, _ = policy_queries(r, director_questions())
    cfg = PolicyConfig(epochs=2, dim=8, batch_size=4, seed=3)

    def make():
        return PathReasoner.create(r.adj, r.relation_terms, config=cfg, query_dim=256,
                                   action_features=action_features(r))  # fmt: skip

    plain, seen = make(), []
    plain.fit(queries)
    hooked = make()

    def callback(info):
        seen.append(info)
        hooked.evaluate(queries)  # beam search between steps, as learning curves do

    hooked.fit(queries, callback=callback)
    assert [s["step"] for s in seen] == list(range(1, 7))  # 12 queries / 4, two epochs
    assert all(s["walks"] == 4 * 8 for s in seen) and seen[3]["epoch"] == 2
    a, b = plain.network.state_dict(), hooked.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # evaluating inside changes nothing
    stopped = make()
    report = stopped.fit(queries, callback=lambda info: info["step"] >= 2)
    assert report["epochs"] == 1


@pytest.fixture(scope="module")
def bundle(source, tmp_path_factory):
    path = tmp_path_factory.mktemp("exp") / "bundle"
    source.export(path, components=["policy"])
    return Bundle.load(path)


def test_a_tiny_experiment_writes_metrics_curves_and_summary(bundle, target, tmp_path):
    pairs = director_questions() + actor_questions()
    exp = TransferExperiment(source=bundle, target=target, train=pairs, eval=pairs,
                             budget=Budget(steps=6, eval_every=2), seeds=[0, 1],
                             name="tiny")  # fmt: skip
    out = tmp_path / "runs" / "tiny"
    results = exp.run(out=out)
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("jumpstart", "asymptote_transfer", "asymptote_scratch", "area_ratio",
                "time_to_threshold_ratio"):  # fmt: skip
        assert saved[key] == pytest.approx(results["summary"][key]["mean"])
    assert len(saved["runs"]) == 2 and saved["seeds"] == [0, 1]
    for run in saved["runs"]:
        for arm in ("scratch", "transfer"):
            assert run[arm]["step"] == [0, 2, 4, 6]
            assert run[arm]["seconds"][0] == 0 and run[arm]["seconds"][-1] > 0
            assert run[arm]["episodes"][-1] == 6 * 8 * 8  # 6 steps of 8 queries x 8 walks
    # the trained source policy, moved by label to other IRIs, starts far ahead
    assert saved["jumpstart"] > 0.3, [r["transfer"]["metric"] for r in saved["runs"]]
    assert saved["runs"][0]["transfer"]["metric"][0] > 0.9
    assert saved["coverage"]["relations"]["by_method"]["label"]["count"] == 2
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    assert "| jumpstart |" in summary and "relations aligned: 4/4" in summary


def test_frozen_transfer_is_a_flat_curve_and_bad_setups_are_refused(bundle, target):
    pairs = director_questions()
    exp = TransferExperiment(source=bundle, target=target, train=pairs, eval=pairs,
                             strategy="frozen", budget=Budget(steps=4, eval_every=2),
                             seeds=[0])  # fmt: skip
    run = exp.run()["runs"][0]
    assert len(set(run["transfer"]["metric"])) == 1 and run["transfer"]["seconds"] == [0, 0, 0]
    assert run["warm_start"]["frozen"] and run["warm_start"]["trainable"] == 0
    default = TransferExperiment(source=bundle, target=target, train=pairs, eval=pairs)
    assert default.strategy.name == "shrink-perturb"  # the default for a policy
    with pytest.raises(TransferError, match="measures one learned part"):
        TransferExperiment(source=bundle, target=target, train=pairs, eval=pairs,
                           components=["policy", "embeddings"])  # fmt: skip
    with pytest.raises(TransferError, match="nothing to run"):
        TransferExperiment(source=bundle, target=target, train=[("who is nobody", ["x"])],
                           eval=pairs, seeds=[0]).run()  # fmt: skip


def test_cli_export_import_and_run(source, target, tmp_path, kb):
    import shutil

    from kgagent.cli import app
    from tests.transfer.conftest import make_workspace

    # a closed copy of the source (the fixture's agent holds its store open)
    make_workspace(tmp_path / "src", kb).close()
    shutil.copytree(source.workspace / "policy", tmp_path / "src" / "policy")
    runner = CliRunner()
    bundle = tmp_path / "bundle"
    res = runner.invoke(app, ["transfer", "export", str(tmp_path / "src"), "--out", str(bundle)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["components"]["policy"]["tensors"] > 5
    target.close()  # the CLI opens the workspace itself
    res = runner.invoke(app, ["transfer", "import", str(target.workspace), str(bundle)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["coverage"]["entities"]["fraction"] == 1.0
    qa = tmp_path / "qa.txt"
    qa.write_text("".join(f"who directed [{q.split()[-1]}]\t{a[0]}\n"
                          for q, a in director_questions()))  # fmt: skip
    out = tmp_path / "runs" / "cli"
    res = runner.invoke(app, ["transfer", "run", "--source", str(bundle), "--target",
                              str(target.workspace), "--train", str(qa), "--eval", str(qa),
                              "--seeds", "1", "--steps", "2", "--eval-every", "1", "--out",
                              str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (out / "metrics.json").exists() and (out / "curves.png").exists()
    res = runner.invoke(app, ["transfer", "import", str(target.workspace), str(tmp_path)])
    assert res.exit_code == 1 and "manifest.json: missing" in res.output


def test_an_extra_target_relation_gets_a_non_zero_action_row(bundle, tmp_path):
    from kgagent.transfer.exchange import align_agent, warm_policy_for
    from tests.transfer.conftest import make_workspace

    kb = write_kb(tmp_path / "kb.txt")
    with kb.open("a") as fh:
        fh.write("Zorblat|has_genre|Drama\nQuenmar|has_genre|Comedy\n")
    agent = make_workspace(tmp_path / "ws", kb)
    try:
        ents, rels = align_agent(bundle, agent.kg)
        assert rels.coverage()["by_method"]["none"]["count"] == 1
        reasoner, transferred, report = warm_policy_for(agent, bundle, ents, rels)
        new = int(np.flatnonzero(~rels.mask)[0])
        rows = reasoner.network.action.weight.detach()
        assert not transferred["action.weight"][new] and rows[new].abs().sum() > 0
        assert report["mapped"]["action.weight"]["features"] == 2  # the relation, each way
    finally:
        agent.close()


def test_a_link_prediction_experiment_moves_an_embedding(source, target, tmp_path):
    from kgagent.embeddings import TripleSplits, train
    from kgagent.embeddings.artifact import embedding_dir
    from tests.transfer.conftest import DIRECTORS, FILMS

    data = TripleSplits.from_kg(source.kg, heldout=0.0)  # the source saw every fact
    train(data=data, model="distmult", out=embedding_dir(source.workspace, "lp"), dim=16,
          epochs=40, eval_every=0, progress=False)  # fmt: skip
    bundle = source.export(tmp_path / "bundle", components=["embeddings"], embedding="lp")
    facts = [(f, "directed_by", DIRECTORS[i % 4]) for i, f in enumerate(FILMS)]
    (tmp_path / "train.tsv").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in facts[4:]))
    (tmp_path / "eval.tsv").write_text(  # labels, a camelCase relation and an unknown row
        "".join(f"{h}\tdirectedBy\t{t}\n" for h, _, t in facts[:4]) + "Nobody\tx\ty\n"
    )
    exp = TransferExperiment(source=bundle, target=target, train=tmp_path / "train.tsv",
                             eval=tmp_path / "eval.tsv", components=["embeddings"],
                             budget=Budget(steps=4, eval_every=2), seeds=[0])  # fmt: skip
    res = exp.run(out=tmp_path / "run")
    assert res["metric"] == "mrr" and res["task"]["eval"] == 4
    assert res["task"]["eval"] + res["task"]["unseen"]["eval"]["dropped"] == 5
    run = res["runs"][0]
    assert run["scratch"]["step"] == [0, 2, 4] and run["transfer"]["step"] == [0, 2, 4]
    assert run["transfer"]["episodes"][-1] == 4 * 8  # epochs x training triples
    assert res["jumpstart"] > 0.2, run  # the moved rows already rank the held-out facts
    assert exp.strategy.name == "finetune"  # the default for an embedding
    assert (tmp_path / "run" / "curves.png").exists()


def test_reset_head_moves_the_representation_only(bundle, target):
    from kgagent.transfer.exchange import align_agent, warm_policy_for

    ents, rels = align_agent(bundle, target.kg)
    reset = get_strategy("reset-head").reset
    warm, transferred, report = warm_policy_for(target, bundle, ents, rels, reset=reset)
    src, got = bundle.tensors("policy"), warm.network.state_dict()
    assert report["reset"] and all(n.startswith(("lstm.", "head.")) for n in report["reset"])
    assert not set(report["reset"]) & set(transferred)  # so no strategy freezes them
    assert not torch.equal(got["lstm.weight_ih"], src["lstm.weight_ih"])
    assert torch.equal(got["query.0.weight"], src["query.0.weight"])
    assert torch.equal(got["action.weight"], src["action.weight"])  # same relations, same order


def test_shrink_perturb_blends_the_head_with_a_fresh_initialisation(bundle, target):
    from kgagent.transfer.exchange import align_agent, warm_policy_for

    ents, rels = align_agent(bundle, target.kg)
    s = get_strategy("shrink-perturb")
    fresh, _, _ = warm_policy_for(target, bundle, ents, rels, reset=s.shrink)
    warm, transferred, report = warm_policy_for(
        target, bundle, ents, rels, shrink=s.shrink, keep=s.keep
    )
    src, got, init = bundle.tensors("policy"), warm.network.state_dict(), fresh.network.state_dict()
    assert report["shrunk"] and all(n.startswith(("lstm.", "head.")) for n in report["shrunk"])
    name = "lstm.weight_ih"
    assert torch.allclose(got[name], 0.5 * src[name] + 0.5 * init[name])
    assert torch.equal(got["action.weight"], src["action.weight"])  # the representation moves
    assert name in transferred  # a strategy that freezes the LSTM could freeze the blend
    with pytest.raises(KGAgentError, match="keep"):
        Strategy("bad", shrink=("head",), keep=1.5)
