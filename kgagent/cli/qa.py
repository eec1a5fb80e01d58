"""The question-answering commands: ``ask``, ``synth``, ``train``, ``finetune`` (the reader's LoRA
adapter) and ``eval``. Registered on the main command in :mod:`kgagent.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kgagent.cli._common import (
    CONVERSATIONS_HELP,
    Workspace,
    handle_errors,
    one_source,
    read_conversations,
    read_questions,
    show_answer,
    write_answers,
    write_conversations,
)
from kgagent.cli._output import json_text, printable

app = typer.Typer()


@app.command()
@handle_errors
def ask(
    workspace: Workspace,
    question: Annotated[str | None, typer.Argument(help="the question")] = None,
    questions: Annotated[
        Path | None, typer.Option(help="file of questions (plain, MetaQA, PathQuestion, JSONL)")
    ] = None,
    conversations: Annotated[Path | None, typer.Option(help=CONVERSATIONS_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option(help="write one JSON object per question (or turn)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="questions per LLM batch")] = 32,
    show_sparql: Annotated[
        bool,
        typer.Option(help="print the SPARQL query that returns the same answer (typed questions)"),
    ] = False,
) -> None:
    """Answer a question (or a file of them, or of conversations) from the graph, citing
    the facts used. Counts, yes/no, constraints, superlatives and comparisons are answered
    by programs over the graph; their records carry `kind` and `sparql`. A conversation's
    follow-ups carry `context`: what they took from the turns before."""

    from kgagent.agents import Agent

    one_source(question, questions, conversations)
    dialogues = read_conversations(conversations) if conversations else None  # all checked
    with Agent.open(workspace, read_only=True) as agent:  # reads only: beside any writer
        if question is not None:
            show_answer(agent.ask(question), out, sparql=show_sparql)
        elif dialogues is not None:
            write_conversations(agent, dialogues, out)
        else:
            write_answers(agent, read_questions(questions), out, batch_size)


@app.command()
@handle_errors
def synth(
    workspace: Workspace,
    out: Annotated[Path, typer.Option(help="JSONL file of questions and answers")],
    n: Annotated[int, typer.Option("-n", help="how many questions")] = 400,
    multi_hop: Annotated[float, typer.Option(help="share of 2- and 3-hop questions")] = 0.3,
    max_hops: Annotated[int, typer.Option(help="longest relation chain")] = 3,
    seed: int = 0,
) -> None:
    """Generate training questions from the graph: relation chains of 1-3 hops phrased
    from the ontology's labels and templates, with their complete answer sets."""
    from kgagent.agents import Agent
    from kgagent.synth import synthesize_report

    with Agent.open(workspace, read_only=True) as agent:
        items, report = synthesize_report(
            agent, n=n, seed=seed, multi_hop=multi_hop, max_hops=max_hops
        )
    with open(out, "w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json_text({"question": it.question, "answers": list(it.answers)}) + "\n")
    typer.echo(printable(report.summary(), keep="\n"))
    typer.echo(f"{len(items)} questions -> {printable(out)}")


@app.command()
@handle_errors
def train(
    workspace: Workspace,
    questions: Annotated[int, typer.Option("-n", help="questions to synthesize")] = 2000,
    steps: Annotated[int, typer.Option(help="the reader's LoRA steps")] = 150,
    policy: Annotated[bool, typer.Option(help="train the path policy")] = True,
    reader: Annotated[bool, typer.Option(help="fine-tune the reader")] = True,
    policy_budget: Annotated[float, typer.Option(help="seconds the policy may train")] = 300.0,
    typed: Annotated[
        float, typer.Option(help="typed questions for the reader, as a share of the rest")
    ] = 0.0,
    conversations: Annotated[
        float,
        typer.Option(help="follow-ups of synthesized conversations for the reader, as a share"),
    ] = 0.1,
    seed: int = 0,
) -> None:
    """Train the agent on its own graph with no QA data: synthesized questions -> path
    policy -> reader, each part kept only where it beats what it replaces on held-out
    questions. The report is also written to WORKSPACE/runs/train.json."""
    from kgagent.agents import Agent

    with Agent.open(workspace) as agent:
        report = agent.train(
            questions=questions,
            reader_steps=steps,
            policy=policy,
            reader=reader,
            policy_budget=policy_budget,
            typed=typed,
            conversations=conversations,
            seed=seed,
            progress=True,
        )
    typer.echo(printable(report, keep="\n"))


@app.command()
@handle_errors
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

    with Agent.open(workspace) as agent:
        cfg = LoRAConfig(max_steps=steps, lr=lr, batch_size=batch_size, seed=seed)
        report = agent.finetune(train, name=name, lora=cfg, progress=True)
    typer.echo(json_text({k: v for k, v in report.items() if k != "config"}, indent=2))


@app.command("eval")
@handle_errors
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

    items = [it for it in read_qa(questions) if it.answers][:limit]
    with Agent.open(workspace, read_only=True) as agent:
        answers, latency = [], []
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            t0 = time.perf_counter()
            got = agent.ask_batch([it.question for it in chunk])
            per = (time.perf_counter() - t0) * 1000 / len(chunk)
            answers += got
            latency += [per] * len(chunk)
    report = evaluate(
        [a.labels for a in answers],
        [it.answers for it in items],
        abstained=[a.abstained for a in answers],
        latencies_ms=latency,
    )
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            for a in answers:
                fh.write(json_text(a.to_dict()) + "\n")
    typer.echo(json_text(report, indent=2))
