"""The CLI package: ``kgagent --help`` loads no heavy library, the entry point resolves, and
the one error decorator turns kgagent errors into ``error: ...`` and exit code 1."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import typer
from typer.testing import CliRunner

from kgagent.cli._common import handle_errors
from kgagent.errors import KGAgentError

HEAVY = ("torch", "faiss", "transformers", "sentence_transformers")


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_loads_no_heavy_library():
    code = (
        f"import sys, kgagent.cli; print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}])"
    )
    assert _python(code) == "[]"


def test_help_of_every_command_loads_no_heavy_library():
    # Every command's --help, then sys.modules of that same process.
    code = f"""
import sys
from typer.main import get_command
from typer.testing import CliRunner
from kgagent.cli import app

def paths(cmd, path):
    yield path
    for name, sub in (getattr(cmd, "commands", None) or {{}}).items():
        yield from paths(sub, path + [name])

runner = CliRunner()
seen = 0
for path in paths(get_command(app), []):
    r = runner.invoke(app, path + ["--help"])
    assert r.exit_code == 0 and "Usage" in r.output, (path, r.output)
    seen += 1
heavy = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r}]
print(seen, heavy)
"""
    seen, heavy = _python(code).split(" ", 1)
    assert int(seen) >= 29  # kgagent, 14 commands, 4 groups and their 10 sub-commands
    assert heavy == "[]"


def test_python_m_kgagent_cli_help_imports_nothing_heavy():
    # -X importtime lists every module the real entry point imports, on stderr.
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kgagent.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Usage" in out.stdout and "transfer" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert "kgagent.cli" in imported
    assert not [m for m in imported if m.split(".")[0] in HEAVY]


def test_console_script_entry_point_is_main():
    from kgagent.cli import main

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "kgagent"]
    assert ep.value == "kgagent.cli:main"
    assert ep.load() is main


def test_old_public_names_still_import():
    from kgagent.cli import (  # noqa: F401
        COMPONENT_KINDS,
        app,
        kge_app,
        policy_app,
        read_questions,
        show_answer,
        team_app,
        transfer_app,
        write_answers,
    )

    assert COMPONENT_KINDS == ("embeddings", "policy", "adapter")


def _toy(exc: BaseException) -> typer.Typer:
    toy = typer.Typer()

    @toy.command()
    @handle_errors(also=(KeyError,))
    def boom(code: int = 0) -> None:
        """Raises ``exc`` unless asked for an exit code."""
        if code:
            raise typer.Exit(code=code)
        raise exc

    return toy


@pytest.mark.parametrize(
    ("exc", "message"),
    [(KGAgentError("bad input at line 3"), "bad input at line 3"), (KeyError("x"), "'x'")],
)
def test_handle_errors_prints_the_message_and_exits_1(exc, message):
    r = CliRunner().invoke(_toy(exc), [])
    assert r.exit_code == 1
    assert r.stderr == f"error: {message}\n"
    assert r.stdout == ""


def test_handle_errors_passes_exits_and_bugs_through():
    toy = _toy(ValueError("a bug"))
    assert CliRunner().invoke(toy, ["--code", "2"]).exit_code == 2
    r = CliRunner().invoke(toy, [])
    assert isinstance(r.exception, ValueError)  # a traceback, not a tidy message


def test_handle_errors_keeps_the_signature_typer_reads():
    def command(workspace: str, k: int = 10) -> None:
        """Doc."""

    wrapped = handle_errors(command)
    assert wrapped.__name__ == "command" and wrapped.__doc__ == "Doc."
    import inspect

    assert inspect.signature(wrapped) == inspect.signature(command)


def test_a_workspace_error_is_a_clean_message(tmp_path):
    from kgagent.cli import app

    r = CliRunner().invoke(app, ["sources", str(tmp_path / "nowhere")])
    assert r.exit_code == 1
    assert r.stderr.startswith("error: ")
