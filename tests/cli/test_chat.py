"""``kgagent chat`` (issue 21): follow-ups, /why, /save and /load, /reset, errors that
leave the chat going, and the readline history that never breaks it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgagent.cli import app
from kgagent.cli.chat import HISTORY_FILE, History

runner = CliRunner()


def chat(ws, *lines: str, args: tuple[str, ...] = ()):
    return runner.invoke(app, ["chat", str(ws), *args], input="".join(f"{x}\n" for x in lines))


def test_a_follow_up_is_answered_about_the_last_answer_and_why_shows_it(films_ws):
    r = chat(films_ws, "Who directed Jaws?", "What else did they direct?", "/why")
    assert r.exit_code == 0, r.output
    assert "Steven Spielberg [1]" in r.stdout
    assert "(About Steven Spielberg, from turn 1.)" in r.stdout  # "they" read as him
    why = r.stdout[r.stdout.index("question: What else did they direct?") :]
    assert "context: reference, from turn 1: Steven Spielberg" in why
    assert "  asked: What else did Steven Spielberg direct?" in why
    # the facts numbered as the answer cites them; "else" leaves Jaws out of both
    assert "[1] Jurassic Park was directed by Steven Spielberg" in why
    assert "[2] Schindler's List was directed by Steven Spielberg" in why
    assert "Jaws was directed" not in why


def test_why_says_when_a_turn_took_nothing_from_the_conversation(films_ws):
    r = chat(films_ws, "/why", "Who directed Jaws?", "/why", "Who directed Ronin?", "/why")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("nothing asked yet")
    assert "context: none (the question was asked as it stands)" in r.stdout
    assert "context: switch (nothing taken from earlier turns)" in r.stdout
    assert "[1] Ronin was directed by John Frankenheimer" in r.stdout


def test_save_writes_json_that_load_resumes(films_ws, tmp_path):
    saved = tmp_path / "talk.json"
    r = chat(films_ws, "Who directed Jaws?", "What else did they direct?", f"/save {saved}")
    assert r.exit_code == 0, r.output
    assert f"saved 2 turns -> {saved}" in r.stdout
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["format"] == "kgagent chat" and data["version"] == 1
    assert [t["question"] for t in data["state"]["turns"]] == [
        "Who directed Jaws?",
        "What else did they direct?",
    ]
    assert data["turns"][1]["answer"]["context"]["kind"] == "reference"
    assert not list(tmp_path.glob(".talk.json.*"))  # written atomically: no temp left

    # a new session goes on from the file: "them" are the films of the saved last turn
    r = chat(films_ws, f"/load {saved}", "/why", "Which of them star Sam Neill?", "/why")
    assert r.exit_code == 0, r.output
    assert "loaded 2 turns" in r.stdout and "last question: What else did they direct?" in r.stdout
    assert "context: reference, from turn 1: Steven Spielberg" in r.stdout  # the saved /why
    assert "(Among Jurassic Park, Schindler's List, from turn 2.) Jurassic Park" in r.stdout
    assert "context: refinement, from turn 2: Jurassic Park, Schindler's List" in r.stdout


def test_reset_starts_over(films_ws):
    r = chat(films_ws, "Who directed Jaws?", "/reset", "/why", "Who starred in it?", "/why")
    assert r.exit_code == 0, r.output
    assert "conversation reset" in r.stdout
    after = r.stdout[r.stdout.index("conversation reset") :]
    assert "nothing asked yet" in after
    assert "About Jaws" not in after  # "it" has nothing to refer to any more
    assert "context: none" in after  # a first turn again


def test_an_error_is_one_line_and_the_chat_goes_on(films_ws, tmp_path):
    long = "who directed " + "x" * 2000
    r = chat(films_ws, long, "/save", f"/save {tmp_path}", "Who directed Jaws?")
    assert r.exit_code == 0, r.output
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("error: ") for e in errors)
    assert "max_question_chars" in errors[0]
    assert "/save: give a file" in errors[1]
    assert f"/save {tmp_path}: cannot write" in errors[2]
    assert "Traceback" not in r.output
    assert "Steven Spielberg [1]" in r.stdout


def test_unknown_command_help_quit_and_end_of_input(films_ws):
    r = chat(films_ws, "/bogus", "/help", "/quit", "Who directed Jaws?")
    assert r.exit_code == 0, r.output
    assert "unknown command /bogus; commands: /why, /reset" in r.stdout
    assert "/load FILE   go on from a conversation /save wrote" in r.stdout
    assert "Spielberg" not in r.stdout  # nothing is read after /quit
    r = chat(films_ws, "Who directed Jaws?")  # input ends (Ctrl-D): a clean exit
    assert r.exit_code == 0 and "Steven Spielberg [1]" in r.stdout


def _saved(**change):
    """A file as /save writes one, by hand: one turn, "Who directed Jaws?"."""
    state_turn = {"question": "Who directed Jaws?", "asked": "Who directed Jaws?",
                  "kind": "first", "topic": ["http://example.org/ent/jaws", "Jaws"],
                  "answers": [["http://example.org/ent/spielberg", "Steven Spielberg"]],
                  "who": True}  # fmt: skip
    answer = {"text": "Steven Spielberg [1].", "paths": [],
              "facts": [{"id": 1, "text": "Jaws was directed by Steven Spielberg"}]}  # fmt: skip
    data = {"format": "kgagent chat", "version": 1,
            "state": {"version": 1, "turns": [state_turn]},
            "turns": [{"question": "Who directed Jaws?", "answer": answer}]}  # fmt: skip
    return {**data, **change}


def _one_answer(**fields):
    """A change to the saved transcript: one turn whose answer has ``fields``."""
    return {"turns": [{"question": "q", "answer": {"text": "t", **fields}}]}


ODD_STATE = {"version": 1, "turns": [{"question": "q", "asked": "q", "kind": "odd"}]}
TEXT_TURN = {"kind": "reference", "turn": "0", "asked": [], "entities": []}


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", "not a saved conversation"),
        ("[]", "file: expected an object, got list"),
        (json.dumps({"format": "other", "version": 1}), 'format: expected "kgagent chat"'),
        ({"state": ODD_STATE}, "state.turns[0].kind"),
        ({"state": {}}, "state: empty"),
        (_one_answer(facts=[{"text": 5}]), "turns[0].answer.facts[0].text: expected text"),
        (_one_answer(context=TEXT_TURN), "turns[0].answer.context.turn: expected a turn"),
    ],
)
def test_a_bad_saved_file_names_file_and_field_and_changes_nothing(
    films_ws, tmp_path, content, field
):
    bad = tmp_path / "bad.json"
    text = content if isinstance(content, str) else json.dumps(_saved(**content))
    bad.write_text(text, encoding="utf-8")
    r = chat(films_ws, "Who directed Ronin?", f"/load {bad}", "Who starred in it?")
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith(f"error: /load {bad}: ") and field in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # the conversation before the failed /load goes on: "it" is still Ronin
    assert "(About Ronin, from turn 1.) Robert De Niro" in r.stdout


def test_a_good_saved_file_as_built_here_loads(films_ws, tmp_path):
    """The hand-built file of the bad-file cases is valid as it stands (so each case above
    fails for its one change)."""
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_saved()), encoding="utf-8")
    r = chat(films_ws, f"/load {good}", "/why", "Who starred in it?")
    assert r.exit_code == 0 and r.stderr == "", r.output
    assert "loaded 1 turns" in r.stdout
    assert "[1] Jaws was directed by Steven Spielberg" in r.stdout
    assert "(About Jaws, from turn 1.) Roy Scheider" in r.stdout


def test_not_a_workspace(tmp_path):
    r = chat(tmp_path, "Who directed Jaws?")
    assert r.exit_code == 1 and "not a kgagent workspace" in r.stderr


@pytest.fixture
def readline():
    readline = pytest.importorskip("readline")
    readline.clear_history()
    yield readline
    readline.clear_history()
    readline.set_history_length(-1)


def test_history_is_kept_bounded_and_private(tmp_path, readline):
    path = tmp_path / HISTORY_FILE
    with History(path, lines=5):
        for i in range(12):
            readline.add_history(f"question {i}")
    assert path.read_text().splitlines() == [f"question {i}" for i in range(7, 12)]
    assert path.stat().st_mode & 0o777 == 0o600
    readline.clear_history()
    with History(path, lines=5):  # the next session starts with them
        assert readline.get_current_history_length() == 5
        assert readline.get_history_item(5) == "question 11"


def test_history_that_cannot_be_read_or_written_never_breaks_the_chat(tmp_path, readline):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    with History(folder):  # a directory where the file should be: skipped both ways
        readline.add_history("q")
    assert list(folder.iterdir()) == []
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    with History(link):  # never written through a link
        readline.add_history("q")
    assert target.read_text() == "keep me\n"
    big = tmp_path / "big"
    big.write_text("x\n" * (1 << 20))
    readline.clear_history()
    with History(big):  # too large to be a history we wrote: not read
        assert readline.get_current_history_length() == 0


def test_at_a_terminal_ctrl_c_drops_the_line_and_ctrl_d_ends(tmp_path, readline, monkeypatch):
    import builtins
    import io
    import sys

    from kgagent.cli.chat import _lines

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    typed = iter(["Who directed Jaws?", KeyboardInterrupt, "/why", EOFError])

    def fake_input(prompt: str = "") -> str:
        got = next(typed)
        if isinstance(got, type):
            raise got
        readline.add_history(got)
        return got

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(builtins, "input", fake_input)
    path = tmp_path / HISTORY_FILE
    assert list(_lines(path)) == ["Who directed Jaws?", "/why"]
    assert path.read_text().splitlines() == ["Who directed Jaws?", "/why"]  # kept for next time
