"""No QA data: an agent trained on synthesized questions only, beside the zero-shot
baselines and the supervised build, on the MetaQA and PathQuestion (PQ-2H) KBs.

    python bench/zeroshot.py build --dataset metaqa --workspace WS
    python bench/zeroshot.py eval --dataset metaqa --workspace WS [--trained WS2]
        [--supervised WS3] [--limit 300] [--systems untrained,kaping,trained,supervised]
    python bench/zeroshot.py run --dataset metaqa --root DIR [--questions 2000]
        [--steps 150] [--limit 300] [--supervised WS3]

``build`` is the documented no-data pathway (docs/how-to/no-qa-data.md: ``kgagent
init``, ``load``, ``index``) through the Python API, with the default configuration (no
MetaQA linker stopwords, no adapter, no policy), each step timed. ``run`` builds (or
reuses) DIR/untrained, copies it to DIR/trained and runs ``Agent.train`` there
(``kgagent train``: synthesis -> policy -> reader), then evaluates every system on the
same questions:

- ``untrained``: the indexed agent, ``ask_batch`` (the zero-shot ranker reads: an
  index-only agent does not load the shipped base model);
- ``base_llm``: the same agent with the shipped base model reading, as it did before
  ``llm.base_model_reads`` (the evidence for that default);
- ``kaping``: KAPING (Baek et al. 2023) with our parts, MiniLM top-10 verbalized facts of
  the linked entities -> SmolLM2-135M-Instruct generating the answer (``bench/_kaping.py``);
- ``trained``: the agent after ``kgagent train``;
- ``supervised``: a workspace built with labelled questions (``bench/qa_metaqa.py build``).

Questions: MetaQA dev, brackets removed (the agent links the topic), a fixed sample
(``random.Random(7)``, as ``bench/qa_metaqa.py eval``) of ``--limit`` per hop from the
held-out lists of ``--split`` (default: the supervised workspace's ``qa_split.json``), so
no system saw them in training; without a split, from all dev questions. PQ-2H: the test
part of ``bench/pathquestion.py``'s seeded 8:1:1 split (the supervised PQ build trains
on the rest), 2 hops.

Results: bench/results/zeroshot_{dataset}.json and a section of docs/benchmarks.md
(``--dry-run``: print only).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, SHARED, machine, peak_rss_mib, update_doc_section, write_results
from qa_metaqa import KAPING as KAPING_GPT35

SYSTEMS = ("untrained", "base_llm", "kaping", "trained", "supervised")
DATASETS = {
    "metaqa": {"name": "MetaQA", "kb": "metaqa/kb.txt", "sep": "|", "hops": (1, 2, 3)},
    "pathquestion": {
        "name": "PathQuestion PQ-2H",
        "kb": "kgqa_pathquestion/2H-kb.txt",
        "sep": "\t",
        "hops": (2,),
    },
}
#: issue 18's bars on MetaQA (Hits@1 per hop)
TARGETS = {
    "trained on synthesized questions (done when)": (0.91, 0.75, 0.50),
    "trained on synthesized questions (aim)": (0.95, 0.90, 0.85),
    "untrained (done when)": (0.85, 0.50, 0.35),
}
LABELS = {
    "untrained": "untrained agent (init, load, index: the zero-shot ranker reads)",
    "base_llm": "untrained agent with the shipped base model reading (`llm.base_model_reads`)",
    "kaping": "KAPING recipe: MiniLM top-{k} facts -> SmolLM2-135M",
    "kaping_contains": "KAPING recipe, lenient (a gold answer anywhere in the generation)",
    "trained": "trained on synthesized questions (`kgagent train`)",
    "supervised": "supervised build (labelled questions)",
}


def _plain(q: str) -> str:
    return q.replace("[", "").replace("]", "")


# -- build ------------------------------------------------------------------------------


def build_workspace(ws: Path, dataset: str, data: Path) -> dict:
    """``kgagent init WS``, ``kgagent load WS KB --sep S``, ``kgagent index WS``, timed;
    written to WS/runs/zeroshot_build.json. A loaded graph is not loaded again."""
    from kgagent.agents import Agent
    from kgagent.workspace import init_workspace, open_kg

    spec = DATASETS[dataset]
    out: dict = {"dataset": dataset, "kb": spec["kb"], "sep": spec["sep"]}
    t = time.perf_counter()
    root = init_workspace(ws)
    open_kg(root).close()
    out["init_seconds"] = time.perf_counter() - t
    with open_kg(root) as kg:
        if not kg.sources():
            t = time.perf_counter()
            kg.load_triples(data / spec["kb"], sep=spec["sep"])
            out["load_seconds"] = time.perf_counter() - t
        out["triples"] = len(kg)
    t = time.perf_counter()
    with Agent.open(root) as agent:
        out["index"] = str(agent.index(progress=True))
    out["index_seconds"] = time.perf_counter() - t
    (root / "runs").mkdir(exist_ok=True)
    (root / "runs" / "zeroshot_build.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


# -- questions --------------------------------------------------------------------------


def sample(pool: list, limit: int | None, seed: int = 7) -> list:
    """A fixed sample of ``limit`` items (``bench/qa_metaqa.py eval``'s), all if fewer."""
    if limit and len(pool) > limit:
        return random.Random(seed).sample(pool, limit)
    return list(pool)


def load_questions(dataset: str, data: Path, *, split: Path | None, limit: int | None) -> dict:
    """{"source": str, "hops": {hop: [(question, answers), ...]}}."""
    if dataset == "pathquestion":
        from pathquestion import _split as pq_split
        from pathquestion import read_pq

        rows = pq_split(read_pq(data / "kgqa_pathquestion" / "PQ-2H.txt"), 0)["test"]
        chosen = sample(rows, limit)
        return {
            "source": "PQ-2H, the test part of bench/pathquestion.py's seed-0 split",
            "hops": {2: [(r["question"], tuple(r["answers"])) for r in chosen]},
        }
    from kgagent.qa import read_qa

    heldout = (_read_json(split) or {}).get("heldout") if split else None
    out: dict = {
        "source": f"MetaQA dev, held out in {split}" if heldout else "MetaQA dev",
        "hops": {},
    }
    for hop in DATASETS["metaqa"]["hops"]:
        items = read_qa(data / "metaqa" / f"{hop}-hop" / "qa_dev.txt")
        pool = [items[i] for i in heldout[str(hop)]] if heldout else items
        out["hops"][hop] = [(_plain(it.question), it.answers) for it in sample(pool, limit)]
    return out


# -- systems ----------------------------------------------------------------------------


def _latency(lat: list[float]) -> dict:
    lat = sorted(lat)
    if not lat:
        return {}
    return {
        "latency_p50_ms": statistics.median(lat),
        "latency_p95_ms": lat[max(0, int(len(lat) * 0.95) - 1)],
    }


def eval_agent(ws: Path, questions: dict, *, latency_n: int, base_llm: bool = False) -> dict:
    """Hits@1 / F1 / abstention per hop from ``ask_batch`` (batches of 32), and the
    latency of single ``ask`` calls on the first ``latency_n`` questions of each hop
    (``base_llm``: the configured LLM reads even where the agent would not load it, an
    index-only agent's shipped base model)."""
    from kgagent.agents import Agent
    from kgagent.agents.builder import build_llm
    from kgagent.qa import evaluate

    out: dict = {"workspace": str(ws), "hops": {}}
    every: list[float] = []
    with Agent.open(ws, read_only=True) as agent:
        if base_llm:
            agent.llm = build_llm(agent.config.llm, agent.adapter_dir)
        agent.retrieve("warm up")
        for hop, pairs in questions["hops"].items():
            qs, gold = [q for q, _ in pairs], [a for _, a in pairs]
            t0, answers = time.perf_counter(), []
            for b in range(0, len(qs), 32):
                answers += agent.ask_batch(qs[b : b + 32])
            seconds = time.perf_counter() - t0
            m = evaluate(
                [a.labels for a in answers], gold, abstained=[a.abstained for a in answers]
            )
            m["questions_per_s"] = len(qs) / seconds if seconds else 0.0
            lat = []
            for q in qs[:latency_n]:
                t = time.perf_counter()
                agent.ask(q)
                lat.append((time.perf_counter() - t) * 1000)
            out["hops"][str(hop)] = {**m, **_latency(lat)}
            every += lat
            print(f"  {hop}-hop: {_brief(out['hops'][str(hop)])}", file=sys.stderr)
    return {**out, **_latency(every)}


def eval_kaping(ws: Path, questions: dict, args) -> dict:
    """KAPING with our parts (bench/_kaping.py) over the untrained workspace's index."""
    import _kaping

    from kgagent.agents import Agent

    generator = _kaping.Generator(max_new_tokens=args.max_new_tokens, batch_size=args.gen_batch)
    out: dict = {
        "workspace": str(ws),
        "facts": args.kaping_facts,
        "k": args.kaping_k,
        "prompt": _kaping.conversation("QUESTION", ["FACT 1", "..."]),
        "hops": {},
    }
    every: list[float] = []
    dump = []
    with Agent.open(ws, read_only=True) as agent:
        for hop, pairs in questions["hops"].items():
            m, rows = _kaping.run(
                agent,
                generator,
                [q for q, _ in pairs],
                [a for _, a in pairs],
                k=args.kaping_k,
                facts=args.kaping_facts,
                latency_n=args.latency_n,
            )
            lat = m.pop("latencies_ms")
            out["hops"][str(hop)] = {**m, **_latency(lat)}
            every += lat
            dump += [{"hops": hop, **r} for r in rows]
            print(f"  {hop}-hop: {_brief(out['hops'][str(hop)])}", file=sys.stderr)
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in dump)
    return {**out, **_latency(every)}


def _brief(m: dict) -> str:
    keys = ("questions", "hits_at_1", "contains", "f1", "abstention_rate", "latency_p50_ms")
    return ", ".join(
        f"{k} {m[k]:.3f}" if isinstance(m[k], float) else f"{k} {m[k]}" for k in keys if k in m
    )


def training_seconds(system: str, ws: Path | None) -> float | None:
    """The system's training time: ``runs/train.json`` (``Agent.train``) for the trained
    workspace, ``build_report.json`` (policy + reader) for a bench/qa_metaqa.py build."""
    if system in ("untrained", "base_llm", "kaping"):
        return 0.0
    report = _read_json(ws / "runs" / "train.json") if ws else None
    if report is not None:
        return report.get("seconds")
    build = _read_json(ws / "build_report.json") if ws else None
    if not build or "policy_seconds" not in build:
        return None
    ft = build.get("finetune", {})
    reused = ft.get("train_seconds", 0) + ft.get("retrieve_seconds", 0)
    return build["policy_seconds"] + (reused if ft.get("reused") else build["finetune_seconds"])


def evaluate_systems(args, ws: Path, trained: Path | None, supervised: Path | None) -> dict:
    """Every requested system on the same questions; the results document."""
    split = args.split or (supervised / "qa_split.json" if supervised else None)
    questions = load_questions(args.dataset, args.data, split=split, limit=args.limit)
    wss = {"untrained": ws, "base_llm": ws, "kaping": ws, "trained": trained,
           "supervised": supervised}  # fmt: skip
    results: dict = {
        "dataset": args.dataset,
        "machine": machine(),
        "questions": {
            "source": questions["source"],
            "limit": args.limit,
            "per_hop": {str(h): len(p) for h, p in questions["hops"].items()},
        },
        "build": _read_json(ws / "runs" / "zeroshot_build.json"),
        "train": _read_json(trained / "runs" / "train.json") if trained else None,
        "systems": {},
    }
    for name in args.systems:
        if wss[name] is None:
            print(f"{name}: skipped (no workspace given)", file=sys.stderr)
            continue
        print(f"{name} ({wss[name]}):", file=sys.stderr)
        t = time.perf_counter()
        res = (
            eval_kaping(ws, questions, args)
            if name == "kaping"
            else eval_agent(
                wss[name], questions, latency_n=args.latency_n, base_llm=name == "base_llm"
            )
        )
        res["per_hop"] = results["questions"]["per_hop"]
        res["eval_seconds"] = time.perf_counter() - t
        res["train_seconds"] = training_seconds(name, wss[name])
        res["f1"] = statistics.mean(h["f1"] for h in res["hops"].values())
        results["systems"][name] = res
    results["peak_rss_mib"] = peak_rss_mib()
    return results


def save(results: dict, *, dry_run: bool) -> None:
    """Writes bench/results/zeroshot_{dataset}.json (the systems of an earlier run on the
    same questions kept where this run did not evaluate them) and the docs section."""
    if dry_run:
        print(json.dumps(results, indent=2, default=str))
        print(render({results["dataset"]: results}))
        return
    name = f"zeroshot_{results['dataset']}"
    old = _read_json(RESULTS / f"{name}.json")
    # the same sample: a system measured on fewer questions (its first N per hop) stays,
    # and its row says how many
    if old and old.get("questions", {}).get("source") == results["questions"]["source"]:
        kept = {k: v for k, v in old.get("systems", {}).items() if k in SYSTEMS}
        results["systems"] = {**kept, **results["systems"]}
        results["build"] = results["build"] or old.get("build")
        results["train"] = results["train"] or old.get("train")
    write_results(name, results)
    every = {d: _read_json(RESULTS / f"zeroshot_{d}.json") for d in DATASETS}
    update_doc_section("zeroshot", render({d: r for d, r in every.items() if r}))
    print(render({results["dataset"]: results}))


# -- rendering --------------------------------------------------------------------------


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return "none" if seconds == 0 else f"{seconds / 60:.1f} min"


def _cells(values) -> str:
    return " | ".join("–" if v is None else f"{v:.3f}" for v in values)


def render_dataset(r: dict) -> list[str]:
    """One dataset's table: a row per system, Hits@1 per hop, F1, training, latency."""
    hops = [int(h) for h in r["questions"]["per_hop"]]
    s = r["systems"]
    per_hop = ", ".join(f"{n} {h}-hop" for h, n in r["questions"]["per_hop"].items())
    lines = [
        f"### {DATASETS[r['dataset']]['name']}",
        "",
        f"{r['machine']['cores']} cores, "
        f"{r['machine']['date']}. Questions: {r['questions']['source']} ({per_hop}).",
    ]
    b = r.get("build")
    if b:
        lines[-1] += (
            f" The documented pathway with the default configuration: `init` "
            f"{b['init_seconds']:.0f} s, `load` ({b['triples']:,} triples) "
            f"{b.get('load_seconds', 0):.0f} s, `index` {b['index_seconds'] / 60:.1f} min."
        )
    t = r.get("train")
    if t:
        q, pol, rd = t.get("questions", {}), t.get("policy", {}), t.get("reader", {})
        lines[-1] += (
            f" `kgagent train`: {q.get('train', 0):,} synthesized questions "
            f"(+{q.get('valid', 0):,} for validation); zero-shot ranker "
            f"{t.get('zero_shot', {}).get('hits_at_1', 0):.3f} on them"
            + (
                f", path policy {pol['hits_at_1']:.3f} "
                f"({'used' if pol.get('used') else 'not used'})"
                if pol
                else ""
            )
            + (
                f", reader option accuracy {rd['option_accuracy_before']:.3f} -> "
                f"{rd['option_accuracy_after']:.3f} ({'kept' if rd.get('kept') else 'not kept'})"
                if rd
                else ""
            )
            + "."
        )
    k = s.get("kaping", {})
    if k:
        lines[-1] += (
            f" KAPING: the {k['k']} facts touching the linked entities most similar to the "
            "question (MiniLM), in KAPING's prompt, SmolLM2 greedy; Hits@1 counts the "
            "generation's first answer, the lenient row any gold answer it names."
            if k.get("facts") == "kaping"
            else f" KAPING with `Agent.retrieve`'s top {k['k']} facts."
        )
    head = " | ".join(f"{h}-hop" for h in hops)
    lines += [
        "",
        f"| system | {head} | F1 | abstain | training | p50 ms |",
        "|---|" + "---:|" * (len(hops) + 4),
    ]

    def row(label: str, m: dict, key: str = "hits_at_1") -> str:
        hits = _cells(m["hops"].get(str(h), {}).get(key) for h in hops)
        abstain = statistics.mean(x.get("abstention_rate", 0) for x in m["hops"].values())
        return (
            f"| {label} | {hits} | {m['f1']:.3f} | {abstain:.3f} "
            f"| {_minutes(m.get('train_seconds'))} | {m.get('latency_p50_ms', 0):.0f} |"
        )

    def label(name: str) -> str:
        text = LABELS[name].format(k=s[name].get("k", 10))
        n = s[name].get("per_hop")
        if n and n != r["questions"]["per_hop"]:
            text += f" ({next(iter(n.values()))} per hop)"
        return text

    for name in SYSTEMS:
        if name in s:
            lines.append(row(label(name), s[name]))
        if name == "kaping" and name in s:
            hits = _cells(s[name]["hops"].get(str(h), {}).get("contains") for h in hops)
            lines.append(f"| {LABELS['kaping_contains']} | {hits} | | | | |")
    blank = " | | | |"
    if r["dataset"] == "metaqa":
        lines.append(
            f"| KAPING with GPT-3.5 (published, re-run by others) | "
            f"{_cells(KAPING_GPT35.get(h) for h in hops)} |{blank}"
        )
        for label, bar in TARGETS.items():
            vals = [bar[h - 1] if 1 <= h <= 3 else None for h in hops]
            lines.append(f"| issue 18: {label} | {_cells(vals)} |{blank}")
    return lines


def render(by_dataset: dict[str, dict]) -> str:
    lines = [
        "## No QA data: MetaQA / PathQuestion (`bench/zeroshot.py`)",
        "",
        "No question of the benchmark is used for training: the trained agent learns "
        "from questions synthesized from its own graph. The supervised build trains on "
        "labelled benchmark questions; every system is asked the same held-out "
        "questions. Training: wall time of `Agent.train` (or of the supervised build's "
        "policy and reader); p50: one question at a time.",
    ]
    for dataset in DATASETS:
        if dataset in by_dataset:
            lines += ["", *render_dataset(by_dataset[dataset])]
    return "\n".join(lines)


# -- commands ---------------------------------------------------------------------------


def cmd_build(args) -> None:
    print(json.dumps(build_workspace(Path(args.workspace), args.dataset, args.data), indent=2))


def cmd_eval(args) -> None:
    ws = Path(args.workspace)
    trained = Path(args.trained) if args.trained else None
    supervised = Path(args.supervised) if args.supervised else None
    save(evaluate_systems(args, ws, trained, supervised), dry_run=args.dry_run)


def cmd_run(args) -> None:
    """build (or reuse) -> copy -> ``Agent.train`` (or reuse) -> eval of every system."""
    from kgagent.agents import Agent

    root = Path(args.root)
    untrained, trained = root / "untrained", root / "trained"
    if not (untrained / "runs" / "zeroshot_build.json").is_file():
        build_workspace(untrained, args.dataset, args.data)
    if args.retrain or not (trained / "runs" / "train.json").is_file():
        if trained.exists():
            shutil.rmtree(trained)
        shutil.copytree(untrained, trained)
        with Agent.open(trained) as agent:
            t = time.perf_counter()
            report = agent.train(questions=args.questions, reader_steps=args.steps, progress=True)
            print(f"{report}\n(train wall {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    supervised = Path(args.supervised) if args.supervised else None
    save(evaluate_systems(args, untrained, trained, supervised), dry_run=args.dry_run)


def _systems(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SYSTEMS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown systems {bad}; expected {list(SYSTEMS)}")
    return names


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    parsers = {name: sub.add_parser(name) for name in ("build", "eval", "run")}
    for p in parsers.values():
        p.add_argument("--dataset", choices=list(DATASETS), required=True)
        p.add_argument("--data", type=Path, default=SHARED)
    parsers["build"].add_argument("--workspace", required=True)
    parsers["eval"].add_argument("--workspace", required=True, help="the untrained workspace")
    parsers["eval"].add_argument("--trained", help="the workspace after `kgagent train`")
    parsers["run"].add_argument("--root", required=True, help="DIR/untrained, DIR/trained")
    parsers["run"].add_argument("--questions", type=int, default=2000, help="to synthesize")
    parsers["run"].add_argument("--steps", type=int, default=150, help="the reader's steps")
    parsers["run"].add_argument("--retrain", action="store_true", help="train DIR/trained anew")
    for p in (parsers["eval"], parsers["run"]):
        p.add_argument("--supervised", help="a bench/qa_metaqa.py (or pathquestion.py) build")
        p.add_argument(
            "--split",
            type=Path,
            help="qa_split.json whose held-out lists to ask (default: the supervised workspace's)",
        )
        p.add_argument("--limit", type=int, default=300, help="questions per hop")
        p.add_argument("--systems", type=_systems, default=list(SYSTEMS))
        p.add_argument(
            "--latency-n",
            type=int,
            default=50,
            help="questions per hop asked one at a time for latency",
        )
        p.add_argument(
            "--kaping-facts",
            choices=("kaping", "agent"),
            default="kaping",
            help="KAPING's ranking (similarity only) or Agent.retrieve's",
        )
        p.add_argument("--kaping-k", type=int, default=10)
        p.add_argument("--max-new-tokens", type=int, default=24)
        p.add_argument("--gen-batch", type=int, default=16)
        p.add_argument("--dump", type=Path, help="KAPING's facts and generations, JSON lines")
        p.add_argument("--dry-run", action="store_true", help="print; write no file")
    args = ap.parse_args()
    {"build": cmd_build, "eval": cmd_eval, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    main()
