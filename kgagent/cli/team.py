"""``kgagent team``: ask a team of agents (one per graph), train its policy, inspect it.

Registered on the main command in :mod:`kgagent.cli`; heavy imports stay inside commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from kgagent.cli._common import (
    CONVERSATIONS_HELP,
    handle_errors,
    one_source,
    read_conversations,
    read_questions,
    show_answer,
    write_answers,
    write_conversations,
)
from kgagent.cli._output import json_text, printable
from kgagent.errors import KGAgentError
from kgagent.workspace import CONFIG_FILE, Workspace

team_app = typer.Typer(
    help="Teams: several agents over different graphs answering together.",
    no_args_is_help=True,
)

Agents = Annotated[
    list[str],
    typer.Option("--agent", help="a member's workspace, or NAME=WORKSPACE; repeat per member"),
]
TeamDir = Annotated[
    Path | None, typer.Option("--team", help="the team's directory (its policy lives there)")
]
Executor = Annotated[str, typer.Option(help="thread (this process) or ray (one actor each)")]
Match = Annotated[
    str, typer.Option(help="entity matchers across graphs, comma-separated: iri,same_as,label")
]


def _members(specs: list[str]) -> tuple[list[str], list[str] | None]:
    """(workspaces, names or None) from ``--agent WS`` / ``--agent NAME=WS`` options."""
    if not specs:
        raise KGAgentError("give the members with --agent WS (once per member)")
    named = ["=" in s and not Path(s).exists() for s in specs]
    if any(named) and not all(named):
        raise KGAgentError("--agent: name every member (NAME=WS) or none")
    if not any(named):
        return specs, None
    pairs = [s.split("=", 1) for s in specs]
    return [ws for _, ws in pairs], [name for name, _ in pairs]


@contextmanager
def open_team(
    specs: list[str],
    team_dir: Path | None,
    *,
    executor: str = "thread",
    llm: str = "lead",
    match: str = "iri,same_as,label",
) -> Iterator[Any]:
    """The open read-only Team of ``--agent`` members (Ray started and stopped if asked)."""
    from kgagent.team import Team

    workspaces, names = _members(specs)
    for ws in workspaces:
        if not Workspace(ws).is_workspace():
            raise KGAgentError(f"--agent {ws}: not a kgagent workspace (no {CONFIG_FILE})")
    started = False
    if executor == "ray":
        try:
            import ray
        except ImportError as exc:
            raise KGAgentError("--executor ray needs Ray: pip install 'kgagent[ray]'") from exc
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
            started = True
    try:
        team = Team(
            agents=workspaces,
            names=names,
            workspace=team_dir,
            executor=executor,
            llm=None if llm == "none" else llm,
            match=tuple(m.strip() for m in match.split(",") if m.strip()),
            read_only=True,  # a team writes only its own directory, never a member's
        )
        with team:
            yield team
    finally:
        if started:
            ray.shutdown()


@team_app.command("ask")
@handle_errors
def team_ask(
    question: Annotated[str | None, typer.Argument(help="the question")] = None,
    agent: Agents = None,  # type: ignore[assignment]  # typer: required in practice
    team: TeamDir = None,
    questions: Annotated[
        Path | None, typer.Option(help="file of questions (plain, MetaQA, PathQuestion, JSONL)")
    ] = None,
    conversations: Annotated[Path | None, typer.Option(help=CONVERSATIONS_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option(help="write one JSON object per question (or turn)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="questions per batch")] = 32,
    llm: Annotated[str, typer.Option(help="lead | none | a member's name")] = "lead",
    executor: Executor = "thread",
    match: Match = "iri,same_as,label",
) -> None:
    """Answer a question (or a file of them) from several graphs; every fact cited names
    the member and graph it came from. Output as `kgagent ask`'s (conversations too)."""

    one_source(question, questions, conversations)
    dialogues = read_conversations(conversations) if conversations else None  # all checked
    with open_team(agent or [], team, executor=executor, llm=llm, match=match) as t:
        if question is not None:
            a = t.ask(question)
            agents = a.to_dict().get("agents")
            if show_answer(a, out) and agents:
                typer.echo(f"  (facts from: {printable(', '.join(agents))})")
        elif dialogues is not None:
            write_conversations(t, dialogues, out)
        else:
            write_answers(t, read_questions(questions), out, batch_size)


@team_app.command("train")
@handle_errors
def team_train(
    agent: Agents = None,  # type: ignore[assignment]
    team: Annotated[Path | None, typer.Option("--team", help="the team's directory")] = None,
    questions: Annotated[
        Path | None,
        typer.Option(help="QA file with answers (none: synthesize questions over the graphs)"),
    ] = None,
    synth: Annotated[
        int, typer.Option("-n", "--synth", help="without --questions: how many to synthesize")
    ] = 2000,
    multi_hop: Annotated[
        float, typer.Option(help="without --questions: the share over 2-3 hops")
    ] = 0.5,
    epochs: Annotated[int, typer.Option(help="REINFORCE epochs")] = 20,
    batch_size: Annotated[int, typer.Option(help="questions per REINFORCE step")] = 64,
    lr: Annotated[float, typer.Option(help="learning rate")] = 1e-3,
    seed: int = 0,
    warm_start: Annotated[
        str, typer.Option(help="auto (the member policy knowing most relations) | none | NAME")
    ] = "auto",
    time_budget: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    match: Match = "iri,same_as,label",
) -> None:
    """Train the team's path policy over the members' graphs, warm-started from a
    member's policy through the transfer module. With no --questions, on questions
    synthesized over the members' graphs (chains crossing from one graph into another);
    the policy answers only if it beats the planned chains on held-out questions."""
    from kgagent.policy import PolicyConfig

    if team is None:
        raise KGAgentError("give --team DIR (and --questions FILE, or none to synthesize)")
    warm = {"auto": True, "none": False}.get(warm_start, warm_start)
    with open_team(agent or [], team, llm="none", match=match) as t:
        report = t.train_policy(
            questions,
            config=PolicyConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
            warm_start=warm,
            progress=True,
            time_budget=time_budget,
            questions=synth,
            multi_hop=multi_hop,
        )
    report.pop("history", None)
    typer.echo(json_text(report, indent=2))


@team_app.command("info")
@handle_errors
def team_info(
    agent: Agents = None,  # type: ignore[assignment]
    team: TeamDir = None,
    match: Match = "iri,same_as,label",
) -> None:
    """Members, how their graphs were matched, relations and their holders (JSON)."""
    with open_team(agent or [], team, llm="none", match=match) as t:
        typer.echo(json_text(t.info(), indent=2))
