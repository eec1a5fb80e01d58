"""The ``kgagent`` command. Heavy imports happen inside commands so ``--help`` is instant.

One module per command group: :mod:`~kgagent.cli.kg` (init, load, info, query, update,
sources, remove, reason, validate), :mod:`~kgagent.cli.retrieval` (index, retrieve),
:mod:`~kgagent.cli.qa` (ask, synth, finetune, eval), :mod:`~kgagent.cli.chat` (chat),
:mod:`~kgagent.cli.serve` (serve), and the sub-commands :mod:`~kgagent.cli.kge`,
:mod:`~kgagent.cli.policy`, :mod:`~kgagent.cli.transfer`, :mod:`~kgagent.cli.team`. Every
command reports a :class:`~kgagent.errors.KGAgentError` through
:func:`~kgagent.cli._common.handle_errors` (``error: ...``, exit code 1).
"""

from __future__ import annotations

import typer

from kgagent.cli import chat, kg, qa, retrieval, serve
from kgagent.cli._common import read_questions, show_answer, write_answers
from kgagent.cli.kge import kge_app
from kgagent.cli.policy import policy_app
from kgagent.cli.team import team_app
from kgagent.cli.transfer import COMPONENT_KINDS, transfer_app

__all__ = [
    "COMPONENT_KINDS",
    "app",
    "kge_app",
    "main",
    "policy_app",
    "read_questions",
    "show_answer",
    "team_app",
    "transfer_app",
    "write_answers",
]

app = typer.Typer(
    name="kgagent",
    help="Knowledge-graph augmented agents: load a KG, query it, and (soon) ask it questions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The top-level commands, in the order `kgagent --help` lists them.
for _group in (kg.app, retrieval.app, qa.app, chat.app, serve.app):
    app.registered_commands += _group.registered_commands
app.add_typer(kge_app, name="kge")
app.add_typer(policy_app, name="policy")
app.add_typer(transfer_app, name="transfer")
app.add_typer(team_app, name="team")


def main() -> None:
    """The console script ``kgagent`` (and ``python -m kgagent.cli``)."""
    app()
