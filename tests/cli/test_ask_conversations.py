"""``kgagent ask --conversations`` and ``kgagent team ask --conversations`` (issue 21): a
record per turn, indexed by conversation and turn, follow-ups carrying their context;
a bad file fails on its line before anything is asked or written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgagent.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _conversations(path, *lines: str):
    path.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    return path


def _turns(*questions: str) -> str:
    return json.dumps({"turns": list(questions)})


def test_one_record_per_turn_with_conversation_and_turn_indexes(films_ws, tmp_path):
    f = _conversations(
        tmp_path / "talks.jsonl",
        "",  # blank lines are skipped and not counted: "conversation" is the n-th object
        _turns("Who directed Jaws?", "What else did they direct?", "Which of them star Sam Neill?"),
        "   ",
        json.dumps({"id": "ronin", "turns": ["Who directed Ronin?", "Who starred in it?"]}),
    )
    out = tmp_path / "answers.jsonl"
    r = invoke("ask", films_ws, "--conversations", f, "--out", out)
    assert r.exit_code == 0, r.output
    assert f"5 turns in 2 conversations -> {out}" in r.stderr
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["conversation"], x["turn"]) for x in rows] == [(0, 0), (0, 1), (0, 2), (1, 0),
                                                               (1, 1)]  # fmt: skip
    # ask --questions's record, plus the indexes and the context (null on a first turn)
    assert {"question", "answers", "answer_iris", "text", "facts", "paths", "confidence",
            "abstained", "kind", "latency_ms", "timings", "context"} <= set(rows[0])  # fmt: skip
    assert rows[0]["answers"] == ["Steven Spielberg"] and rows[0]["context"] is None
    assert rows[1]["question"] == "What else did they direct?"
    assert rows[1]["context"]["kind"] == "reference"
    assert rows[1]["context"]["asked"] == ["What else did Steven Spielberg direct?"]
    assert [e["label"] for e in rows[1]["context"]["entities"]] == ["Steven Spielberg"]
    assert rows[2]["context"]["kind"] == "refinement" and rows[2]["answers"] == ["Jurassic Park"]
    # the second conversation starts afresh: its first turn has no context
    assert rows[3]["answers"] == ["John Frankenheimer"] and rows[3]["context"] is None
    assert rows[4]["answers"] == ["Robert De Niro"]
    assert [e["label"] for e in rows[4]["context"]["entities"]] == ["Ronin"]


def test_without_out_the_records_go_to_stdout(films_ws, tmp_path):
    f = _conversations(tmp_path / "one.jsonl", _turns("Who directed Ronin?"))
    r = invoke("ask", films_ws, "--conversations", f)
    assert r.exit_code == 0, r.output
    (row,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert (row["conversation"], row["turn"], row["answers"]) == (0, 0, ["John Frankenheimer"])
    assert "1 turns in 1 conversations -> stdout" in r.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected an object"),
        ('{"turn": ["q"]}', 'no "turns"'),
        ('{"turns": "Who directed Jaws?"}', '"turns": expected a list of questions, got str'),
        ('{"turns": ["Who directed Jaws?", 3]}', "turns[1]: expected a question, got int"),
        ('{"turns": ["Who directed Jaws?", "  "]}', "turns[1]: expected a question, got blank"),
    ],
)
def test_a_bad_line_names_file_and_line_and_nothing_is_written(films_ws, tmp_path, line, message):
    f = _conversations(tmp_path / "talks.jsonl", _turns("Who directed Jaws?"), "", line)
    out = tmp_path / "answers.jsonl"
    out.write_text("earlier answers\n")
    r = invoke("ask", films_ws, "--conversations", f, "--out", out)
    assert r.exit_code == 1
    assert f"{f}:3: " in r.stderr and message in r.stderr  # the file's own line number
    assert out.read_text() == "earlier answers\n"
    # checked before the workspace is even opened: nothing was asked
    r = invoke("ask", tmp_path / "no_workspace", "--conversations", f, "--out", out)
    assert r.exit_code == 1 and f"{f}:3: " in r.stderr


def test_a_question_refused_halfway_leaves_no_half_written_file(films_ws, tmp_path):
    f = _conversations(tmp_path / "talks.jsonl", _turns("Who directed Jaws?"),
                       _turns("Who directed Ronin?", "who " + "x" * 2000))  # fmt: skip
    out = tmp_path / "answers.jsonl"
    r = invoke("ask", films_ws, "--conversations", f, "--out", out)
    assert r.exit_code == 1 and "max_question_chars" in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".answers.jsonl.*"))


@pytest.mark.parametrize(
    "extra",
    [("Who directed Jaws?",), ("--questions", "q.txt")],
    ids=["question", "questions"],
)
def test_conversations_exclude_a_question_and_questions(films_ws, tmp_path, extra):
    f = _conversations(tmp_path / "talks.jsonl", _turns("Who directed Jaws?"))
    r = invoke("ask", films_ws, "--conversations", f, *extra)
    assert r.exit_code == 1
    assert "give a QUESTION or --questions FILE or --conversations FILE (one only)" in r.stderr


def test_team_ask_takes_conversations_too(tmp_path):
    from tests.team.conftest import make_member

    members = [make_member(tmp_path, name, llm="none") for name in ("people", "films")]
    f = _conversations(tmp_path / "talks.jsonl",
                       _turns("who directed Titanic", "what else did he direct",
                              "what genre is it"))  # fmt: skip
    out = tmp_path / "answers.jsonl"
    agents = [x for ws in members for x in ("--agent", ws)]
    r = invoke("team", "ask", *agents, "--llm", "none", "--conversations", f, "--out", out)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["turn"], x["answers"]) for x in rows] == [
        (0, ["James Cameron"]),
        (1, ["Avatar"]),  # "he" is James Cameron; "else" leaves out Titanic
        (2, ["Action"]),  # "it" is Avatar, its genre from the other member's graph
    ]
    assert rows[0]["context"] is None and rows[2]["agents"] == ["films"]
    assert [e["label"] for e in rows[2]["context"]["entities"]] == ["Avatar"]
