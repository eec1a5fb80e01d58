"""``kgagent transfer``: export and import bundles of learned parts, and measure what a
transfer buys (scratch vs transfer curves).

Registered on the main command in :mod:`kgagent.cli`; heavy imports stay inside commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kgagent.cli._common import Workspace, handle_errors
from kgagent.cli._output import json_text, printable

transfer_app = typer.Typer(
    help="Move learned parts between agents (bundles) and measure what transfer buys.",
    no_args_is_help=True,
)

Components = Annotated[
    str, typer.Option(help="comma-separated: any of embeddings, policy, adapter")
]


COMPONENT_KINDS = ("embeddings", "policy", "adapter")


def _components(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


@transfer_app.command("export")
@handle_errors
def transfer_export(
    workspace: Workspace,
    out: Annotated[Path, typer.Option(help="bundle directory to write (replaced atomically)")],
    components: Components = "policy",
    policy: Annotated[str | None, typer.Option(help="policy name (default: the config's)")] = None,
    embedding: Annotated[
        str | None, typer.Option(help="embedding name (default: the only one)")
    ] = None,
    adapter: Annotated[
        str | None, typer.Option(help="adapter name (default: the config's)")
    ] = None,
) -> None:
    """Write the workspace's learned parts as a bundle: manifest.json + safetensors."""
    from kgagent.agents import Agent

    with Agent.open(workspace, read_only=True) as agent:  # reads only: beside any writer
        path = agent.export(
            out,
            components=_components(components),
            policy=policy,
            embedding=embedding,
            adapter=adapter,
        )
    manifest = json.loads((path / "manifest.json").read_text("utf-8"))
    summary = {
        k: {"tensors": len(v["weights"]["tensors"])} for k, v in manifest["components"].items()
    }
    typer.echo(json_text({"bundle": str(path), "components": summary}, indent=2))


@transfer_app.command("import")
@handle_errors
def transfer_import(
    workspace: Workspace,
    bundle: Annotated[Path, typer.Argument(help="a bundle directory (`kgagent transfer export`)")],
    components: Annotated[
        str | None, typer.Option(help="comma-separated (default: all the bundle has)")
    ] = None,
    encoder_align: Annotated[
        bool, typer.Option(help="also align labels by encoder similarity")
    ] = False,
    threshold: Annotated[float, typer.Option(help="least cosine for encoder matches")] = 0.85,
    name: Annotated[
        str | None, typer.Option(help="workspace name for the imported component(s)")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace same-named components")] = False,
) -> None:
    """Import a bundle, aligned to this workspace's graph; prints the coverage report."""
    from kgagent.agents import Agent

    with Agent.open(workspace) as agent:
        report = agent.import_(
            bundle,
            components=_components(components) if components else None,
            use_encoder=encoder_align,
            threshold=threshold,
            names=dict.fromkeys(COMPONENT_KINDS, name) if name else None,
            overwrite=overwrite,
        )
    typer.echo(json_text(report, indent=2))


@transfer_app.command("run")
@handle_errors
def transfer_run(
    source: Annotated[Path, typer.Option(help="source workspace or bundle directory")],
    target: Annotated[Path, typer.Option(help="target workspace (indexed)")],
    train: Annotated[
        Path,
        typer.Option(help="target task training data: QA file (policy) or triples (embeddings)"),
    ],
    eval_: Annotated[
        Path, typer.Option("--eval", help="target task evaluation data, same form as --train")
    ],
    out: Annotated[Path, typer.Option(help="results directory, e.g. runs/NAME")],
    components: Annotated[
        str, typer.Option(help="the part measured: policy (QA) or embeddings (link prediction)")
    ] = "policy",
    strategy: Annotated[
        str,
        typer.Option(
            help="auto (shrink-perturb for a policy, finetune for an embedding) | finetune | "
            "partial | frozen | reset-head | shrink-perturb | freeze:PREFIX,..."
        ),
    ] = "auto",
    seeds: Annotated[
        int, typer.Option(help="seeds 0..N-1, one scratch + one transfer run each")
    ] = 3,
    steps: Annotated[int, typer.Option(help="optimizer steps per run (the budget)")] = 200,
    eval_every: Annotated[int, typer.Option(help="steps between evaluations")] = 10,
    threshold: Annotated[
        float | None, typer.Option(help="time-to-threshold level (default 0.9 x scratch asymptote)")
    ] = None,
    encoder_align: Annotated[bool, typer.Option(help="align labels by encoder similarity")] = False,
) -> None:
    """Scratch vs transfer curves on the target task: OUT/metrics.json, curves.png, summary.md."""
    from kgagent.transfer.experiment import HEADLINE, Budget, TransferExperiment

    exp = TransferExperiment(
        source=source,
        target=target,
        train=train,
        eval=eval_,
        components=_components(components),
        strategy=strategy,
        budget=Budget(steps=steps, eval_every=eval_every),
        seeds=list(range(seeds)),
        threshold=threshold,
        use_encoder=encoder_align,
        name=out.name,
    )
    results = exp.run(out=out, log=lambda line: typer.echo(printable(line), err=True))
    typer.echo(json_text({k: results[k] for k in HEADLINE} | {"files": results["files"]}, indent=2))
