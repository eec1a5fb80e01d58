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
    """Questions from a QA file (plain, MetaQA, PathQuestion or JSON lines)."""
    from kgagent.qa import read_qa

    return [item.question for item in read_qa(path)]


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


@app.command()
def ask(
    workspace: Workspace,
    question: Annotated[str | None, typer.Argument(help="the question")] = None,
    questions: Annotated[
        Path | None, typer.Option(help="file of questions (plain, MetaQA, PathQuestion, JSONL)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="write one JSON object per question")] = None,
    batch_size: Annotated[int, typer.Option(help="questions per LLM batch")] = 32,
) -> None:
    """Answer a question (or a file of them) from the graph, citing the facts used."""

    from kgagent.agents import Agent

    if (question is None) == (questions is None):
        _fail(KGAgentError("give either a QUESTION or --questions FILE"))
    try:
        with Agent.open(workspace) as agent:
            if question is not None:
                show_answer(agent.ask(question), out)
                return
            write_answers(agent, read_questions(questions), out, batch_size)
    except KGAgentError as exc:
        _fail(exc)


def show_answer(a, out: Path | None) -> bool:
    """One answer as a JSON record in ``out``, or printed (then True)."""
    if out is not None:
        out.write_text(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
        return False
    _print_answer(a)
    return True


def write_answers(asker, qs: list[str], out: Path | None, batch_size: int) -> None:
    """One JSON answer record per line (``Answer.to_dict``) to ``out`` or stdout, asked
    in batches (a progress bar on stderr when writing a file)."""
    from tqdm import tqdm

    sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    try:
        with tqdm(total=len(qs), unit="q", file=sys.stderr, disable=out is None) as bar:
            for i in range(0, len(qs), batch_size):
                for a in asker.ask_batch(qs[i : i + batch_size]):
                    sink.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
                bar.update(min(batch_size, len(qs) - i))
    finally:
        if out:
            sink.close()


def _print_answer(a) -> None:
    typer.echo(a.text if a.abstained else f"{a.text}  (confidence {a.confidence:.2f})")
    for i, f in enumerate(a.facts[:20], 1):
        typer.echo(f"  [{i}] {f.text}")
    if len(a.facts) > 20:
        typer.echo(f"  ... {len(a.facts) - 20} more facts")
    for p in a.paths[:5]:
        typer.echo(f"  path: {p.text}")
    typer.echo(f"({a.timings.get('total_ms', 0):.0f} ms)")


@app.command()
def synth(
    workspace: Workspace,
    out: Annotated[Path, typer.Option(help="JSONL file of questions and answers")],
    n: Annotated[int, typer.Option("-n", help="how many questions")] = 400,
    seed: int = 0,
) -> None:
    """Generate training questions from the graph by ontology-driven templates."""
    from kgagent.agents import Agent
    from kgagent.llm.synth import synthesize

    try:
        with Agent.open(workspace) as agent:
            items = synthesize(agent, n=n, seed=seed)
    except KGAgentError as exc:
        _fail(exc)
    with open(out, "w", encoding="utf-8") as fh:
        for it in items:
            row = {"question": it.question, "answers": list(it.answers)}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    typer.echo(f"{len(items)} questions -> {out}")


@app.command()
def finetune(
    workspace: Workspace,
    train: Annotated[Path, typer.Option(help="QA file (MetaQA, PathQuestion, JSONL)")],
    name: Annotated[str | None, typer.Option(help="adapter name")] = None,
    steps: Annotated[int | None, typer.Option(help="training steps (default: 1 epoch)")] = None,
    lr: float = 1e-3,
    batch_size: int = 8,
    seed: int = 0,
) -> None:
    """Fine-tune the reader (a LoRA adapter) on questions with answers."""
    from kgagent.agents import Agent
    from kgagent.llm.finetune import LoRAConfig

    try:
        with Agent.open(workspace) as agent:
            cfg = LoRAConfig(max_steps=steps, lr=lr, batch_size=batch_size, seed=seed)
            report = agent.finetune(train, name=name, lora=cfg, progress=True)
    except KGAgentError as exc:
        _fail(exc)
    typer.echo(json.dumps({k: v for k, v in report.items() if k != "config"}, indent=2))


@app.command("eval")
def eval_(
    workspace: Workspace,
    questions: Annotated[Path, typer.Option(help="QA file with answers")],
    out: Annotated[Path | None, typer.Option(help="write predictions (JSON lines)")] = None,
    limit: Annotated[int | None, typer.Option(help="first N questions only")] = None,
    batch_size: int = 32,
) -> None:
    """Hits@1, EM, F1, abstention rate and latency on a QA file."""
    import time

    from kgagent.agents import Agent
    from kgagent.qa import evaluate, read_qa

    try:
        items = [it for it in read_qa(questions) if it.answers][:limit]
        with Agent.open(workspace) as agent:
            answers, latency = [], []
            for i in range(0, len(items), batch_size):
                chunk = items[i : i + batch_size]
                t0 = time.perf_counter()
                got = agent.ask_batch([it.question for it in chunk])
                per = (time.perf_counter() - t0) * 1000 / len(chunk)
                answers += got
                latency += [per] * len(chunk)
    except KGAgentError as exc:
        _fail(exc)
    report = evaluate(
        [a.labels for a in answers],
        [it.answers for it in items],
        abstained=[a.abstained for a in answers],
        latencies_ms=latency,
    )
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            for a in answers:
                fh.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
    typer.echo(json.dumps(report, indent=2))


kge_app = typer.Typer(
    help="KG embeddings (TransE, DistMult, ComplEx, RotatE): train and evaluate.",
    no_args_is_help=True,
)
app.add_typer(kge_app, name="kge")

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
    try:
        if (workspace is None) == (train is None):
            raise KGAgentError("give either a WORKSPACE or --train FILE (with --out DIR)")
        if workspace is not None:
            result = train_workspace(
                workspace, name=name, model=model, heldout=heldout, nproc=nproc, **options
            )
            where = workspace / "embeddings" / (name or model)
        else:
            if out is None:
                raise KGAgentError("--out DIR is required with --train")
            data = TripleSplits.from_files(
                train=train, valid=valid, test=test, sep=sep.encode().decode("unicode_escape")
            )
            _report_unseen(data)
            result = train_kge(data=data, model=model, out=out, nproc=nproc, **options)
            where = out
    except KGAgentError as exc:
        _fail(exc)
    if result.metrics.get("world_size", 1) > 1 and not result.metrics.get("epochs"):
        return  # a torchrun worker other than rank 0: rank 0 reports and saves
    m = result.metrics
    keys = ("mrr", "hits_at_1", "hits_at_3", "hits_at_10", "train_seconds", "epochs")
    typer.echo(json.dumps({k: m.get(k) for k in keys}, indent=2))
    typer.echo(f"saved to {where}")


def _report_unseen(data) -> None:
    for split, rep in data.unseen.items():
        typer.secho(
            f"warning: {split}: {rep['triples']} triples dropped from evaluation "
            f"({len(rep['entities'])} entities, {len(rep['relations'])} relations not in "
            f"the training split, e.g. {(rep['entities'] or rep['relations'])[:3]})",
            fg=typer.colors.YELLOW,
            err=True,
        )


@kge_app.command("eval")
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

    try:
        report = evaluate_path(
            path,
            name=name,
            test=test,
            train=train,
            valid=valid,
            sep=sep.encode().decode("unicode_escape"),
        )
    except KGAgentError as exc:
        _fail(exc)
    typer.echo(json.dumps(report, indent=2))


policy_app = typer.Typer(
    help="The RL path policy `ask` walks with: train and evaluate it on QA files.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")


_QUERIES_HELP = (
    "question mode: QA file (MetaQA, PathQuestion, JSONL); relation mode: (head, relation, "
    "tail) IRIs, tab-separated"
)
_KGE_HELP = (
    "relation mode: an embedding directory over the same entities, to shape the reward "
    "and initialise the embeddings"
)


@policy_app.command("train")
def policy_train(
    workspace: Annotated[
        Path | None, typer.Argument(help="workspace (or give --train/--out for split files)")
    ] = None,
    queries: Annotated[Path | None, typer.Option(help=_QUERIES_HELP)] = None,
    mode: Annotated[
        str | None, typer.Option(help="question (default with a workspace) | relation")
    ] = None,
    name: Annotated[str | None, typer.Option(help="WS/policy/NAME (default: the config's)")] = None,
    out: Annotated[Path | None, typer.Option(help="output directory (not WS/policy)")] = None,
    graph: Annotated[Path | None, typer.Option(help="split files: triples to walk")] = None,
    train: Annotated[Path | None, typer.Option(help="split files: training triples")] = None,
    valid: Annotated[Path | None, typer.Option(help="split files: early stopping")] = None,
    test: Annotated[Path | None, typer.Option(help="split files: metrics")] = None,
    kge: Annotated[Path | None, typer.Option(help=_KGE_HELP)] = None,
    epochs: Annotated[int, typer.Option(help="most epochs (the best validation one is kept)")] = 20,
    patience: Annotated[int, typer.Option(help="epochs without a better validation score")] = 6,
    dim: Annotated[int, typer.Option(help="hidden size")] = 128,
    hops: Annotated[int, typer.Option(help="longest walk")] = 3,
    lr: float = 1e-3,
    batch_size: Annotated[int, typer.Option(help="queries per update")] = 64,
    beam: Annotated[int, typer.Option(help="relation mode: walks kept per query")] = 64,
    answer_weights: Annotated[
        str | None,
        typer.Option(help="how a walk's answers share it: walk (relation-mode default) | uniform"),
    ] = None,
    walk: Annotated[
        str,
        typer.Option(
            help="set: relation actions over entity sets | edge: MINERVA's entity "
            "walk (relation mode)"
        ),
    ] = "set",
    start_entity: Annotated[
        bool, typer.Option(help="relation mode: the query reads the start entity's embedding")
    ] = False,
    objective: Annotated[
        str | None,
        typer.Option(
            help="likelihood: log P(gold), one query per triple (relation-mode default) | "
            "reward: the expected reward (question-mode default)"
        ),
    ] = None,
    rollouts: Annotated[int, typer.Option(help="walks sampled per query and update")] = 8,
    action_dropout: Annotated[float, typer.Option(help="share of actions hidden per step")] = 0.1,
    seed: int = 0,
    sep: Annotated[str, typer.Option(help="field separator of triple files")] = "\t",
) -> None:
    """Train the path policy (REINFORCE): on QA pairs for `ask`, or on link prediction."""
    from kgagent.policy import PolicyConfig

    sep = sep.encode().decode("unicode_escape")
    try:
        mode = mode or ("question" if workspace is not None else "relation")
        if mode not in ("question", "relation"):
            raise KGAgentError(f"--mode {mode!r}: expected question or relation")
        if workspace is None and mode != "relation":
            raise KGAgentError("split files (--train) train a relation-mode policy")
        if answer_weights not in (None, "walk", "uniform"):
            raise KGAgentError(f"--answer-weights {answer_weights!r}: expected walk or uniform")
        if walk not in ("set", "edge"):
            raise KGAgentError(f"--walk {walk!r}: expected set or edge")
        if objective not in (None, "likelihood", "reward"):
            raise KGAgentError(f"--objective {objective!r}: expected likelihood or reward")
        if walk == "edge" and mode != "relation":
            raise KGAgentError("--walk edge answers link-prediction queries: use --mode relation")
        cfg = PolicyConfig(mode=mode, epochs=epochs, dim=dim, max_hops=hops, lr=lr,
                           batch_size=batch_size, seed=seed, answer_weights=answer_weights,
                           walk=walk, rollouts=rollouts, start_entity=start_entity,
                           patience=patience, objective=objective,
                           action_dropout=action_dropout)  # fmt: skip
        if (workspace is None) == (train is None):
            raise KGAgentError("give a WORKSPACE (with --queries) or --train FILE (with --out)")
        if workspace is None:
            if out is None:
                raise KGAgentError("--out DIR is required with --train")
            report = _policy_splits(cfg, graph, train, valid, test, kge, beam, out, sep)
            where = out
        elif queries is None:
            raise KGAgentError("--queries FILE is required with a workspace")
        elif mode == "relation":
            where = out or workspace / "policy" / (name or "linkpred")
            report = _policy_workspace_relation(workspace, queries, cfg, kge, beam, where, sep)
        else:
            from kgagent.agents import Agent

            with Agent.open(workspace) as agent:
                report = agent.train_policy(queries, name=name, config=cfg, progress=True)
                where = agent.workspace / "policy" / (name or agent.config.policy.name)
            if out is not None:
                import shutil

                shutil.copytree(where, out, dirs_exist_ok=True)
                where = out
    except KGAgentError as exc:
        _fail(exc)
    skip = ("history", "data", "unseen")
    typer.echo(json.dumps({k: v for k, v in report.items() if k not in skip}, indent=2))
    typer.echo(f"saved to {where}")


def _load_kge(path: Path | None, num_entities: int, entities: list[str]):
    """(model, score offset) of an embedding directory over the same entity labels."""
    if path is None:
        return None, 0.0
    from kgagent.embeddings.artifact import Embedding

    emb = Embedding.load(path)
    if list(emb.entities) != list(entities):
        raise KGAgentError(
            f"{path}: the embedding's {len(emb.entities)} entities are not the "
            f"{num_entities} of these triples (in the same order): train it on the same files"
        )
    from kgagent.policy.shaping import score_offset

    train_cfg = emb.config.get("training", emb.config)
    return emb.model, score_offset(train_cfg.get("loss"), train_cfg.get("margin"))


def _policy_splits(cfg, graph, train, valid, test, kge, beam, out, sep) -> dict:
    from kgagent.policy.linkpred import train_on_splits

    data, walked = _link_splits(train, valid, test, graph, sep)
    _report_unseen(data)
    model, offset = _load_kge(kge, data.num_entities, data.entities)
    _, metrics = train_on_splits(data, config=cfg, graph=walked, kge=model, kge_offset=offset,
                                 beam=beam, out=out, progress=True)  # fmt: skip
    return metrics


def _link_splits(train, valid, test, graph, sep: str):
    """(splits, walked triples or None): ids over the training and ``graph`` triples (the
    walk may reach entities the training queries never name); ``splits.train`` holds the
    training queries only."""
    from kgagent.embeddings import TripleSplits

    if graph is None:
        return TripleSplits.from_files(train=train, valid=valid, test=test, sep=sep), None
    import numpy as np

    from kgagent.embeddings.data import _map, read_triples

    queries, extra = read_triples(train, sep=sep), read_triples(graph, sep=sep)
    files = {"train": train, "graph": graph, "valid": valid, "test": test}
    data = TripleSplits.from_labeled(
        queries + extra,
        read_triples(valid, sep=sep) if valid is not None else [],
        read_triples(test, sep=sep) if test is not None else [],
        source={k: str(v) for k, v in files.items() if v is not None},
    )
    walked = data.train  # (n, 3): queries and graph triples
    ent = {e: i for i, e in enumerate(data.entities)}
    rel = {r: i for i, r in enumerate(data.relations)}
    data.train = np.unique(_map(queries, ent, rel)[0], axis=0)
    return data, np.unique(walked, axis=0)


def _policy_workspace_relation(workspace, queries, cfg, kge, beam, out, sep):
    from kgagent.embeddings.data import read_triples
    from kgagent.policy.linkpred import train_on_splits, workspace_splits
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        data, walked = workspace_splits(kg, read_triples(queries, sep=sep), seed=cfg.seed)
    model, offset = _load_kge(kge, data.num_entities, data.entities)
    _, metrics = train_on_splits(data, config=cfg, graph=walked, kge=model, kge_offset=offset,
                                 beam=beam, out=out, progress=True)  # fmt: skip
    return metrics


@policy_app.command("eval")
def policy_eval(
    workspace: Annotated[Path | None, typer.Argument(help="workspace (question mode)")] = None,
    queries: Annotated[Path | None, typer.Option(help="QA file with gold answers")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="split files: a `policy train --out` directory")
    ] = None,
    train: Annotated[Path | None, typer.Option(help="split files: the training triples")] = None,
    graph: Annotated[Path | None, typer.Option(help="split files: the triples it walked")] = None,
    valid: Annotated[Path | None, typer.Option(help="split files: more known triples")] = None,
    test: Annotated[Path | None, typer.Option(help="split files: triples to rank")] = None,
    beam: Annotated[int, typer.Option(help="relation mode: walks kept per query")] = 64,
    sep: Annotated[str, typer.Option(help="field separator of triple files")] = "\t",
) -> None:
    """Question mode: Hits@1 of the policy's best walk alone. Split files: filtered MRR and
    Hits@1/3/10 of a link-prediction policy, both directions."""
    try:
        if checkpoint is not None:
            report = _policy_eval_splits(checkpoint, train, graph, valid, test, beam,
                                         sep.encode().decode("unicode_escape"))  # fmt: skip
        elif workspace is None or queries is None:
            raise KGAgentError("give WORKSPACE --queries FILE, or --checkpoint DIR --train --test")
        else:
            report = _policy_eval_workspace(workspace, queries)
    except KGAgentError as exc:
        _fail(exc)
    typer.echo(json.dumps(report, indent=2))


def _policy_eval_splits(checkpoint, train, graph, valid, test, beam, sep) -> dict:
    import numpy as np

    from kgagent.policy.linkpred import evaluate_link_prediction, load_for_splits

    if train is None or test is None:
        raise KGAgentError("--checkpoint needs the --train file it was trained on and --test")
    data, walked = _link_splits(train, valid, test, graph, sep)
    _report_unseen(data)
    reasoner = load_for_splits(checkpoint, data, graph=walked)
    if not len(data.test):
        raise KGAgentError(f"{test}: no test triple names known entities and relations")
    known = data.all_triples() if walked is None else np.concatenate([data.all_triples(), walked])
    metrics = evaluate_link_prediction(reasoner, data.test, known=known, beam=beam)
    return {**metrics, "triples": len(data.test), "unseen": data.unseen}


def _policy_eval_workspace(workspace, queries) -> dict:
    from kgagent.agents import Agent
    from kgagent.agents.builder import qa_pairs
    from kgagent.agents.paths import policy_queries

    with Agent.open(workspace) as agent:
        retriever = agent.retriever
        if retriever.policy is None:
            raise KGAgentError(f"{workspace}: no policy; run `kgagent policy train` first")
        items, skipped = policy_queries(retriever, qa_pairs(queries))
        return {**retriever.policy.evaluate(items), "skipped_questions": skipped}


transfer_app = typer.Typer(
    help="Move learned parts between agents (bundles) and measure what transfer buys.",
    no_args_is_help=True,
)
app.add_typer(transfer_app, name="transfer")

Components = Annotated[
    str, typer.Option(help="comma-separated: any of embeddings, policy, adapter")
]


COMPONENT_KINDS = ("embeddings", "policy", "adapter")


def _components(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


@transfer_app.command("export")
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

    try:
        with Agent.open(workspace) as agent:
            path = agent.export(
                out,
                components=_components(components),
                policy=policy,
                embedding=embedding,
                adapter=adapter,
            )
    except KGAgentError as exc:
        _fail(exc)
    manifest = json.loads((path / "manifest.json").read_text("utf-8"))
    summary = {
        k: {"tensors": len(v["weights"]["tensors"])} for k, v in manifest["components"].items()
    }
    typer.echo(json.dumps({"bundle": str(path), "components": summary}, indent=2))


@transfer_app.command("import")
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

    try:
        with Agent.open(workspace) as agent:
            report = agent.import_(
                bundle,
                components=_components(components) if components else None,
                use_encoder=encoder_align,
                threshold=threshold,
                names=dict.fromkeys(COMPONENT_KINDS, name) if name else None,
                overwrite=overwrite,
            )
    except KGAgentError as exc:
        _fail(exc)
    typer.echo(json.dumps(report, indent=2))


@transfer_app.command("run")
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
            help="finetune | partial | frozen | reset-head | shrink-perturb | freeze:PREFIX,..."
        ),
    ] = "finetune",
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

    try:
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
        results = exp.run(out=out, log=lambda line: typer.echo(line, err=True))
    except KGAgentError as exc:
        _fail(exc)
    typer.echo(
        json.dumps({k: results[k] for k in HEADLINE} | {"files": results["files"]}, indent=2)
    )


from kgagent.cli_team import team_app  # noqa: E402  (registered after the core commands)

app.add_typer(team_app, name="team")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
