"""``kgagent serve``: the HTTP API and web page over one workspace's agent, or a team.

Registered on the main command in :mod:`kgagent.cli`. FastAPI and uvicorn are imported
inside the command, so ``kgagent --help`` stays instant. One process, one worker: the
agent (index, LLM) is loaded once and shared by every request.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from kgagent.cli._common import handle_errors
from kgagent.cli._output import printable
from kgagent.cli.team import Match, TeamDir, open_team
from kgagent.errors import KGAgentError
from kgagent.workspace import CONFIG_FILE, Workspace

app = typer.Typer()

Members = Annotated[
    list[str] | None,
    typer.Option(
        "--agent",
        help="serve a team instead of one WORKSPACE: a member's workspace, or NAME=WORKSPACE; "
        "repeat per member",
    ),
]


@contextmanager
def _target(workspace: Path | None, members: list[str], team_dir: Path | None, match: str):
    """The open Agent of ``workspace``, or the Team of ``--agent`` members (read-only:
    a service answers, it never writes a workspace)."""
    if (workspace is None) == (not members):
        raise KGAgentError("give a WORKSPACE, or a team's members with --agent (not both)")
    if workspace is None:
        with open_team(members, team_dir, match=match) as team:
            yield team
        return
    if team_dir is not None:
        raise KGAgentError("--team goes with --agent members, not with a WORKSPACE")
    if not Workspace(workspace).is_workspace():
        raise KGAgentError(f"{workspace}: not a kgagent workspace (no {CONFIG_FILE})")
    from kgagent.agents import Agent

    with Agent.open(workspace, read_only=True) as agent:
        yield agent


def base_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens (an IPv6 address in brackets; the
    wildcard addresses as loopback, which they include)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """The warning for a service other machines can reach with no key, else None."""
    from kgagent.serve.settings import is_loopback

    if is_loopback(host) or api_key is not None:
        return None
    return (
        f"warning: --host {host} lets other machines reach this service and no API key "
        "is set: anyone who can connect may ask and query (use --api-key-env VAR)"
    )


def build_server(target: Any, settings: Any, *, host: str, port: int, log_level: str):
    """The uvicorn server of ``target`` (not started): one worker, no Server header."""
    import uvicorn

    from kgagent.serve import create_app

    config = uvicorn.Config(
        create_app(target, settings),
        host=host,
        port=port,
        workers=1,
        log_level=log_level,
        server_header=False,
    )
    return uvicorn.Server(config)


@app.command()
@handle_errors
def serve(
    workspace: Annotated[
        Path | None, typer.Argument(help="workspace directory (or --agent for a team)")
    ] = None,
    agent: Members = None,
    team: TeamDir = None,
    host: Annotated[
        str, typer.Option(help="address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            help="require the key held by this environment variable on /v1/* and "
            "/metrics (Authorization: Bearer KEY or X-API-Key)"
        ),
    ] = None,
    max_body: Annotated[int, typer.Option(help="request body bytes, at most (413)")] = 65536,
    max_batch: Annotated[int, typer.Option(help="questions per /v1/ask_batch")] = 64,
    max_concurrency: Annotated[int, typer.Option(help="asks in flight at once")] = 8,
    queue_wait: Annotated[
        float, typer.Option(help="seconds an ask waits for a free slot before a 429")
    ] = 5.0,
    conversations_max: Annotated[int, typer.Option(help="conversations kept at once")] = 1000,
    conversation_ttl: Annotated[
        float, typer.Option(help="seconds an idle conversation is kept")
    ] = 1800.0,
    query_rows: Annotated[int, typer.Option(help="rows /v1/query returns, at most")] = 1000,
    match: Match = "iri,same_as,label",
    log_level: Annotated[str, typer.Option(help="uvicorn's: critical .. debug")] = "info",
) -> None:
    """Serve the agent (or a team) over HTTP: the JSON API under /v1 (OpenAPI at /docs),
    the web page at /, Prometheus metrics at /metrics. Listens on loopback unless --host
    says otherwise."""
    from kgagent.serve.settings import ServeSettings, api_key_from_env

    key = api_key_from_env(api_key_env) if api_key_env is not None else None
    settings = ServeSettings(
        max_body=max_body,
        max_batch=max_batch,
        max_concurrency=max_concurrency,
        queue_wait=queue_wait,
        conversations_max=conversations_max,
        conversation_ttl=conversation_ttl,
        query_rows=query_rows,
        api_key=key,
    )
    with _target(workspace, agent or [], team, match) as target:
        server = build_server(target, settings, host=host, port=port, log_level=log_level)
        warning = exposure_warning(host, key)
        if warning:
            typer.secho(warning, fg=typer.colors.YELLOW, err=True)
        url = base_url(host, port)
        what = printable(workspace) if workspace is not None else "a team"
        typer.echo(f"serving {what} at {url} (API docs: {url}docs; Ctrl+C stops)")
        server.run()
