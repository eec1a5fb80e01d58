"""``kgagent team ask / train / info`` over the tiny people / films / awards graphs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kgagent.cli import app
from tests.team.conftest import team_questions

runner = CliRunner()
GENRES = "what genres are the films directed by Christopher Nolan"
AWARD = "what award did the films starring Leonardo DiCaprio win"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _agents(dirs, *names):
    out = []
    for n in names:
        out += ["--agent", dirs[n]]
    return out


def test_team_ask_one_question_and_a_file_in_asks_format(member_dirs, tmp_path):
    agents = _agents(member_dirs, "people", "films")
    r = invoke("team", "ask", *agents, "--llm", "none", GENRES)
    assert r.exit_code == 0, r.output
    assert "facts from: people" in r.output
    out = tmp_path / "one.jsonl"
    r = invoke("team", "ask", *agents, "--llm", "none", "--out", out, "who directed Titanic")
    assert r.exit_code == 0, r.output
    one = json.loads(out.read_text())
    assert one["answers"] == ["James Cameron"]
    assert one["facts"][0]["agent"] == "people" and one["agents"] == ["people"]

    qfile = tmp_path / "qs.txt"
    qfile.write_text("who directed Titanic\nwho directed [Inception]\n")
    pred = tmp_path / "pred.jsonl"
    r = invoke("team", "ask", *agents, "--llm", "none", "--questions", qfile, "--out", pred)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in pred.read_text().splitlines()]
    assert [x["answers"] for x in rows] == [["James Cameron"], ["Christopher Nolan"]]
    # every key of `kgagent ask`'s record is there (the team adds provenance)
    assert {"question", "answers", "answer_iris", "text", "facts", "confidence",
            "abstained", "latency_ms", "timings", "paths"} <= set(rows[0])  # fmt: skip


def test_team_train_then_ask_across_graphs_and_info(member_dirs, tmp_path):
    agents = _agents(member_dirs, "people", "films", "awards")
    qa = tmp_path / "train.jsonl"
    with open(qa, "w") as fh:
        for q, answers in team_questions() * 12:
            fh.write(json.dumps({"question": q, "answers": answers}) + "\n")
    team = tmp_path / "team"
    r = invoke("team", "train", *agents, "--team", team, "--questions", qa, "--epochs", 15,
               "--batch-size", 16, "--lr", 5e-3)  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(r.output[r.output.index("{") :])
    assert report["transfer"]["warm_start"] == "people"
    assert report["valid"]["hits_at_1"] > 0.5
    out = tmp_path / "award.jsonl"
    r = invoke("team", "ask", *agents, "--team", team, "--llm", "none", "--out", out, AWARD)
    assert r.exit_code == 0, r.output
    rec = json.loads(out.read_text())
    assert rec["answers"] == ["Academy Award for Best Picture"]
    assert set(rec["agents"]) == {"people", "awards"}
    r = invoke("team", "info", *agents, "--team", team)
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["policy"] == ("default" if report["used"] else None)  # used only if no worse
    assert [m["name"] for m in info["members"]] == ["people", "films", "awards"]


def test_team_cli_bad_input(member_dirs, tmp_path):
    r = invoke("team", "ask", "--agent", tmp_path, "--llm", "none", "q")
    assert r.exit_code == 1 and "not a kgagent workspace" in r.output
    r = invoke("team", "ask", "--llm", "none", "q")
    assert r.exit_code == 1 and "--agent" in r.output
    r = invoke("team", "ask", "--agent", f"a={member_dirs['people']}",
               "--agent", member_dirs["films"], "--llm", "none", "q")  # fmt: skip
    assert r.exit_code == 1 and "name every member" in r.output
    twice = ["--agent", f"x={member_dirs['people']}", "--agent", f"x={member_dirs['films']}"]
    r = invoke("team", "ask", *twice, "--llm", "none", "q")
    assert r.exit_code == 1 and "unique" in r.output
    r = invoke("team", "ask", *_agents(member_dirs, "people"), "--llm", "none")
    assert r.exit_code == 1 and "QUESTION or --questions" in r.output
