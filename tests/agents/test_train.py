"""Training with no QA data (``Agent.train``, ``kgagent train``): synthesized questions,
a policy used only where it beats the zero-shot ranker on held-out questions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from kgagent.agents import Agent
from kgagent.agents.training import (
    POLICY_USE_FILE,
    choose_reader_weight,
    clearly_better,
    mark_policy,
    policy_in_use,
    split_by_wording,
)
from kgagent.cli import app
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.workspace import Workspace

CONFIG = AgentConfig(retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none"))


@pytest.fixture
def ws(tmp_path, data_dir, one_torch_thread):
    ws = Workspace(tmp_path / "ws").init(config=CONFIG)
    with ws.open_kg() as kg:
        kg.load_triples(data_dir / "tiny_kb.txt")
    with Agent.open(ws.root) as a:
        a.index()
    return ws


def test_train_reports_each_part_on_held_out_questions(ws):
    with Agent.open(ws.root) as agent:
        report = agent.train(questions=200, policy_budget=20)
    assert report.questions["train"] > report.questions["valid"] >= 5
    assert 0.0 <= report.zero_shot["hits_at_1"] <= 1.0
    assert 0.0 <= report.policy["hits_at_1"] <= 1.0
    assert report.policy["used"] == (report.policy["hits_at_1"] > report.zero_shot["hits_at_1"])
    assert report.reader == {}  # llm.backend none: no reader to fine-tune
    saved = json.loads((ws.runs_dir / "train.json").read_text())
    assert saved["policy"]["used"] == report.policy["used"]
    use = json.loads((ws.policy_dir("default") / POLICY_USE_FILE).read_text())
    assert use["use"] == report.policy["used"]
    assert "policy" in str(report) and "zero-shot" in str(report)


def test_a_policy_marked_unused_is_not_loaded(ws):
    with Agent.open(ws.root) as agent:
        agent.train(questions=200, reader=False, policy_budget=20)
        mark_policy(agent, used=False, validation={"policy": 0.1, "hits_at_1": 0.9})
    assert not policy_in_use(ws.policy_dir("default"))
    with Agent.open(ws.root) as agent:
        assert agent.retriever.policy is None
        mark_policy(agent, used=True, validation={"policy": 0.9, "hits_at_1": 0.1})
    with Agent.open(ws.root) as agent:
        assert agent.retriever.policy is not None


def test_the_train_command(ws):
    r = CliRunner().invoke(app, ["train", str(ws.root), "-n", "150", "--policy-budget", "10"])
    assert r.exit_code == 0, r.output
    assert "zero-shot ranker: validation Hits@1" in r.output
    assert (ws.runs_dir / "train.json").is_file()


def test_the_reader_weight_is_chosen_on_held_out_questions_and_used(ws):
    from kgagent.agents.training import READER_FILE, calibrate_reader, reader_calibration
    from kgagent.synth import synthesize
    from tests.fakes import OverlapLM

    adapter = ws.adapter_dir("default")
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")  # the agent sees an adapter
    with Agent.open(ws.root) as agent:
        agent.llm = OverlapLM()
        pairs = [(it.question, it.answers) for it in synthesize(agent, n=60, seed=1)]
        got = calibrate_reader(agent, pairs)
        hits = got["validation_hits_at_1"]
        assert set(hits) == {"0.5", "1.0", "2.0", "4.0", "8.0", "none"}
        best = max(hits.values())
        key = "none" if got["best_weight"] is None else str(got["best_weight"])
        assert hits[key] == best
        assert got["reader_weight"] in (None, got["best_weight"])
        saved = reader_calibration(agent.adapter_dir)
        assert saved["weight"] == got["reader_weight"]
        assert saved["use_llm"] == saved["clearly_better"] == (got["reader_weight"] is not None)
        # without the LLM: ask_batch reads by the ranking alone and never calls it
        (adapter / READER_FILE).write_text(json.dumps({"use_llm": False, "weight": None}))
        agent.llm.calls = 0
        assert agent.ask_batch([pairs[0][0]])[0].labels
        assert agent.llm.calls == 0


def test_a_trained_part_replaces_the_zero_shot_one_only_when_clearly_better():
    def pair(wins, losses, same=100):
        new = np.array([True] * wins + [False] * losses + [True] * same)
        old = np.array([False] * wins + [True] * losses + [True] * same)
        return new, old

    assert not clearly_better(*pair(5, 3))  # 0.845 against 0.835 on 200: noise
    assert not clearly_better(*pair(3, 5))
    assert not clearly_better(*pair(0, 0))  # a tie stays with the zero-shot part
    assert clearly_better(*pair(15, 3))  # p = 0.004
    assert not clearly_better(*pair(15, 3), alpha=0.001)


def test_validation_questions_are_worded_as_no_training_question_is():
    """Whole wordings are held out: the reader's weight is chosen on phrasings it never
    trained on, as a user's are; a wording bigger than twice the share stays in training."""
    from kgagent.synth import SynthItem

    def item(frame, i):
        return SynthItem(f"q{frame}{i}", ("a",), "t", "T", ("r",), (False,), f"{frame}:noun")

    sizes = {"big": 60, "cmd": 12, "np": 10, "q.role": 9, "q.share": 9}
    items = [item(f, i) for f, n in sizes.items() for i in range(n)]
    valid, train = split_by_wording(items, 0.15, seed=0)
    held = {it.template.split(":")[0] for it in valid}
    assert held and held.isdisjoint(it.template.split(":")[0] for it in train)
    assert "big" not in held  # 60 > 2 x 15
    assert 15 <= len(valid) <= 30 and len(valid) + len(train) == len(items)
    assert split_by_wording(items, 0.15, seed=0) == (valid, train)  # seeded
    # one wording: a random split
    one = [item("cmd", i) for i in range(40)]
    valid, train = split_by_wording(one, 0.15, seed=1)
    assert len(valid) == 6 and len(train) == 34


def test_the_llm_reads_only_where_clearly_better_than_the_ranking_alone():
    """PathQuestion's case: weight 2 won the synthesized validation by 16 questions to 8
    and read real questions 12 points worse than the ranker; 15 to 3 is clear."""

    def runs(wins, losses, same=200):
        llm = np.array([True] * wins + [False] * losses + [True] * same)
        none = np.array([False] * wins + [True] * losses + [True] * same)
        return {None: none, 1.0: none, 2.0: llm, 4.0: none}

    assert choose_reader_weight(runs(16, 8)) == (None, 2.0)
    assert choose_reader_weight(runs(15, 3)) == (2.0, 2.0)
    assert choose_reader_weight(runs(0, 4)) == (None, None)  # the ranking alone is best
    tie = runs(15, 3)
    tie[4.0] = tie[2.0]
    assert choose_reader_weight(tie) == (4.0, 4.0)  # ties go to the larger weight


def test_the_reader_leans_on_the_ranking_where_validation_cannot_tell_weights_apart():
    """MetaQA's case: validation preferred weight 0.5 to 4.0 by 12 questions to 7, and
    real questions read 3 to 11 points worse at 0.5 (1 to 3 hops)."""
    rng = np.random.default_rng(0)
    none = rng.random(400) < 0.9
    best = none.copy()
    best[np.flatnonzero(~none)[:30]] = True  # 30 more right than the ranking alone
    close = best.copy()
    close[np.flatnonzero(best)[:7]] = False  # 7 lost and 3 won against the best: noise
    close[np.flatnonzero(~best)[:3]] = True
    far = best.copy()
    far[np.flatnonzero(best)[:25]] = False  # 25 fewer: clearly worse
    right = {None: none, 0.5: best, 1.0: close, 2.0: close, 4.0: close, 8.0: far}
    assert choose_reader_weight(right) == (4.0, 0.5)
    # the larger weight must also be clearly better than reading without the LLM
    right[4.0] = none | (rng.random(400) < 0.01)
    assert choose_reader_weight(right) == (2.0, 0.5)
