"""What every command group shares: the error decorator, the workspace argument, and the
question/answer I/O that ``ask``, ``retrieve``, ``eval`` and ``team ask`` have in common
(questions one by one, or conversations turn by turn).

Nothing here imports more than typer and the standard library, so ``kgagent --help`` stays
instant; the commands import the heavy parts they use inside their bodies.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

import typer

from kgagent.cli._output import json_text, printable
from kgagent.errors import KGAgentError, QAFormatError

__all__ = [
    "Workspace",
    "handle_errors",
    "one_source",
    "read_conversations",
    "read_questions",
    "report_error",
    "report_unseen",
    "show_answer",
    "unescape",
    "write_answers",
    "write_conversations",
]

F = TypeVar("F", bound=Callable[..., Any])

Workspace = Annotated[Path, typer.Argument(help="workspace directory (see `kgagent init`)")]


def report_error(exc: BaseException) -> None:
    """Prints ``error: <exc>`` in red on stderr: the one form every command reports in
    (escaped: a message may quote graph text or a file name)."""
    message = printable(exc, keep="\n")
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


@overload
def handle_errors(func: F, /) -> F: ...
@overload
def handle_errors(*, also: tuple[type[Exception], ...] = ()) -> Callable[[F], F]: ...
def handle_errors(
    func: F | None = None, /, *, also: tuple[type[Exception], ...] = ()
) -> F | Callable[[F], F]:
    """Turns a :class:`KGAgentError` (and the ``also`` types) raised by a command into
    ``error: <message>`` on stderr and exit code 1.

    Every kgagent error says where the problem is, so a user needs the message, not the
    traceback. Other exceptions (bugs) and ``typer.Exit`` pass through unchanged. Use as
    ``@handle_errors`` or ``@handle_errors(also=(KeyError,))``, below ``@app.command()``.
    """
    if func is None:
        return functools.partial(handle_errors, also=also)  # type: ignore[return-value]
    caught = (KGAgentError, *also)

    @functools.wraps(func)  # typer reads the wrapped signature for the options
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except caught as exc:
            report_error(exc)
            raise typer.Exit(code=1) from None

    return command  # type: ignore[return-value]


def unescape(sep: str) -> str:
    """A separator as typed on a shell (``--sep '\\t'``) as the character it names."""
    return sep.encode().decode("unicode_escape")


def read_questions(path: Path) -> list[str]:
    """Questions from a QA file (plain, MetaQA, PathQuestion or JSON lines)."""
    from kgagent.qa import read_qa

    return [item.question for item in read_qa(path)]


def show_answer(a, out: Path | None, *, sparql: bool = False) -> bool:
    """One answer as a JSON record in ``out``, or printed (then True); ``sparql``: also
    print the query that returns the same answer from the store (typed questions)."""
    if out is not None:
        out.write_text(json_text(a.to_dict()) + "\n", encoding="utf-8")
        return False
    _print_answer(a)
    if sparql:
        shown = a.sparql or "# no query: a chain question (read by the reader, not a program)"
        typer.echo(printable(shown, keep="\n"))
    return True


def write_answers(asker, qs: list[str], out: Path | None, batch_size: int) -> None:
    """One JSON answer record per line (``Answer.to_dict``) to ``out`` or stdout, asked
    in batches (a progress bar on stderr when writing a file)."""
    from tqdm import tqdm

    sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    try:
        with tqdm(total=len(qs), unit="q", file=sys.stderr, disable=out is None) as bar:
            for i in range(0, len(qs), batch_size):
                for a in asker.ask_batch(qs[i : i + batch_size]):
                    sink.write(json_text(a.to_dict()) + "\n")
                bar.update(min(batch_size, len(qs) - i))
    finally:
        if out:
            sink.close()


#: ``--conversations``' help: the file format and how records point back into it
CONVERSATIONS_HELP = (
    'JSON lines, one conversation a line: {"turns": ["q1", "q2", ...]} (other keys are '
    'ignored); each turn is asked after the ones before it, so "it" / "they" refer back. '
    'A record per turn, with "conversation" (0-based, counting non-blank lines: the n-th '
    'JSON object) and "turn" (0-based). Every line is checked before anything is asked.'
)


def read_conversations(path: Path) -> list[list[str]]:
    """The turns of each conversation in a ``--conversations`` file, in file order.

    Every line is checked before any question is asked, so a typo on the last line costs
    nothing and writes nothing. Blank lines are skipped and not counted: conversation
    ``i`` of the result (its records' ``"conversation"``) is the file's ``i``-th
    non-blank line, which is what reading the file as JSON lines gives; errors name the
    file's own 1-based line number, as an editor shows it.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise QAFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise QAFormatError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from exc
    out: list[list[str]] = []
    # split on newlines only: str.splitlines would also split at U+2028 inside a string
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:  # RecursionError: [[[[... too deep
            raise QAFormatError(f"{path}:{n}: not JSON ({exc})") from exc
        if not isinstance(obj, dict):
            raise QAFormatError(
                f'{path}:{n}: expected an object {{"turns": [...]}}, got {type(obj).__name__}'
            )
        if "turns" not in obj:
            raise QAFormatError(f'{path}:{n}: no "turns" (the list of questions)')
        turns = obj["turns"]
        if not isinstance(turns, list):
            raise QAFormatError(
                f'{path}:{n}: "turns": expected a list of questions, got {type(turns).__name__}'
            )
        for j, turn in enumerate(turns):
            if not isinstance(turn, str) or not turn.strip():
                got = "blank text" if isinstance(turn, str) else type(turn).__name__
                raise QAFormatError(f"{path}:{n}: turns[{j}]: expected a question, got {got}")
        out.append(turns)
    return out


def one_source(question: str | None, questions: Path | None, conversations: Path | None) -> None:
    """Checks that ``ask`` / ``team ask`` got one of QUESTION, --questions, --conversations."""
    if sum(x is not None for x in (question, questions, conversations)) != 1:
        raise KGAgentError("give a QUESTION or --questions FILE or --conversations FILE (one only)")


def write_conversations(asker, conversations: list[list[str]], out: Path | None) -> None:
    """Asks each conversation's turns in order through ``asker.conversation()`` and writes
    one record per turn: ``conversation`` and ``turn`` indexes, then ``Answer.to_dict``'s
    fields with ``context`` always present (null on a first turn). Ends with a one-line
    summary on stderr (stdout may be the records).

    To ``out`` all at once, atomically, when every turn is answered: a question the agent
    refuses halfway (too long, say) leaves no half-written file, and an existing ``out``
    intact. To stdout as they come.
    """
    from tqdm import tqdm

    from kgagent._io import atomic_write_text

    if out is not None and not out.parent.is_dir():  # before an hour of asking, not after
        raise KGAgentError(f"--out {out}: no directory {out.parent}")
    total = sum(len(turns) for turns in conversations)
    lines: list[str] = []
    with tqdm(total=total, unit="turn", file=sys.stderr, disable=out is None) as bar:
        for i, turns in enumerate(conversations):
            conversation = asker.conversation()
            for j, question in enumerate(turns):
                a = conversation.ask(question)
                line = json_text({"conversation": i, "turn": j, **a.to_dict(),
                                  "context": a.context}) + "\n"  # fmt: skip
                if out is None:
                    sys.stdout.write(line)
                else:
                    lines.append(line)
                bar.update(1)
    if out is not None:
        try:
            atomic_write_text(out, "".join(lines))
        except OSError as exc:
            raise KGAgentError(f"--out {out}: cannot write ({exc.strerror or exc})") from exc
    where = printable(out) if out is not None else "stdout"
    typer.echo(f"{total} turns in {len(conversations)} conversations -> {where}", err=True)


def _print_answer(a) -> None:
    """An answer and its citations, one line each: graph text is escaped, so a label
    cannot add a line (a forged citation) or send the terminal escape sequences."""
    text = printable(a.text)
    typer.echo(text if a.abstained else f"{text}  (confidence {a.confidence:.2f})")
    for i, f in enumerate(a.facts[:20], 1):
        typer.echo(f"  [{i}] {printable(f.text)}")
    if len(a.facts) > 20:
        typer.echo(f"  ... {len(a.facts) - 20} more facts")
    for p in a.paths[:5]:
        typer.echo(f"  path: {printable(p.text)}")
    typer.echo(f"({a.timings.get('total_ms', 0):.0f} ms)")


def report_unseen(data) -> None:
    """Warns (stderr) about evaluation triples dropped for naming unseen labels."""
    for split, rep in data.unseen.items():
        typer.secho(
            f"warning: {split}: {rep['triples']} triples dropped from evaluation "
            f"({len(rep['entities'])} entities, {len(rep['relations'])} relations not in "
            f"the training split, e.g. {printable((rep['entities'] or rep['relations'])[:3])})",
            fg=typer.colors.YELLOW,
            err=True,
        )
