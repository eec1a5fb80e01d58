"""The graph commands: ``init``, ``load``, ``info``, ``query``, ``sources``, ``remove``,
``reason``, ``validate``. Registered on the main command in :mod:`kgagent.cli`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from kgagent.cli._common import Workspace, handle_errors, report_error, unescape
from kgagent.errors import KGAgentError

app = typer.Typer()


@app.command()
@handle_errors
def init(
    workspace: Workspace,
    endpoint: Annotated[
        str | None, typer.Option(help="use this SPARQL endpoint instead of the embedded store")
    ] = None,
    update_endpoint: Annotated[
        str | None, typer.Option(help="SPARQL Update endpoint, if separate")
    ] = None,
    graph_store: Annotated[
        str | None, typer.Option(help="SPARQL Graph Store endpoint, for fast loads")
    ] = None,
    lang: Annotated[str, typer.Option(help="preferred label language")] = "en",
) -> None:
    """Create a workspace (config + embedded Oxigraph store)."""
    from kgagent.config import AgentConfig, KGConfig
    from kgagent.workspace import init_workspace, open_kg

    kg_cfg = KGConfig(
        store="sparql" if endpoint else "oxigraph",
        query_endpoint=endpoint,
        update_endpoint=update_endpoint,
        graph_store_endpoint=graph_store,
        lang=lang,
    )
    root = init_workspace(workspace, config=AgentConfig(name=workspace.resolve().name, kg=kg_cfg))
    open_kg(root).close()
    typer.echo(f"workspace ready: {root}")


def _is_delimited(path: Path) -> bool:
    from kgagent.kg.formats import resolve_file

    if path.suffix.lower() in (".txt", ".tsv", ".csv", ".psv"):
        return True
    try:
        resolve_file(path)
    except KGAgentError as exc:
        return "delimited" in str(exc)
    return False


@app.command()
@handle_errors
def load(
    workspace: Workspace,
    files: Annotated[
        list[Path], typer.Argument(help="RDF files (any format, .gz too) or delimited triple files")
    ],
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="RDF format, if not clear from the name")
    ] = None,
    sep: Annotated[
        str | None, typer.Option(help="separator of a delimited triple file ('|', '\\t', ',')")
    ] = None,
    base_iri: Annotated[
        str | None, typer.Option(help="base IRI for minted entities / relative IRIs")
    ] = None,
    graph: Annotated[
        str | None, typer.Option(help="named graph to load into (default: one per file)")
    ] = None,
) -> None:
    """Load files into the workspace graph, each as its own source (all or nothing per file)."""
    from tqdm import tqdm

    from kgagent.workspace import open_kg

    if sep is not None:
        sep = unescape(sep)  # allow --sep '\t'
    failed = 0
    with open_kg(workspace) as kg:
        bar = tqdm(files, unit="file", disable=len(files) < 2, file=sys.stderr)
        for f in bar:
            bar.set_postfix_str(f.name)
            try:
                if sep is not None or (format is None and _is_delimited(f)):
                    report = kg.load_triples(f, sep=sep, base_iri=base_iri, graph=graph)
                else:
                    report = kg.load(
                        f, format=format, graph=graph, base_iri=base_iri, progress=True
                    )
                tqdm.write(str(report))
            except KGAgentError as exc:  # one bad file: report it, load the others
                failed += 1
                report_error(exc)
        typer.echo(f"{len(kg):,} triples in {len(kg.sources())} sources")
    if failed:
        raise typer.Exit(code=1)


@app.command()
@handle_errors
def info(
    workspace: Workspace,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Sources, counts, classes and properties of the workspace graph."""
    from kgagent.kg.info import describe, render
    from kgagent.workspace import open_kg

    with open_kg(workspace, read_only=False) as kg:
        data = describe(kg)
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else render(data))


@app.command()
@handle_errors
def query(
    workspace: Workspace,
    sparql: Annotated[str, typer.Argument(help="SPARQL query, or @file.rq")],
    bind: Annotated[
        list[str] | None, typer.Option(help="var=value (value <iri> for an IRI, else a literal)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv | tsv")] = "table",
    limit: Annotated[int, typer.Option(help="rows to print in table format (0 = all)")] = 50,
) -> None:
    """Run a SPARQL query over the union of all sources."""
    from kgagent.kg.info import render_result
    from kgagent.workspace import open_kg

    text = Path(sparql[1:]).read_text("utf-8") if sparql.startswith("@") else sparql
    bindings = _parse_bindings(bind or [])
    with open_kg(workspace) as kg:
        result = kg.query(text, bindings=bindings)
        typer.echo(render_result(result, fmt=fmt, limit=limit))


def _parse_bindings(items: list[str]) -> dict[str, object]:
    from rdflib import URIRef

    out: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"--bind {item!r}: expected var=value")
        key, value = item.split("=", 1)
        out[key.strip()] = (
            URIRef(value[1:-1]) if value.startswith("<") and value.endswith(">") else value
        )
    return out


@app.command()
@handle_errors
def sources(workspace: Workspace) -> None:
    """List the loaded sources."""
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        for s in kg.sources():
            typer.echo(f"{s.name}\t{s.triples:,}\t{s.format}\t{s.graph}")


@app.command()
@handle_errors(also=(KeyError,))  # an unknown source name
def remove(
    workspace: Workspace, source: Annotated[str, typer.Argument(help="source name or graph IRI")]
) -> None:
    """Remove a source and everything it contributed."""
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        n = kg.remove_source(source)
        typer.echo(f"removed {source}: {n:,} triples")


@app.command()
@handle_errors
def reason(
    workspace: Workspace,
    profile: Annotated[str, typer.Option(help="rdfs | owlrl")] = "rdfs",
) -> None:
    """Materialize inferred triples into their own source (replaces earlier ones)."""
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        typer.echo(str(kg.reason(profile)))


@app.command()
@handle_errors
def validate(
    workspace: Workspace,
    shapes: Annotated[Path, typer.Argument(help="SHACL shapes file")],
    inference: Annotated[str, typer.Option(help="none | rdfs | owlrl | both")] = "none",
) -> None:
    """Validate the graph against SHACL shapes; exit code 2 if it does not conform."""
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        report = kg.validate(shapes, inference=inference)
    typer.echo(str(report))
    if not report.conforms:
        raise typer.Exit(code=2)
