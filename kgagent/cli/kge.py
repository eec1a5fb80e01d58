"""``kgagent kge``: train and evaluate KG embeddings, on a workspace or on split files.

Registered on the main command in :mod:`kgagent.cli`. ``torchrun ... -m kgagent.cli kge
train ...`` runs it data-parallel; only rank 0 reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kgagent.cli._common import handle_errors, report_unseen, unescape
from kgagent.cli._output import json_text, printable
from kgagent.errors import KGAgentError
from kgagent.workspace import Workspace

kge_app = typer.Typer(
    help="KG embeddings (TransE, DistMult, ComplEx, RotatE): train and evaluate.",
    no_args_is_help=True,
)

_KGE_OPTIONS = (
    "dim",
    "epochs",
    "batch_size",
    "lr",
    "negatives",
    "mode",
    "loss",
    "optimizer",
    "sampler",
    "margin",
    "adversarial_temperature",
    "label_smoothing",
    "regularization",
    "eval_every",
    "patience",
    "seed",
)


@kge_app.command("train")
@handle_errors
def kge_train(
    workspace: Annotated[
        Path | None, typer.Argument(help="workspace to train on (or give --train/--out)")
    ] = None,
    model: Annotated[str, typer.Option(help="transe | distmult | complex | rotate")] = "rotate",
    name: Annotated[str | None, typer.Option(help="WS/embeddings/NAME (default: model)")] = None,
    train: Annotated[
        Path | None, typer.Option(help="training split (head<TAB>rel<TAB>tail)")
    ] = None,
    valid: Annotated[Path | None, typer.Option(help="validation split (early stopping)")] = None,
    test: Annotated[Path | None, typer.Option(help="test split (metrics)")] = None,
    out: Annotated[Path | None, typer.Option(help="output directory (split-file mode)")] = None,
    dim: Annotated[int | None, typer.Option(help="embedding size (default per model)")] = None,
    epochs: Annotated[
        int | None, typer.Option(help="most epochs (early stopping may end sooner)")
    ] = None,
    batch_size: int | None = None,
    lr: float | None = None,
    negatives: Annotated[int | None, typer.Option(help="negatives per positive (slcwa)")] = None,
    mode: Annotated[str | None, typer.Option(help="slcwa | kvsall (1-N)")] = None,
    loss: Annotated[str | None, typer.Option(help="margin | nssa | softplus | bce")] = None,
    optimizer: Annotated[str, typer.Option(help="adam | adagrad")] = "adam",
    sampler: Annotated[str, typer.Option(help="uniform | bernoulli")] = "uniform",
    margin: float | None = None,
    adversarial_temperature: float | None = None,
    label_smoothing: float | None = None,
    regularization: Annotated[float | None, typer.Option(help="N3 weight")] = None,
    eval_every: Annotated[int, typer.Option(help="epochs between validations (0: never)")] = 10,
    patience: Annotated[int, typer.Option(help="validations without gain before stopping")] = 5,
    seed: int = 0,
    threads: Annotated[int | None, typer.Option(help="torch threads per process")] = None,
    nproc: Annotated[int, typer.Option(help="data-parallel processes (gloo)")] = 1,
    heldout: Annotated[float, typer.Option(help="workspace: share held out per split")] = 0.05,
    sep: Annotated[str, typer.Option(help="field separator of split files")] = "\t",
) -> None:
    """Train an embedding on a workspace KG or on split files; writes metrics.json."""
    from kgagent.embeddings import TripleSplits, train_workspace
    from kgagent.embeddings import train as train_kge

    values = locals()
    options = {k: values[k] for k in _KGE_OPTIONS if values[k] is not None}
    options["num_threads"] = threads
    if (workspace is None) == (train is None):
        raise KGAgentError("give either a WORKSPACE or --train FILE (with --out DIR)")
    if workspace is not None:
        result = train_workspace(
            workspace, name=name, model=model, heldout=heldout, nproc=nproc, **options
        )
        where = Workspace(workspace).embedding_dir(name or model)
    else:
        if out is None:
            raise KGAgentError("--out DIR is required with --train")
        data = TripleSplits.from_files(train=train, valid=valid, test=test, sep=unescape(sep))
        report_unseen(data)
        result = train_kge(data=data, model=model, out=out, nproc=nproc, **options)
        where = out
    if result.metrics.get("world_size", 1) > 1 and not result.metrics.get("epochs"):
        return  # a torchrun worker other than rank 0: rank 0 reports and saves
    m = result.metrics
    keys = ("mrr", "hits_at_1", "hits_at_3", "hits_at_10", "train_seconds", "epochs")
    typer.echo(json_text({k: m.get(k) for k in keys}, indent=2))
    typer.echo(f"saved to {printable(where)}")


@kge_app.command("eval")
@handle_errors
def kge_eval(
    path: Annotated[Path, typer.Argument(help="a workspace, or an embedding directory")],
    name: Annotated[str | None, typer.Option(help="workspace: embedding name")] = None,
    test: Annotated[Path | None, typer.Option(help="triples to rank (default: held out)")] = None,
    train: Annotated[
        Path | None, typer.Option(help="known triples to filter (split files)")
    ] = None,
    valid: Annotated[Path | None, typer.Option(help="more known triples to filter")] = None,
    sep: Annotated[str, typer.Option(help="field separator of split files")] = "\t",
) -> None:
    """Filtered MRR and Hits@1/3/10 (both directions) of a trained embedding."""
    from kgagent.embeddings.artifact import evaluate_path

    report = evaluate_path(path, name=name, test=test, train=train, valid=valid, sep=unescape(sep))
    typer.echo(json_text(report, indent=2))
