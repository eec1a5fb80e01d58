"""The graph commands: ``init``, ``load``, ``info``, ``query``, ``update``, ``sources``,
``remove``, ``reason``, ``validate``. Registered on the main command in :mod:`kgagent.cli`.

Commands that only read (``info``, ``query``, ``sources``, ``validate``) open the store
read-only, so they run beside each other and beside one that writes. Everything printed
from the graph goes through :mod:`kgagent.cli._output`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kgagent.cli._common import Workspace, handle_errors, report_error, unescape
from kgagent.cli._output import json_text, printable, to_terminal
from kgagent.errors import KGAgentError, QueryError

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
    typer.echo(f"workspace ready: {printable(root)}")


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
            bar.set_postfix_str(printable(f.name))
            try:
                if sep is not None or (format is None and _is_delimited(f)):
                    report = kg.load_triples(f, sep=sep, base_iri=base_iri, graph=graph)
                else:
                    report = kg.load(
                        f, format=format, graph=graph, base_iri=base_iri, progress=True
                    )
                tqdm.write(printable(report))
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

    with open_kg(workspace, read_only=True) as kg:
        data = describe(kg)
    typer.echo(json_text(data, indent=2) if as_json else render(data, clean=printable))


Sparql = Annotated[str, typer.Argument(help="SPARQL text, or @FILE to read it from a file")]
Bind = Annotated[
    list[str] | None,
    typer.Option(
        help="NAME=VALUE: a plain VALUE is a literal matching that text in any language; "
        '<IRI>, "text"@lang, "3"^^xsd:integer bind that exact term; repeat a NAME '
        "for several values (one row each)"
    ),
]
AllowService = Annotated[
    bool,
    typer.Option(
        "--allow-service",
        help="let SERVICE (and LOAD) make the store fetch a URL (off unless kg.allow_service)",
    ),
]


@app.command()
@handle_errors
def query(
    workspace: Workspace,
    sparql: Sparql,
    bind: Bind = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv | tsv")] = "table",
    limit: Annotated[int, typer.Option(help="rows to print in table format (0 = all)")] = 50,
    allow_service: AllowService = False,
) -> None:
    """Run a SPARQL query over the union of all sources (read-only; updates: `update`)."""
    from kgagent.kg.info import render_result, result_data
    from kgagent.kg.sparql import query_form
    from kgagent.workspace import open_kg

    if fmt not in ("table", "json", "csv", "tsv"):
        raise KGAgentError(f"--format {fmt!r}: one of table, json, csv, tsv")
    text = _read_sparql(sparql)
    if query_form(text) == "UPDATE":
        raise QueryError("this is a SPARQL update; run it with `kgagent update WS '...'`")
    bindings = _parse_bindings(bind or [])
    with open_kg(workspace, read_only=True) as kg:
        result = kg.query(text, bindings=bindings, allow_service=allow_service or None)
        if fmt == "json":
            typer.echo(json_text(result_data(result), indent=2))
            return
        # CSV/TSV quote newlines and tabs; a terminal shows them as line breaks anyway
        layout = None if to_terminal() else (lambda cell: printable(cell, keep="\t\n\r"))
        typer.echo(render_result(result, fmt=fmt, limit=limit, clean=printable, keep_layout=layout))


@app.command()
@handle_errors
def update(
    workspace: Workspace,
    sparql: Sparql,
    bind: Bind = None,
    allow_service: AllowService = False,
) -> None:
    """Run a SPARQL 1.1 Update (INSERT DATA, DELETE/INSERT ... WHERE, DROP ...). On the
    embedded store it is one transaction: if any part fails, nothing changes. Run `index`
    afterwards for retrieval to see the change."""
    from kgagent.kg.sparql import query_form
    from kgagent.workspace import open_kg

    text = _read_sparql(sparql)
    if query_form(text) != "UPDATE":
        raise QueryError("this is a query, not an update; run it with `kgagent query WS '...'`")
    bindings = _parse_bindings(bind or [])
    with open_kg(workspace) as kg:
        before = len(kg)
        kg.update(text, bindings=bindings, allow_service=allow_service or None)
        after = len(kg)
    typer.echo(f"updated: {after - before:+,} triples ({after:,} in the graph)")


def _read_sparql(arg: str) -> str:
    """The query text of a QUERY argument: itself, or the content of the file ``@FILE``."""
    if not arg.startswith("@"):
        return arg
    path = Path(arg[1:])
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise QueryError(f"{path}: no such file (named by the argument {arg!r})") from None
    except OSError as exc:
        raise QueryError(f"{path}: cannot read the query file ({exc.strerror or exc})") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise QueryError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x})") from exc


def _parse_bindings(items: list[str]) -> dict[str, object]:
    """``--bind NAME=VALUE`` options as bindings: a plain VALUE stays a ``str`` (a literal
    matching that text in any language); one that starts with ``<``, ``"`` or ``'`` is a
    term in Turtle syntax (``xsd:`` and the other standard prefixes declared). A NAME
    given twice binds a list (one row per value), never just the last one."""
    from kgagent.kg.sparql import STANDARD_PREFIXES
    from kgagent.kg.terms import parse_term

    out: dict[str, list[object]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("?$")
        if not sep or not key:
            raise QueryError(f"--bind {item!r}: expected NAME=VALUE")
        if value.startswith(("<", '"', "'")):
            try:
                term: object = parse_term(value, prefixes=STANDARD_PREFIXES)
            except QueryError as exc:
                raise QueryError(f"--bind {key}: {exc}") from exc
        else:
            term = value
        out.setdefault(key, []).append(term)
    return {key: values[0] if len(values) == 1 else values for key, values in out.items()}


@app.command()
@handle_errors
def sources(workspace: Workspace) -> None:
    """List the loaded sources."""
    from kgagent.workspace import open_kg

    with open_kg(workspace, read_only=True) as kg:
        for s in kg.sources():
            fields = (s.name, f"{s.triples:,}", s.format, s.graph)
            typer.echo("\t".join(printable(f) for f in fields))


@app.command()
@handle_errors(also=(KeyError,))  # an unknown source name
def remove(
    workspace: Workspace, source: Annotated[str, typer.Argument(help="source name or graph IRI")]
) -> None:
    """Remove a source and everything it contributed."""
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        n = kg.remove_source(source)
        typer.echo(f"removed {printable(source)}: {n:,} triples")


@app.command()
@handle_errors
def reason(
    workspace: Workspace,
    profile: Annotated[str, typer.Option(help="rdfs | owlrl")] = "rdfs",
) -> None:
    """Materialize inferred triples into their own source (replaces earlier ones)."""
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        typer.echo(printable(kg.reason(profile)))


@app.command()
@handle_errors
def validate(
    workspace: Workspace,
    shapes: Annotated[Path, typer.Argument(help="SHACL shapes file")],
    inference: Annotated[str, typer.Option(help="none | rdfs | owlrl | both")] = "none",
) -> None:
    """Validate the graph against SHACL shapes; exit code 2 if it does not conform."""
    from kgagent.workspace import open_kg

    with open_kg(workspace, read_only=True) as kg:
        report = kg.validate(shapes, inference=inference)
    typer.echo(report.render(clean=printable))
    if not report.conforms:
        raise typer.Exit(code=2)
