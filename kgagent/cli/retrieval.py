"""The retrieval commands: ``index`` (build the fact index) and ``retrieve`` (the evidence a
question gets, without the reader). Registered on the main command in :mod:`kgagent.cli`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kgagent.cli._common import Workspace, handle_errors, read_questions
from kgagent.cli._output import json_text, printable
from kgagent.errors import KGAgentError

app = typer.Typer()


@app.command()
@handle_errors
def index(
    workspace: Workspace,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="the sentence encoder (minilm, static, hashing, or a model directory); "
            "saved as retrieval.encoder once the index is built with it"
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            help="where facts are encoded: local (this process) or ray (Ray actors, "
            "each loading the encoder once; pip install 'kgagent[ray]')"
        ),
    ] = "local",
    workers: Annotated[int, typer.Option(help="Ray actors encoding (--executor ray)")] = 2,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="a running Ray cluster (--executor ray); default: a private Ray on this "
            "machine (loopback, no dashboard), stopped at the end"
        ),
    ] = None,
) -> None:
    """Build or update the fact index (only new facts are encoded; every fact again when
    --encoder names another encoder)."""
    from kgagent.agents import Agent
    from kgagent.config import AgentConfig
    from kgagent.retrieval import EXECUTORS
    from kgagent.retrieval.build_stats import peak_rss_mib
    from kgagent.retrieval.index import FactIndex
    from kgagent.retrieval.static_fit import describe, worker_spec
    from kgagent.workspace import Workspace as Ws

    ws = Ws(workspace)
    config = ws.read_config()
    if encoder is not None and encoder != config.retrieval.encoder:
        data = config.model_dump(mode="json")
        data["retrieval"]["encoder"] = encoder
        config = AgentConfig.model_validate(data)  # saved only once it has indexed
    else:
        encoder = None
    if executor not in EXECUTORS:
        raise KGAgentError(f"--executor {executor!r}: one of {', '.join(EXECUTORS.names())}")
    with Agent(ws.open_kg(), config=config, workspace=workspace) as agent:
        options = {}
        if executor == "ray":  # the workers load the encoder the build uses: fitted first
            agent.fit_encoder(progress=True)
            name, kwargs = worker_spec(agent.encoder, config.retrieval)
            options = {"encoder": name, "encoder_kwargs": kwargs, "workers": workers,
                       "address": ray_address}  # fmt: skip
        with EXECUTORS.get(executor)(**options) as pool:
            typer.echo(str(agent.index(progress=True, executor=pool)))
        if (fit := describe(agent.encoder)) is not None:
            typer.echo(fit)
        typer.echo(FactIndex.summary(ws.index_dir / "vectors"))  # storage, measured recall
    # the build's report has its stages; saving (a reused index compares its rows) comes after
    typer.echo(f"peak RSS of the whole run (build and save): {peak_rss_mib():,.0f} MiB")
    if encoder is not None:  # the index is built with it: later opens must use it too
        ws.write_config(config)
        saved = printable(ws.config_path)
        typer.echo(f"retrieval.encoder: {encoder} (saved in {saved}); a path policy "
                   "trained with the previous encoder needs training again")  # fmt: skip


@app.command()
@handle_errors
def retrieve(
    workspace: Workspace,
    question: Annotated[str | None, typer.Argument(help="the question")] = None,
    k: Annotated[int, typer.Option("-k", help="facts per question")] = 10,
    questions: Annotated[
        Path | None, typer.Option(help="file of questions (plain, or question<TAB>answers)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="write JSON lines here")] = None,
) -> None:
    """Retrieve evidence (ranked facts and paths) for a question or a file of questions."""
    from tqdm import tqdm

    from kgagent.agents import Agent

    if (question is None) == (questions is None):
        raise KGAgentError("give either a QUESTION or --questions FILE")
    with Agent.open(workspace, read_only=True) as agent:  # reads only: beside any writer
        if question is not None:
            ev = agent.retrieve(question, k=k)
            if out is None:
                _print_evidence(ev)
            else:
                out.write_text(json_text(_evidence_json(ev)) + "\n", encoding="utf-8")
            return
        qs = read_questions(questions)
        sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
        try:
            for q in tqdm(qs, unit="q", file=sys.stderr, disable=out is None):
                ev = agent.retrieve(q, k=k)
                sink.write(json_text(_evidence_json(ev)) + "\n")
        finally:
            if out:
                sink.close()


def _evidence_json(ev) -> dict:
    return {
        "question": ev.question,
        "facts": [
            {
                "id": f.id,
                "subject_label": f.subject_label,
                "predicate_label": f.predicate_label,
                "object_label": f.object_label,
                "text": f.text,
                "score": round(f.score, 4),
            }
            for f in ev.facts
        ],
        "paths": [{"text": p.text, "score": round(p.score, 4)} for p in ev.paths[:10]],
        "entities": [
            {"iri": e.iri, "label": e.label, "score": round(e.score, 4)} for e in ev.entities
        ],
    }


def _print_evidence(ev) -> None:
    """Linked entities, facts and paths, one line each (graph text escaped)."""
    if ev.entities:
        linked = ", ".join(f"{printable(e.label)} ({e.score:.2f})" for e in ev.entities[:3])
        typer.echo(f"entities: {linked}")
    for i, f in enumerate(ev.facts, 1):
        typer.echo(f"[{i}] {printable(f.text)}   (score {f.score:.3f}, id {f.id})")
    for p in ev.paths[:5]:
        typer.echo(f"path: {printable(p.text)}   (score {p.score:.3f})")
    typer.echo(f"({ev.timings.get('total_ms', 0):.1f} ms)")
