"""``kgagent chat``: a conversation with a workspace's agent, one question a line.

A follow-up ("what else did they direct?") is read against the turns before it by
:class:`~kgagent.dialogue.Conversation`; this module is only the terminal around it: the
slash-commands, readline history, and the saved transcript. A saved file is input the
next ``/load`` trusts no more than any other file, so every field it reads is checked
(the dialogue state by :meth:`~kgagent.dialogue.DialogueState.from_dict`, the
transcript here) before anything in the session changes.

Registered on the main command in :mod:`kgagent.cli`; heavy imports stay inside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from kgagent.cli._common import Workspace, handle_errors, report_error, show_answer
from kgagent.cli._output import json_text, printable
from kgagent.errors import KGAgentError

__all__ = ["HISTORY_FILE", "Chat", "History", "chat"]

app = typer.Typer()

HISTORY_FILE = ".kgagent_chat_history"  # in the workspace: questions about its graph
HISTORY_LINES = 1000  # lines the history file keeps (the newest)
HISTORY_MAX_BYTES = 1 << 20  # a larger history file is not read (it was not ours)
SAVE_FORMAT = "kgagent chat"
SHOWN_FACTS = 50  # facts /why lists (the rest counted)
PROMPT = "kgagent> "
HELP = """\
Ask a question on a line; a follow-up may say "it", "they", "those films", "and the year?".
  /why         the last answer's facts, paths, SPARQL and what it took from earlier turns
  /reset       start a new conversation
  /save FILE   write the conversation (state and turns) as JSON
  /load FILE   go on from a conversation /save wrote
  /help        this text
  /quit        leave (so does Ctrl-D)"""
SHORT_HELP = "commands: /why, /reset, /save FILE, /load FILE, /help, /quit"


@app.command()
@handle_errors
def chat(
    workspace: Workspace,
    show_sparql: Annotated[
        bool,
        typer.Option(help="print the SPARQL query that returns the same answer (typed questions)"),
    ] = False,
    history: Annotated[
        bool, typer.Option(help=f"keep readline history in WORKSPACE/{HISTORY_FILE} (a terminal)")
    ] = True,
) -> None:
    """Talk with the graph: each line a question, read against the ones before it ("who
    directed Jaws?" then "what else did they direct?"). /help lists the commands."""
    from kgagent.agents import Agent

    with Agent.open(workspace, read_only=True) as agent:  # reads only, as `ask` does
        session = Chat(agent, sparql=show_sparql)
        keep = Path(workspace) / HISTORY_FILE if history else None
        if sys.stdin.isatty():
            typer.echo(f"kgagent chat over {printable(workspace)}: {SHORT_HELP} (or Ctrl-D)")
        with contextlib.closing(_lines(keep)) as lines:
            for line in lines:
                if not session.handle(line):
                    break


def _lines(history: Path | None) -> Iterator[str]:
    """The lines typed: with a prompt, line editing and history at a terminal; read as
    they come from a pipe (no prompt to clutter the output)."""
    if not sys.stdin.isatty():
        for line in sys.stdin:
            yield line.rstrip("\r\n")
        return
    with History(history):
        while True:
            try:
                yield input(PROMPT)
            except EOFError:
                typer.echo()
                return
            except KeyboardInterrupt:  # drops the line being typed, as a shell does
                typer.echo()


class History:
    """Readline history kept in a file, for a terminal session.

    Losing history is a small thing; losing the chat to it is not, so a history file that
    cannot be read or written is left alone. It is read only if a plain file of at most
    ``HISTORY_MAX_BYTES``, written at most ``HISTORY_LINES`` lines long, owner-readable
    only (the questions may be private), and never through a symbolic link (which could
    point the write at another file).
    """

    def __init__(self, path: Path | None, *, lines: int = HISTORY_LINES) -> None:
        self.path = path
        self.lines = lines
        self.readline: Any = None

    def __enter__(self) -> History:
        if self.path is None:
            return self
        try:
            import readline
        except ImportError:  # Python built without it: line editing is the terminal's
            return self
        self.readline = readline
        readline.set_history_length(self.lines)
        with contextlib.suppress(OSError, ValueError):
            if self._plain() and self.path.stat().st_size <= HISTORY_MAX_BYTES:
                readline.read_history_file(str(self.path))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.readline is None or self.path is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if not self.path.exists() and not self.path.is_symlink():  # created private
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            if self._plain():
                self.readline.write_history_file(str(self.path))

    def _plain(self) -> bool:
        return self.path is not None and self.path.is_file() and not self.path.is_symlink()


class Chat:
    """A conversation and its transcript, driven one typed line at a time.

    Args:
        asker: what answers (an :class:`~kgagent.agents.Agent`, or anything with
            ``conversation(state=None)``).
        sparql: print each answer's SPARQL query too (``kgagent ask --show-sparql``).
    """

    def __init__(self, asker: Any, *, sparql: bool = False) -> None:
        self.asker = asker
        self.sparql = sparql
        self.conversation = asker.conversation()
        #: ``{"question", "answer": Answer.to_dict()}`` per turn: what /why reads and /save
        #: writes (records, so a loaded transcript reads the same as a live one)
        self.turns: list[dict[str, Any]] = []
        self.commands: dict[str, Callable[[str], bool]] = {
            "why": self.why,
            "reset": self.reset,
            "save": self.save,
            "load": self.load,
            "help": self.help,
            "quit": self.quit,
            "exit": self.quit,
        }

    def handle(self, line: str) -> bool:
        """One typed line: a question or a /command. False when the chat should end. An
        error is one line on stderr and the chat goes on: the next question may be fine."""
        line = line.strip()
        if not line:
            return True
        try:
            if not line.startswith("/"):
                return self.ask(line)
            name, _, arg = line[1:].partition(" ")
            command = self.commands.get(name.lower())
            if command is None:
                typer.echo(f"unknown command /{printable(name)}; {SHORT_HELP}")
                return True
            return command(arg.strip())
        except KGAgentError as exc:
            report_error(exc)
            return True

    def ask(self, question: str) -> bool:
        try:
            answer = self.conversation.ask(question)
        except KeyboardInterrupt:  # Ctrl-C stops a slow answer, not the chat
            typer.echo("(interrupted: nothing kept of that question)")
            return True
        self.turns.append({"question": question, "answer": answer.to_dict()})
        show_answer(answer, None, sparql=self.sparql)
        return True

    # -- commands: each takes the text after its name, returns False to end the chat ------

    def why(self, _: str) -> bool:
        """The last answer's evidence and what it took from the conversation."""
        if not self.turns:
            typer.echo("nothing asked yet")
            return True
        for line in explain(self.turns[-1]):
            typer.echo(line)
        return True

    def reset(self, _: str) -> bool:
        self.conversation.reset()
        self.turns = []
        typer.echo("conversation reset: the next question starts a new one")
        return True

    def save(self, arg: str) -> bool:
        """Writes state and transcript atomically: a full disk or a kill mid-write leaves
        the previous file, not half of this one."""
        from kgagent._io import atomic_write_text

        path = _file_arg(arg, "save")
        data = {"format": SAVE_FORMAT, "version": 1, "state": self.conversation.to_dict(),
                "turns": self.turns}  # fmt: skip
        try:
            atomic_write_text(path, json_text(data, indent=2) + "\n")
        except OSError as exc:
            raise KGAgentError(f"/save {path}: cannot write ({exc.strerror or exc})") from exc
        typer.echo(f"saved {len(self.turns)} turns -> {printable(path)}")
        return True

    def load(self, arg: str) -> bool:
        """Goes on from a saved conversation; a file that fails any check changes nothing."""
        path = _file_arg(arg, "load")
        state, turns = read_saved(path)
        try:
            conversation = self.asker.conversation(state)
        except KGAgentError as exc:  # StateError: names the field
            raise KGAgentError(f"/load {path}: {exc}") from exc
        self.conversation, self.turns = conversation, turns
        last = f"; last question: {printable(turns[-1]['question'])}" if turns else ""
        typer.echo(f"loaded {len(turns)} turns from {printable(path)}{last}")
        return True

    def help(self, _: str) -> bool:
        typer.echo(HELP)
        return True

    def quit(self, _: str) -> bool:
        return False


def explain(turn: dict[str, Any]) -> list[str]:
    """/why's lines for one transcript turn (escaped: facts and labels are graph text)."""
    a = turn["answer"]
    out = [f"question: {printable(turn['question'])}"]
    context = a.get("context")
    if context is None:
        out.append("context: none (the question was asked as it stands)")
    else:
        kind = context["kind"]
        if kind in ("switch", "new"):
            out.append(f"context: {kind} (nothing taken from earlier turns)")
        else:
            used = ", ".join(printable(e["label"]) for e in context["entities"]) or "-"
            out.append(f"context: {kind}, from turn {context['turn'] + 1}: {used}")
        out += [f"  asked: {printable(q)}" for q in context["asked"]]
    facts = a.get("facts", [])
    out.append(f"facts ({len(facts)}):" if facts else "facts: none")
    for i, f in enumerate(facts[:SHOWN_FACTS], 1):
        where = f" ({printable(f['agent'])})" if isinstance(f.get("agent"), str) else ""
        out.append(f"  [{i}] {printable(f['text'])}{where}")
    if len(facts) > SHOWN_FACTS:
        out.append(f"  ... {len(facts) - SHOWN_FACTS} more facts")
    out += [f"path: {printable(p)}" for p in a.get("paths", [])]
    if a.get("sparql"):
        out.append("sparql:")
        out += [f"  {printable(line)}" for line in a["sparql"].splitlines()]
    return out


def read_saved(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(state, turns) of a file ``/save`` wrote, every field :func:`explain` reads checked;
    a :class:`KGAgentError` naming the file and the field otherwise."""
    where = f"/load {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KGAgentError(f"{where}: cannot read ({exc.strerror or exc})") from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deep
        raise KGAgentError(f"{where}: not a saved conversation ({exc})") from exc
    check = _Checker(where)
    check(data, dict, "", "an object")
    if data.get("format") != SAVE_FORMAT or data.get("version") != 1:
        raise KGAgentError(f'{where}: format: expected "{SAVE_FORMAT}", version 1')
    check(data.get("state"), dict, "state", "an object")
    if not data["state"]:  # an empty state would quietly start a new conversation
        raise KGAgentError(f"{where}: state: empty")
    check(data.get("turns"), list, "turns", "a list")
    for i, turn in enumerate(data["turns"]):
        check.turn(turn, f"turns[{i}]")
    return data["state"], data["turns"]


class _Checker:
    """Type checks of a saved transcript, each failure naming the file and field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __call__(self, value: Any, kind: type | tuple[type, ...], field: str, what: str):
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            got = type(value).__name__
            raise KGAgentError(f"{self.where}: {field or 'file'}: expected {what}, got {got}")

    def turn(self, turn: Any, at: str) -> None:
        self(turn, dict, at, "an object")
        self(turn.get("question"), str, f"{at}.question", "text")
        a = turn.get("answer")
        self(a, dict, f"{at}.answer", "an object")
        self(a.get("text"), str, f"{at}.answer.text", "text")
        self(a.get("facts", []), list, f"{at}.answer.facts", "a list")
        for k, f in enumerate(a.get("facts", [])):
            self(f, dict, f"{at}.answer.facts[{k}]", "an object")
            self(f.get("text"), str, f"{at}.answer.facts[{k}].text", "text")
        self(a.get("paths", []), list, f"{at}.answer.paths", "a list")
        for k, p in enumerate(a.get("paths", [])):
            self(p, str, f"{at}.answer.paths[{k}]", "text")
        self(a.get("sparql"), (str, type(None)), f"{at}.answer.sparql", "text or null")
        context = a.get("context")
        if context is not None:
            self.context(context, f"{at}.answer.context")

    def context(self, c: Any, at: str) -> None:
        self(c, dict, at, "an object or null")
        self(c.get("kind"), str, f"{at}.kind", "text")
        self(c.get("turn"), int, f"{at}.turn", "a turn number")
        self(c.get("asked"), list, f"{at}.asked", "a list")
        for k, q in enumerate(c["asked"]):
            self(q, str, f"{at}.asked[{k}]", "text")
        self(c.get("entities"), list, f"{at}.entities", "a list")
        for k, e in enumerate(c["entities"]):
            self(e, dict, f"{at}.entities[{k}]", "an object")
            self(e.get("label"), str, f"{at}.entities[{k}].label", "text")


def _file_arg(arg: str, command: str) -> Path:
    if not arg:
        raise KGAgentError(f"/{command}: give a file (/{command} FILE)")
    return Path(arg).expanduser()
