"""KG embeddings, kgagent vs PyKEEN: wall time, peak RSS, filtered MRR / Hits@10.

Same model, dimension, epochs, batch size, negatives, loss, optimizer and learning rate on
both sides (sLCWA training, uniform negatives, filtered realistic-rank evaluation of the
test split), on Nations and UMLS from ../shared/data. Every run is its own process (peak
RSS per process); the two implementations alternate within each (dataset, model) so
load from other jobs on the machine hits both alike; medians over ``--repeats``. Then our
tuned defaults (``train(model=NAME)`` without options: 1-N training for DistMult/ComplEx,
early stopping) on UMLS, next to published results.

PyKEEN lives in its own venv, never in kgagent's dependencies::

    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -c constraints.txt "torch==2.13.0" -r bench/requirements-pykeen.txt
    .venv/bin/python bench/kge_vs_pykeen.py            # or --setup to create the venv

Writes bench/results/kge_vs_pykeen.json and the ``kge_vs_pykeen`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, ROOT, SHARED, machine, update_doc_section, write_results

BENCH_VENV = ROOT / "bench" / ".venv"
PYKEEN_PY = BENCH_VENV / "bin" / "python"
PYKEEN_WORKER = ROOT / "bench" / "_kge_pykeen_worker.py"

#: shared hyper-parameters per model (sLCWA, uniform negatives, Adam)
CONFIGS = {
    "transe": {"dim": 128, "loss": "margin", "margin": 1.0, "lr": 0.01},
    "distmult": {"dim": 128, "loss": "softplus", "lr": 0.01},
    "complex": {"dim": 128, "loss": "softplus", "lr": 0.01},
    "rotate": {"dim": 128, "loss": "nssa", "margin": 9.0, "lr": 0.01},
}
COMMON = {
    "epochs": 50,
    "batch_size": 256,
    "negatives": 32,
    "optimizer": "adam",
    "adversarial_temperature": 1.0,
    "margin": 1.0,
    "seed": 0,
}

#: published filtered results on UMLS (MRR, Hits@10) and where they come from
PUBLISHED_UMLS = [
    ("ConvE", 0.94, 0.99, "Dettmers et al. 2018 (AAAI), ConvE repository README"),
]


def job(dataset: str, model: str, threads: int, epochs: int | None) -> dict:
    d = SHARED / "linkpred" / dataset
    out = {**COMMON, **CONFIGS[model], "model": model, "threads": threads}
    out.update({split: str(d / f"{split}.txt") for split in ("train", "valid", "test")})
    if epochs:
        out["epochs"] = epochs
    return out


def run_worker(impl: str, spec: dict) -> dict:
    if impl == "pykeen":
        cmd = [str(PYKEEN_PY), str(PYKEEN_WORKER), json.dumps(spec)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} {spec['model']} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - t0
    return result


def worker(spec: dict) -> None:
    """One kgagent run (called in a subprocess): the same job as the PyKEEN worker."""
    import resource

    t_import = time.perf_counter()
    import torch

    from kgagent.embeddings import TripleSplits, train

    torch.set_num_threads(spec["threads"])
    import_seconds = time.perf_counter() - t_import
    started = time.perf_counter()
    data = TripleSplits.from_files(train=spec["train"], valid=spec["valid"], test=spec["test"])
    res = train(
        data=data,
        model=spec["model"],
        mode="slcwa",
        sampler="uniform",
        eval_every=0,  # fixed epochs, like the PyKEEN pipeline without a stopper
        progress=False,
        **{
            k: spec[k]
            for k in (
                "dim",
                "loss",
                "margin",
                "adversarial_temperature",
                "negatives",
                "optimizer",
                "lr",
                "epochs",
                "batch_size",
                "seed",
            )
        },
    )
    m = res.metrics
    print(
        json.dumps(
            {
                "impl": "kgagent",
                "wall_seconds": time.perf_counter() - started,
                "train_seconds": m["train_seconds"],
                "import_seconds": import_seconds,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "mrr": m["mrr"],
                "hits_at_1": m["hits_at_1"],
                "hits_at_3": m["hits_at_3"],
                "hits_at_10": m["hits_at_10"],
            }
        )
    )


def tuned_worker(spec: dict) -> None:
    """Our defaults (no options but the model) on one dataset, with early stopping."""
    import resource

    import torch

    from kgagent.embeddings import TripleSplits, train

    torch.set_num_threads(spec["threads"])
    started = time.perf_counter()
    data = TripleSplits.from_files(train=spec["train"], valid=spec["valid"], test=spec["test"])
    res = train(data=data, model=spec["model"], progress=False)
    m = res.metrics
    cfg = res.config
    print(
        json.dumps(
            {
                "wall_seconds": time.perf_counter() - started,
                "train_seconds": m["train_seconds"],
                "epochs": m["epochs"],
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "config": {
                    k: getattr(cfg, k)
                    for k in ("mode", "loss", "dim", "lr", "batch_size", "negatives")
                },
                **{k: m[k] for k in ("mrr", "hits_at_1", "hits_at_3", "hits_at_10")},
            }
        )
    )


def setup_venv() -> None:
    if not PYKEEN_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(PYKEEN_PY), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "-r", str(ROOT / "bench" / "requirements-pykeen.txt")], check=True)


def pykeen_version() -> str:
    out = subprocess.run(
        [
            str(PYKEEN_PY),
            "-c",
            "import pykeen, torch; print(pykeen.get_version(), torch.__version__)",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--tuned-worker", help=argparse.SUPPRESS)
    ap.add_argument("--setup", action="store_true", help="create bench/.venv with PyKEEN")
    ap.add_argument("--datasets", default="nations,umls")
    ap.add_argument("--models", default="transe,distmult,complex,rotate")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="override (quick checks)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    ap.add_argument("--no-tuned", action="store_true", help="skip the tuned UMLS section")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument(
        "--render-only", action="store_true", help="rewrite the doc section from the JSON"
    )
    ap.add_argument(
        "--update",
        action="store_true",
        help="replace only the rows of --models/--datasets in the existing results",
    )
    args = ap.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    if args.tuned_worker:
        return tuned_worker(json.loads(args.tuned_worker))
    if args.render_only:
        update_doc_section(
            "kge_vs_pykeen", render(json.loads((RESULTS / "kge_vs_pykeen.json").read_text()))
        )
        return
    if args.setup:
        setup_venv()
    if not PYKEEN_PY.exists():
        sys.exit("bench/.venv is missing: run with --setup (installs PyKEEN there, pinned)")

    rows = []
    for dataset in args.datasets.split(","):
        for model in args.models.split(","):
            spec = job(dataset, model, args.threads, args.epochs)
            runs: dict[str, list[dict]] = {"kgagent": [], "pykeen": []}
            for rep in range(args.repeats):  # seed = repeat; alternate who goes first
                order = ("pykeen", "kgagent") if rep % 2 == 0 else ("kgagent", "pykeen")
                for impl in order:
                    runs[impl].append(run_worker(impl, {**spec, "seed": rep}))
            row = {"dataset": dataset, "model": model, "config": spec, "runs": runs,
                   "measured": f"{time.strftime('%Y-%m-%d')}, {_cpu()}"}  # fmt: skip
            for impl, rs in runs.items():
                row[impl] = {
                    k: median(rs, k)
                    for k in ("wall_seconds", "train_seconds", "peak_rss_mib", "mrr", "hits_at_10")
                }
            row["speedup"] = row["pykeen"]["wall_seconds"] / row["kgagent"]["wall_seconds"]
            rows.append(row)
            print(_line(row), flush=True)

    tuned = []
    if not args.no_tuned:
        for model in args.models.split(","):
            spec = job("umls", model, args.threads, None)
            cmd = [sys.executable, __file__, "--tuned-worker", json.dumps(spec)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
            t = {"model": model, **json.loads(proc.stdout.strip().splitlines()[-1])}
            tuned.append(t)
            print(
                f"tuned umls {model}: MRR {t['mrr']:.3f} H@10 {t['hits_at_10']:.3f} "
                f"{t['train_seconds']:.1f}s {t['config']}",
                flush=True,
            )

    data = {
        "machine": machine(),
        "pykeen_and_torch": pykeen_version(),
        "threads": args.threads,
        "repeats": args.repeats,
        "rows": rows,
        "tuned_umls": tuned,
        "published_umls": [
            {"model": m, "mrr": mrr, "hits_at_10": h10, "source": src}
            for m, mrr, h10, src in PUBLISHED_UMLS
        ],
    }
    if args.no_write:
        return
    if args.update and (RESULTS / "kge_vs_pykeen.json").exists():
        data = merge(json.loads((RESULTS / "kge_vs_pykeen.json").read_text()), data)
    path = write_results("kge_vs_pykeen", data)
    update_doc_section("kge_vs_pykeen", render(data))
    print(f"-> {path}")


def _cpu() -> str:
    """The CPU model (rows measured on different days may be on different machines)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def merge(old: dict, new: dict) -> dict:
    """The old results with the rows (and tuned entries) this run measured replaced."""
    fresh = {(r["dataset"], r["model"]): r for r in new["rows"]}
    rows = [fresh.pop((r["dataset"], r["model"]), r) for r in old["rows"]] + list(fresh.values())
    new_tuned = {t["model"]: t for t in new["tuned_umls"]}
    tuned = [new_tuned.pop(t["model"], t) for t in old["tuned_umls"]] + list(new_tuned.values())
    updated = [f"{r['dataset']}/{r['model']}" for r in new["rows"]]
    updated += [f"tuned/{t['model']}" for t in new["tuned_umls"]]
    return {**new, "rows": rows, "tuned_umls": tuned, "updated_in_last_run": updated}


def _line(row: dict) -> str:
    k, p = row["kgagent"], row["pykeen"]
    return (
        f"{row['dataset']:8s} {row['model']:9s} ours {k['wall_seconds']:7.2f}s "
        f"MRR {k['mrr']:.3f} H@10 {k['hits_at_10']:.3f} {k['peak_rss_mib']:.0f}MiB | "
        f"pykeen {p['wall_seconds']:7.2f}s MRR {p['mrr']:.3f} H@10 {p['hits_at_10']:.3f} "
        f"{p['peak_rss_mib']:.0f}MiB | {row['speedup']:.2f}x"
    )


def render(data: dict) -> str:
    m = data["machine"]
    c = data["rows"][0]["config"] if data["rows"] else {}
    lines = [
        "## KG embeddings vs PyKEEN (`bench/kge_vs_pykeen.py`)",
        "",
        f"{m['cores']} cores, Python {m['python']}, {m['date']}; PyKEEN and torch "
        f"{data['pykeen_and_torch']} in `bench/.venv`. Both sides: sLCWA, uniform negatives, "
        f"Adam, {c.get('epochs')} epochs, batch {c.get('batch_size')}, "
        f"{c.get('negatives')} negatives per positive, {data['threads']} torch "
        "thread(s), each run its own process, implementations alternated; medians over "
        "seeds 0..runs-1 (the same on both sides). "
        "Time = data loading + training + filtered evaluation of the "
        "test split (both directions, realistic ranks), without interpreter start-up and "
        "imports. MRR / Hits@10 on the test split. Models as PyKEEN defines them (RotatE: L2 "
        "norm of the complex difference, kgagent's default `p=2`; TransE: L1, unit-norm "
        "entities); each library's own initialisation and default regularizer. Rows can be "
        "re-measured per model with `--update`; each row is one interleaved side-by-side "
        "run, on the day and CPU in its last column (speed-ups compare within a row).",
        "",
        "| dataset | model | dim | loss | lr | kgagent s | PyKEEN s | speed-up | kgagent RSS MiB "
        "| PyKEEN RSS MiB | kgagent MRR | PyKEEN MRR | kgagent H@10 | PyKEEN H@10 | runs "
        "| measured |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    spread = []
    for r in data["rows"]:
        k, p, cfg = r["kgagent"], r["pykeen"], r["config"]
        n = len(r["runs"]["kgagent"])
        lines.append(
            f"| {r['dataset']} | {r['model']} | {cfg['dim']} | {cfg['loss']} | {cfg['lr']} "
            f"| {k['wall_seconds']:.2f} | {p['wall_seconds']:.2f} | {r['speedup']:.2f}x "
            f"| {k['peak_rss_mib']:.0f} | {p['peak_rss_mib']:.0f} "
            f"| {k['mrr']:.3f} | {p['mrr']:.3f} | {k['hits_at_10']:.3f} | {p['hits_at_10']:.3f} "
            f"| {n} | {r.get('measured', '')} |"
        )
        if n >= 3:
            stats = {
                impl: (
                    statistics.mean(x["mrr"] for x in rs),
                    statistics.stdev(x["mrr"] for x in rs),
                )
                for impl, rs in r["runs"].items()
            }
            spread.append(
                f"{r['dataset']} {r['model']}, {n} seeds each: MRR mean ± sd kgagent "
                f"{stats['kgagent'][0]:.3f} ± {stats['kgagent'][1]:.3f}, PyKEEN "
                f"{stats['pykeen'][0]:.3f} ± {stats['pykeen'][1]:.3f}."
            )
    if spread:
        lines += ["", " ".join(spread)]
    if data["tuned_umls"]:
        lines += [
            "",
            "UMLS with kgagent's per-model defaults (`train(data=..., model=NAME)`, nothing "
            "else set; early stopping on validation MRR), next to published results:",
            "",
            "| model | training | MRR | Hits@1 | Hits@10 | train s | epochs |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for t in data["tuned_umls"]:
            cfg = t["config"]
            lines.append(
                f"| {t['model']} (kgagent) | {cfg['mode']}, {cfg['loss']}, dim {cfg['dim']} "
                f"| {t['mrr']:.3f} | {t['hits_at_1']:.3f} | {t['hits_at_10']:.3f} "
                f"| {t['train_seconds']:.1f} | {t['epochs']} |"
            )
        for p in data["published_umls"]:
            lines.append(
                f"| {p['model']} (published) | {p['source']} | {p['mrr']:.2f} | | "
                f"{p['hits_at_10']:.2f} | | |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
