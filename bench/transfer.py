"""Transfer-learning experiments on MetaQA: does a trained path policy help another task / KG?

1. Same KG, new task: a policy trained on 1-hop and 2-hop questions -> 3-hop questions.
2. New KG, partly shared vocabulary: the same policy -> a MetaQA subgraph in which half
   the entities and every relation have new IRIs (opaque ids, relations camelCased), so
   only label alignment finds them; plus the IRI-only ablation (what the labels add).

MetaQA ships no train split here: every question is from the dev files, split by a seeded
shuffle per hop into disjoint parts (source training, target training, target
evaluation); the split is saved under ROOT.

    python bench/transfer.py prepare --root ROOT [--reuse-index WS/index]
    python bench/transfer.py run --root ROOT [--seeds 3] [--steps 150] [--only 1|2]
    python bench/transfer.py report --root ROOT   # the docs table from the results file

``prepare`` builds ROOT/metaqa (the full KB, indexed; ``--reuse-index`` copies the fact
vectors of an existing MetaQA index, which ``index()`` then checks and reuses) and
ROOT/films (the relabelled subgraph). ``run`` trains the source policy, exports it and
runs the experiments; results: ROOT/runs/*/ (metrics.json, curves.png, summary.md),
bench/results/transfer.json and a section of docs/benchmarks.md. ``--only N`` runs one
experiment and merges it into the results file (the source policy is retrained each
run, with the same seed and split).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, machine, peak_rss_mib, update_doc_section, write_results

FILMS_NS = "http://films.example/"
DEFAULT_STEPS = 150  # the budget of ``run`` (results of other budgets are tagged)


def _plain(q: str) -> str:
    return q.replace("[", "").replace("]", "")


def _topic(q: str) -> str:
    return q[q.index("[") + 1 : q.index("]")]


def _split(data: Path, seed: int, sizes: dict) -> dict:
    """Disjoint seeded parts of each hop's dev questions (kept with their brackets)."""
    from kgagent.qa import read_qa

    out = {}
    for hops in (1, 2, 3):
        items = read_qa(data / "metaqa" / f"{hops}-hop" / "qa_dev.txt")
        idx = list(range(len(items)))
        random.Random(seed + hops).shuffle(idx)
        out[str(hops)] = [{"question": items[i].question, "answers": list(items[i].answers)}
                          for i in idx]  # fmt: skip
    return {
        "source": out["1"][: sizes["source"]] + out["2"][: sizes["source"]],
        "hop3_train": out["3"][: sizes["train"]],
        "hop3_eval": out["3"][sizes["train"] : sizes["train"] + sizes["eval"]],
        # exp 2 draws from what the source never saw
        "rest_12": out["1"][sizes["source"] :] + out["2"][sizes["source"] :],
    }


def _relabelled_subgraph(kb: Path, out: Path, *, share: float, seed: int) -> dict:
    """N-Triples of the facts of a seeded ``share`` of MetaQA's films: half the entities
    keep their IRIs, the rest get opaque ones (same labels); relations get new camelCase
    IRIs and labels ("directed_by" -> "directedBy")."""
    from kgagent.kg.loaders import DEFAULT_BASE_IRI, _escape_literal, entity_iri

    rows = [line.rstrip("\n").split("|") for line in kb.open(encoding="utf-8") if line.strip()]
    films = sorted({h for h, _, _ in rows})
    rng = random.Random(seed)
    keep = set(rng.sample(films, int(share * len(films))))
    rows = [r for r in rows if r[0] in keep]
    names = sorted({h for h, _, _ in rows} | {t for _, _, t in rows})
    opaque = set(rng.sample(names, len(names) // 2))
    iri, lines = {}, []
    for k, name in enumerate(names):
        iri[name] = f"{FILMS_NS}id/{k}" if name in opaque else entity_iri(DEFAULT_BASE_IRI, name)
        lines.append(f'<{iri[name]}> <http://www.w3.org/2000/01/rdf-schema#label> '
                     f'"{_escape_literal(name)}" .')  # fmt: skip
    rels = {}
    for r in sorted({r for _, r, _ in rows}):
        words = r.split("_")
        camel = words[0] + "".join(w.title() for w in words[1:])
        rels[r] = f"{FILMS_NS}schema/{camel}"
        lines.append(f"<{rels[r]}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                     "<http://www.w3.org/1999/02/22-rdf-syntax-ns#Property> .")  # fmt: skip
        lines.append(f'<{rels[r]}> <http://www.w3.org/2000/01/rdf-schema#label> "{camel}" .')
    lines += [f"<{iri[h]}> <{rels[r]}> <{iri[t]}> ." for h, r, t in rows]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"films": len(keep), "facts": len(rows), "entities": len(names),
            "opaque_entities": len(opaque), "relations": len(rels), "names": names}  # fmt: skip


def prepare(args) -> None:
    from kgagent.agents import Agent
    from kgagent.workspace import init_workspace

    root = Path(args.root)
    report = {"machine": machine()}
    ws = root / "metaqa"
    t = time.perf_counter()
    init_workspace(ws)
    with Agent.open(ws) as agent:
        if not agent.kg.sources():
            agent.kg.load_triples(args.data / "metaqa" / "kb.txt")
        if args.reuse_index and not (ws / "index").exists():
            shutil.copytree(args.reuse_index, ws / "index")
        report["metaqa_index"] = str(agent.index(progress=True))
    report["metaqa_seconds"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    nt = root / "films.nt"
    sub = _relabelled_subgraph(args.data / "metaqa" / "kb.txt", nt, share=args.share, seed=0)
    (root / "films_names.json").write_text(json.dumps(sub.pop("names")))
    report["films_graph"] = sub
    init_workspace(root / "films")
    with Agent.open(root / "films") as agent:
        if not agent.kg.sources():
            agent.kg.load(nt)
        report["films_index"] = str(agent.index(progress=True))
    report["films_seconds"] = round(time.perf_counter() - t, 1)
    (root / "prepare.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def _pairs(items, *, brackets: bool = False):
    return [(x["question"] if brackets else _plain(x["question"]), x["answers"]) for x in items]


def _source_bundle(root: Path, split: dict, epochs: int) -> tuple[Path, dict]:
    """Trains the 1/2-hop policy in ROOT/metaqa (name hop12) and exports it."""
    from kgagent.agents import Agent
    from kgagent.policy import PolicyConfig

    bundle = root / "bundles" / "hop12"
    with Agent.open(root / "metaqa") as agent:
        t = time.perf_counter()
        report = agent.train_policy(
            _pairs(split["source"]), name="hop12", config=PolicyConfig(epochs=epochs, seed=0)
        )
        seconds = time.perf_counter() - t
        agent.export(bundle, components=["policy"], policy="hop12")
    info = {k: v for k, v in report.items() if k != "history"}
    return bundle, {**info, "seconds": round(seconds, 1)}


def _source_report(root: Path) -> dict:
    metrics = json.loads((root / "metaqa" / "policy" / "hop12" / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k != "history"} | {"reused": True}


def _experiment(name, root, bundle, target, train, evaluation, args, **kw) -> dict:
    from kgagent.transfer import Budget, TransferExperiment

    t = time.perf_counter()
    exp = TransferExperiment(
        source=bundle,
        target=target,
        train=train,
        eval=evaluation,
        budget=Budget(steps=args.steps, eval_every=args.eval_every),
        seeds=list(range(args.seeds)),
        strategy=args.strategy,
        name=name,
        **kw,
    )
    res = exp.run(out=root / "runs" / name, log=print)
    keys = ("summary", "coverage", "task", "threshold", "strategy", "alignment", "budget")
    out = {k: res[k] for k in keys}
    out["seconds"] = round(time.perf_counter() - t, 1)
    out["curves_mean"] = {
        arm: [round(sum(r[arm]["metric"][i] for r in res["runs"]) / len(res["runs"]), 4)
              for i in range(len(res["runs"][0][arm]["metric"]))]
        for arm in ("scratch", "transfer")
    }  # fmt: skip
    out["steps"] = res["runs"][0]["scratch"]["step"]
    out["seeds"] = res["seeds"]
    reached = [r["metrics"]["reached_threshold"] for r in res["runs"]]
    out["reached"] = {arm: sum(x[arm] for x in reached) for arm in ("transfer", "scratch")}
    return out


def run(args) -> None:
    root = Path(args.root)
    split_path = root / "split.json"
    sizes = {"source": args.source_per_hop, "train": args.train, "eval": args.eval}
    split = _split(args.data, args.seed, sizes)
    split_path.write_text(json.dumps(split))
    from _common import RESULTS

    previous = RESULTS / "transfer.json"
    results = json.loads(previous.read_text()) if args.only and previous.exists() else {}
    results.update(machine=machine(), args={k: str(v) for k, v in vars(args).items()})
    t0 = time.perf_counter()
    if args.reuse_source and (root / "bundles" / "hop12" / "manifest.json").exists():
        bundle = root / "bundles" / "hop12"  # trained by an earlier run (same split, seed)
        results.setdefault("source_policy", _source_report(root))
    else:
        bundle, results["source_policy"] = _source_bundle(root, split, args.source_epochs)
    tag = "" if args.strategy == "finetune" else f"-{args.strategy}"
    tag += "" if args.steps == DEFAULT_STEPS else f"-{args.steps}-steps"
    if args.only in (None, 1):
        results[f"exp1_hop12-to-hop3{tag}"] = _experiment(
            f"hop12-to-hop3{tag}", root, bundle, root / "metaqa",
            _pairs(split["hop3_train"]), _pairs(split["hop3_eval"]), args,
        )  # fmt: skip
    if args.only in (None, 2):
        names = set(json.loads((root / "films_names.json").read_text()))
        usable = [x for x in split["rest_12"] if _topic(x["question"]) in names]
        random.Random(args.seed).shuffle(usable)
        train, evaluation = usable[: args.train], usable[args.train : args.train + args.eval]
        for name, labels in (("hop12-to-films", True), ("hop12-to-films-iri-only", False)):
            results[f"exp2_{name}{tag}"] = _experiment(
                f"{name}{tag}", root, bundle, root / "films", _pairs(train),
                _pairs(evaluation), args, use_labels=labels,
            )  # fmt: skip
    results[f"seconds_run_{args.only or 'all'}"] = round(time.perf_counter() - t0, 1)
    results["peak_rss_mib"] = round(peak_rss_mib(), 1)
    write_results("transfer", results)
    update_doc_section("transfer", _markdown(results))
    print(json.dumps({k: v for k, v in results.items() if k.startswith("exp")}, indent=2)[:6000])


def _markdown(results: dict) -> str:
    def cell(entry):
        return "n/a" if entry["mean"] is None else f"{entry['mean']:.3f} ± {entry['std']:.3f}"

    src = results["source_policy"]
    lines = [
        "## Transfer learning (bench/transfer.py)",
        "",
        f"Source: a path policy trained on {src['train_queries']} MetaQA 1-hop + 2-hop dev "
        f"questions (valid Hits@1 {src['valid']['hits_at_1']:.3f}, "
        f"{src['train_seconds']} s training). "
        "Each target is trained from scratch and from the transfer with the same budget of "
        "optimizer steps (batch 64, 8 walks per question), evaluated on held-out questions "
        "(policy Hits@1: expected precision of the best walk's answers); mean ± std over "
        f"seeds; {results['machine']['cores']} cores. Threshold for time to threshold: 0.9 x "
        "the scratch asymptote. area_ratio = transfer area / scratch area (1 = no gain); "
        "its ceiling is the ratio a perfect transfer (Hits@1 1.0 from step 0) would reach "
        "against the same scratch curve, so a scratch arm that learns fast caps it (with "
        "300 steps on exp1 no transfer could reach 1.5). The default budget is "
        f"{DEFAULT_STEPS} steps; other budgets are tagged in the name.",
        "",
        "All questions are MetaQA dev questions (no train split ships here), in disjoint "
        "seeded parts: source training, target training, target evaluation. exp1: the same "
        "KG, 3-hop questions. exp2: a graph of 25% of MetaQA's films in which half the "
        "entities have opaque IRIs and all 9 relations are renamed (camelCase IRIs and "
        "labels), so they align by label only; the iri-only row is the ablation without "
        "labels (the policy still reads the target's relation phrases through its "
        "projection). Strategy finetune unless the name says otherwise.",
        "",
        "| experiment | alignment (relations by label) | jumpstart | asymptote transfer | "
        "asymptote scratch | area ratio | area-ratio ceiling | time-to-threshold ratio (steps) "
        "| threshold reached (transfer / scratch seeds) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, res in results.items():
        if not key.startswith("exp"):
            continue
        s, rel = res["summary"], res["coverage"]["relations"]["by_method"]
        lines.append(
            f"| {key} ({res['task']['train']} train / {res['task']['eval']} eval, "
            f"{res['budget']['steps']} steps, {len(res['seeds'])} seeds) | "
            f"{res['alignment']} ({rel['label']['count']}) | "
            f"{cell(s['jumpstart'])} | {cell(s['asymptote_transfer'])} | "
            f"{cell(s['asymptote_scratch'])} | {cell(s['area_ratio'])} | "
            f"{_ceiling(res)} | {cell(s['time_to_threshold_ratio'])} | "
            f"{_reached(res)} |"
        )
    return "\n".join(lines)


def report(args) -> None:
    """Rewrites the docs section from bench/results/transfer.json (and ROOT/runs/*)."""
    from _common import RESULTS

    path = RESULTS / "transfer.json"
    results = json.loads(path.read_text())
    for key, res in results.items():
        run_dir = Path(args.root) / "runs" / key.split("_", 1)[-1]
        if key.startswith("exp") and "reached" not in res and (run_dir / "metrics.json").exists():
            runs = json.loads((run_dir / "metrics.json").read_text())["runs"]
            reached = [r["metrics"]["reached_threshold"] for r in runs]
            res["reached"] = {a: sum(x[a] for x in reached) for a in ("transfer", "scratch")}
    path.write_text(json.dumps(results, indent=2) + "\n")
    update_doc_section("transfer", _markdown(results))


def _ceiling(res: dict) -> str:
    """The area ratio of a perfect transfer (Hits@1 1.0 at every step) against this scratch
    curve: a fast-learning scratch arm bounds what any transfer can show on this metric."""
    from kgagent.transfer.metrics import area

    steps = res["steps"]
    scratch = area(steps, res["curves_mean"]["scratch"])
    return f"{(steps[-1] - steps[0]) / scratch:.2f}" if scratch > 0 else "n/a"


def _reached(res: dict) -> str:
    if "reached" not in res:
        return "n/a"
    n = len(res["seeds"])
    return f"{res['reached']['transfer']}/{n} / {res['reached']['scratch']}/{n}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("prepare", "run", "report"):
        s = sub.add_parser(name)
        s.add_argument("--data", type=Path, default=SHARED)
        s.add_argument("--root", required=True)
        s.add_argument("--seed", type=int, default=0)
    sub.choices["prepare"].add_argument("--reuse-index", type=Path, default=None)
    sub.choices["prepare"].add_argument("--share", type=float, default=0.25,
                                        help="share of MetaQA's films in the subgraph")  # fmt: skip
    r = sub.choices["run"]
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    r.add_argument("--eval-every", type=int, default=10)
    r.add_argument("--source-per-hop", type=int, default=2000)
    r.add_argument("--source-epochs", type=int, default=10)
    r.add_argument("--train", type=int, default=1000)
    r.add_argument("--eval", type=int, default=500)
    r.add_argument("--only", type=int, choices=(1, 2), default=None)
    r.add_argument(
        "--reuse-source",
        action="store_true",
        help="use ROOT/bundles/hop12 from an earlier run instead of retraining",
    )
    r.add_argument("--strategy", default="finetune")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: small batches on shared cores run faster)")  # fmt: skip
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    {"prepare": prepare, "run": run, "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
