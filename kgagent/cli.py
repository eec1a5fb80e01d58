"""The ``kgagent`` command. Heavy imports happen inside commands so ``--help`` is instant."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from kgagent.errors import KGAgentError

app = typer.Typer(
    name="kgagent",
    help="Knowledge-graph augmented agents: load a KG, query it, and (soon) ask it questions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Workspace = Annotated[Path, typer.Argument(help="workspace directory (see `kgagent init`)")]


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command()
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

    try:
        kg_cfg = KGConfig(
            store="sparql" if endpoint else "oxigraph",
            query_endpoint=endpoint,
            update_endpoint=update_endpoint,
            graph_store_endpoint=graph_store,
            lang=lang,
        )
        root = init_workspace(
            workspace, config=AgentConfig(name=workspace.resolve().name, kg=kg_cfg)
        )
        open_kg(root).close()
    except KGAgentError as exc:
        _fail(exc)
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
        sep = sep.encode().decode("unicode_escape")  # allow --sep '\t'
    failed = 0
    try:
        kg = open_kg(workspace)
    except KGAgentError as exc:
        _fail(exc)
    with kg:
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
            except KGAgentError as exc:
                failed += 1
                typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        typer.echo(f"{len(kg):,} triples in {len(kg.sources())} sources")
    if failed:
        raise typer.Exit(code=1)


@app.command()
def info(
    workspace: Workspace,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Sources, counts, classes and properties of the workspace graph."""
    from kgagent.kg.info import describe, render
    from kgagent.workspace import open_kg

    try:
        with open_kg(workspace, read_only=False) as kg:
            data = describe(kg)
    except KGAgentError as exc:
        _fail(exc)
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else render(data))


@app.command()
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
    try:
        with open_kg(workspace) as kg:
            result = kg.query(text, bindings=bindings)
            typer.echo(render_result(result, fmt=fmt, limit=limit))
    except KGAgentError as exc:
        _fail(exc)


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
def sources(workspace: Workspace) -> None:
    """List the loaded sources."""
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        for s in kg.sources():
            typer.echo(f"{s.name}\t{s.triples:,}\t{s.format}\t{s.graph}")


@app.command()
def remove(
    workspace: Workspace, source: Annotated[str, typer.Argument(help="source name or graph IRI")]
) -> None:
    """Remove a source and everything it contributed."""
    from kgagent.workspace import open_kg

    try:
        with open_kg(workspace) as kg:
            n = kg.remove_source(source)
            typer.echo(f"removed {source}: {n:,} triples")
    except (KGAgentError, KeyError) as exc:
        _fail(exc)


@app.command()
def reason(
    workspace: Workspace,
    profile: Annotated[str, typer.Option(help="rdfs | owlrl")] = "rdfs",
) -> None:
    """Materialize inferred triples into their own source (replaces earlier ones)."""
    from kgagent.workspace import open_kg

    try:
        with open_kg(workspace) as kg:
            typer.echo(str(kg.reason(profile)))
    except KGAgentError as exc:
        _fail(exc)


@app.command()
def validate(
    workspace: Workspace,
    shapes: Annotated[Path, typer.Argument(help="SHACL shapes file")],
    inference: Annotated[str, typer.Option(help="none | rdfs | owlrl | both")] = "none",
) -> None:
    """Validate the graph against SHACL shapes; exit code 2 if it does not conform."""
    from kgagent.workspace import open_kg

    try:
        with open_kg(workspace) as kg:
            report = kg.validate(shapes, inference=inference)
    except KGAgentError as exc:
        _fail(exc)
    typer.echo(str(report))
    if not report.conforms:
        raise typer.Exit(code=2)


@app.command()
def index(workspace: Workspace) -> None:
    """Build or update the fact index (only new facts are encoded)."""
    from kgagent.agents import Agent

    try:
        with Agent.open(workspace) as agent:
            typer.echo(str(agent.index(progress=True)))
    except KGAgentError as exc:
        _fail(exc)


def read_questions(path: Path) -> list[str]:
    """Questions from a file: one per line, or ``question<TAB>answers`` (MetaQA,
    PathQuestion); MetaQA's ``[brackets]`` are kept as mention hints."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.strip():
                out.append(line.split("\t", 1)[0].strip())
    return out


@app.command()
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
        _fail(KGAgentError("give either a QUESTION or --questions FILE"))
    try:
        with Agent.open(workspace) as agent:
            if question is not None:
                ev = agent.retrieve(question, k=k)
                if out is None:
                    _print_evidence(ev)
                else:
                    out.write_text(json.dumps(_evidence_json(ev), ensure_ascii=False) + "\n")
                return
            qs = read_questions(questions)
            sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
            try:
                for q in tqdm(qs, unit="q", file=sys.stderr, disable=out is None):
                    ev = agent.retrieve(q, k=k)
                    sink.write(json.dumps(_evidence_json(ev), ensure_ascii=False) + "\n")
            finally:
                if out:
                    sink.close()
    except KGAgentError as exc:
        _fail(exc)


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
    if ev.entities:
        typer.echo("entities: " + ", ".join(f"{e.label} ({e.score:.2f})" for e in ev.entities[:3]))
    for i, f in enumerate(ev.facts, 1):
        typer.echo(f"[{i}] {f.text}   (score {f.score:.3f}, id {f.id})")
    for p in ev.paths[:5]:
        typer.echo(f"path: {p.text}   (score {p.score:.3f})")
    typer.echo(f"({ev.timings.get('total_ms', 0):.1f} ms)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
