"""``kgagent policy``: train and evaluate the RL path policy, on a workspace's questions,
on a workspace's triples (relation mode) or on link-prediction split files.

Registered on the main command in :mod:`kgagent.cli`; heavy imports stay inside commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kgagent.cli._common import handle_errors, report_unseen, unescape
from kgagent.errors import KGAgentError
from kgagent.workspace import Workspace

policy_app = typer.Typer(
    help="The RL path policy `ask` walks with: train and evaluate it on QA files.",
    no_args_is_help=True,
)


_QUERIES_HELP = (
    "question mode: QA file (MetaQA, PathQuestion, JSONL); relation mode: (head, relation, "
    "tail) IRIs, tab-separated"
)
#: seconds relation-mode training may take when the user sets none, every path length
#: tried included: UMLS and Nations converge well within it on 2 cores, Kinship (larger)
#: is cut at its best validation epoch so far
RELATION_BUDGET = 1800.0
_KGE_HELP = (
    "relation mode: an embedding directory over the same entities, to shape the reward, "
    "initialise the embeddings and mix into the ranking (weight chosen on validation)"
)
_COMPANION_HELP = (
    "relation mode without --kge: KGE model trained beside the policy and mixed into its "
    "ranking by a weight chosen on validation (0 among the choices); 'none': the walk alone"
)


@policy_app.command("train")
@handle_errors
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
    kge_model: Annotated[str, typer.Option(help=_COMPANION_HELP)] = "complex",
    epochs: Annotated[
        int | None,
        typer.Option(help="most epochs, the best validation one kept (question 20, relation 80)"),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(help="epochs without a better validation score (question 6, relation 20)"),
    ] = None,
    dim: Annotated[int, typer.Option(help="hidden size")] = 128,
    hops: Annotated[
        int | None,
        typer.Option(help="longest walk (question: 3; relation: 2 or 3, chosen on validation)"),
    ] = None,
    entropy: Annotated[
        float | None, typer.Option(help="entropy bonus (question 0.05, relation 0.1)")
    ] = None,
    lr: float = 1e-3,
    batch_size: Annotated[int, typer.Option(help="queries per update")] = 64,
    beam: Annotated[
        int, typer.Option(help="relation mode: walks kept per query when ranking")
    ] = 256,
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
    time_budget: Annotated[
        float | None,
        typer.Option(
            help="seconds for training, every configuration tried included (relation mode: "
            f"{RELATION_BUDGET:.0f}; question mode: none)"
        ),
    ] = None,
) -> None:
    """Train the path policy (REINFORCE): on QA pairs for `ask`, or on link prediction."""
    from kgagent.policy import PolicyConfig

    sep = unescape(sep)
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
    relation = mode == "relation"
    budget = time_budget if time_budget is not None else (RELATION_BUDGET if relation else None)
    if budget is not None and budget <= 0:
        raise KGAgentError(f"--time-budget {budget}: give a positive number of seconds")
    given = {"epochs": epochs, "patience": patience, "max_hops": hops, "entropy": entropy}
    common = dict(mode=mode, dim=dim, lr=lr, batch_size=batch_size, seed=seed,
                  answer_weights=answer_weights, walk=walk, rollouts=rollouts,
                  start_entity=start_entity, objective=objective,
                  action_dropout=action_dropout)  # fmt: skip
    if relation and walk == "set":
        from kgagent.policy.linkpred import default_configs

        # what bench/policy.py chose by hand, now chosen on validation
        cfg = default_configs(**common, **{k: v for k, v in given.items() if v is not None})
    else:
        defaults = {"epochs": 80 if relation else 20, "patience": 20 if relation else 6,
                    "max_hops": 3, "entropy": PolicyConfig.entropy}  # fmt: skip
        cfg = PolicyConfig(**common, **{k: defaults[k] if v is None else v
                                        for k, v in given.items()})  # fmt: skip
    if (workspace is None) == (train is None):
        raise KGAgentError("give a WORKSPACE (with --queries) or --train FILE (with --out)")
    if workspace is None:
        if out is None:
            raise KGAgentError("--out DIR is required with --train")
        report = _policy_splits(cfg, graph, train, valid, test, (kge, kge_model), beam, out,
                                sep, budget)  # fmt: skip
        where = out
    elif queries is None:
        raise KGAgentError("--queries FILE is required with a workspace")
    elif mode == "relation":
        where = out or Workspace(workspace).policy_dir(name or "linkpred")
        report = _policy_workspace_relation(workspace, queries, cfg, (kge, kge_model), beam,
                                            where, sep, budget)  # fmt: skip
    else:
        from kgagent.agents import Agent

        with Agent.open(workspace) as agent:
            report = agent.train_policy(queries, name=name, config=cfg, progress=True,
                                        time_budget=budget)  # fmt: skip
            where = agent.ws.policy_dir(name or agent.config.policy.name)
        if out is not None:
            where = _copy_policy(where, out)
    skip = ("history", "data", "unseen")
    typer.echo(json.dumps({k: v for k, v in report.items() if k not in skip}, indent=2))
    typer.echo(f"saved to {where}")


def _copy_policy(saved: Path, out: Path) -> Path:
    """``--out`` in question mode: a copy of the policy training saved in the workspace.

    Naming the place it was saved (``--out WS/policy/default``) needs no copy: it is
    written in place (copytree onto itself raised a shutil.Error of single characters).
    A place inside it, or holding it, is refused: the copy would copy itself.
    """
    import shutil

    src, dst = saved.resolve(), out.resolve()
    if src == dst:
        return out
    if src in dst.parents or dst in src.parents:
        raise KGAgentError(
            f"--out {out}: inside {saved}, or holding it, where the policy was saved: "
            "give another directory, or leave --out out"
        )
    try:
        shutil.copytree(saved, out, dirs_exist_ok=True)
    except (OSError, shutil.Error) as exc:
        raise KGAgentError(f"--out {out}: cannot copy the policy from {saved} ({exc})") from exc
    return out


def _kge_args(kge: tuple[Path | None, str], num_entities: int, entities: list[str]) -> dict:
    """train_on_splits's KGE arguments from ``(--kge, --kge-model)``: the given embedding
    shapes the reward and is the companion; without one, a companion of that model is
    trained (none for 'none')."""
    from kgagent.policy.mixture import Companion

    path, name = kge
    model, offset = _load_kge(path, num_entities, entities)
    if model is not None:
        return {"kge": model, "kge_offset": offset, "companion": Companion.given(path, model)}
    return {"companion": None if name.lower() == "none" else name}


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


def _policy_splits(cfg, graph, train, valid, test, kge, beam, out, sep, budget) -> dict:
    from kgagent.policy.linkpred import train_on_splits

    data, walked = _link_splits(train, valid, test, graph, sep)
    report_unseen(data)
    _, metrics = train_on_splits(data, config=cfg, graph=walked, beam=beam, out=out,
                                 progress=True, time_budget=budget,
                                 **_kge_args(kge, data.num_entities, data.entities))  # fmt: skip
    return metrics


def _link_splits(train, valid, test, graph, sep: str):
    """(splits, walked triples or None): ids over the training and ``graph`` triples (the
    walk may reach entities the training queries never name); ``splits.train`` holds the
    training queries only."""
    from kgagent.embeddings import TripleSplits

    if graph is None:
        return TripleSplits.from_files(train=train, valid=valid, test=test, sep=sep), None
    import numpy as np

    from kgagent.embeddings.data import map_triples, read_triples

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
    data.train = np.unique(map_triples(queries, ent, rel)[0], axis=0)
    return data, np.unique(walked, axis=0)


def _policy_workspace_relation(workspace, queries, cfg, kge, beam, out, sep, budget):
    from kgagent.embeddings.data import read_triples
    from kgagent.policy.linkpred import train_on_splits, workspace_splits
    from kgagent.workspace import open_kg

    with open_kg(workspace) as kg:
        seed = (cfg[0] if isinstance(cfg, list) else cfg).seed
        data, walked = workspace_splits(kg, read_triples(queries, sep=sep), seed=seed)
    _, metrics = train_on_splits(data, config=cfg, graph=walked, beam=beam, out=out,
                                 progress=True, time_budget=budget,
                                 **_kge_args(kge, data.num_entities, data.entities))  # fmt: skip
    return metrics


@policy_app.command("eval")
@handle_errors
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
    if checkpoint is not None:
        report = _policy_eval_splits(checkpoint, train, graph, valid, test, beam, unescape(sep))
    elif workspace is None or queries is None:
        raise KGAgentError("give WORKSPACE --queries FILE, or --checkpoint DIR --train --test")
    else:
        report = _policy_eval_workspace(workspace, queries)
    typer.echo(json.dumps(report, indent=2))


def _policy_eval_splits(checkpoint, train, graph, valid, test, beam, sep) -> dict:
    import numpy as np

    from kgagent.policy.linkpred import evaluate_link_prediction, load_for_splits
    from kgagent.policy.mixture import load_mixture

    if train is None or test is None:
        raise KGAgentError("--checkpoint needs the --train file it was trained on and --test")
    data, walked = _link_splits(train, valid, test, graph, sep)
    report_unseen(data)
    reasoner = load_for_splits(checkpoint, data, graph=walked)
    kge, weight = load_mixture(checkpoint, list(data.entities))
    if not len(data.test):
        raise KGAgentError(f"{test}: no test triple names known entities and relations")
    known = data.all_triples() if walked is None else np.concatenate([data.all_triples(), walked])
    metrics = evaluate_link_prediction(reasoner, data.test, known=known, beam=beam, kge=kge,
                                       kge_weight=weight)  # fmt: skip
    return {**metrics, "triples": len(data.test), "kge_weight": weight, "unseen": data.unseen}


def _policy_eval_workspace(workspace, queries) -> dict:
    from kgagent.agents import Agent
    from kgagent.agents.builder import qa_pairs
    from kgagent.pipeline.policy import policy_queries

    with Agent.open(workspace) as agent:
        retriever = agent.retriever
        if retriever.policy is None:
            raise KGAgentError(f"{workspace}: no policy; run `kgagent policy train` first")
        items, skipped = policy_queries(retriever, qa_pairs(queries))
        return {**retriever.policy.evaluate(items), "skipped_questions": skipped}
