"""``kgagent index WS --encoder NAME`` (issue 24): the index is rebuilt with that encoder,
which is then saved as ``retrieval.encoder``; a name that does not build leaves the
workspace as it was."""

from __future__ import annotations

from typer.testing import CliRunner

from kgagent.cli import app
from kgagent.workspace import Workspace
from tests.programs.conftest import FILMS_TTL
from tests.workspaces import turtle_workspace

runner = CliRunner()


def _workspace(tmp_path):
    return turtle_workspace(tmp_path, FILMS_TTL, index=False)


def test_another_encoder_rebuilds_the_index_and_is_saved(tmp_path):
    root = _workspace(tmp_path)
    assert runner.invoke(app, ["index", str(root)]).exit_code == 0
    r = runner.invoke(app, ["index", str(root), "--encoder", "minilm"])
    assert r.exit_code == 0, r.output
    assert "retrieval.encoder: minilm" in r.output
    assert Workspace(root).read_config().retrieval.encoder == "minilm"
    again = runner.invoke(app, ["retrieve", str(root), "Who directed Jaws?", "-k", "2"])
    assert again.exit_code == 0 and "Jaws was directed by Steven Spielberg" in again.output


def test_an_unknown_encoder_leaves_the_workspace_as_it_was(tmp_path):
    root = _workspace(tmp_path)
    r = runner.invoke(app, ["index", str(root), "--encoder", "nosuch"])
    assert r.exit_code != 0 and "unknown encoder 'nosuch'" in r.output
    assert Workspace(root).read_config().retrieval.encoder == "hashing"
