"""What every command group shares: the error decorator, the workspace argument, and the
question/answer I/O that ``ask``, ``retrieve``, ``eval`` and ``team ask`` have in common.

Nothing here imports more than typer and the standard library, so ``kgagent --help`` stays
instant; the commands import the heavy parts they use inside their bodies.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

import typer

from kgagent.cli._output import json_text, printable
from kgagent.errors import KGAgentError

__all__ = [
    "Workspace",
    "handle_errors",
    "read_questions",
    "report_error",
    "report_unseen",
    "show_answer",
    "unescape",
    "write_answers",
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
