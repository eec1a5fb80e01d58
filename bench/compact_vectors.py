"""Compact fact vectors (issue 24): float32 flat (exact, the peer) against float16 flat,
HNSW (float32 and float16) and IVF-PQ (with and without OPQ), through ``FactIndex``.

Per storage kind: build time (vectors added in 65,536-row chunks, as a streaming build
adds them; IVF-PQ's training included), bytes per vector on disk, RSS after
``FactIndex.load`` (in a fresh child process, so nothing else is resident: the saved files
are mapped, not read), one-query search p50 (ms), recall@10 against exact float32 search
on held-out query vectors, and the index's own recall@10 as saved in its manifest (its
probe: stored vectors as queries). For IVF-PQ also a sweep of ``nprobe`` and ``refine``
on the built index (search settings: no retraining).

Data: real: the MiniLM vectors of the MetaQA facts saved in a workspace (read-only, never
written), ``--queries`` of them held out as queries; synthetic: ``--synthetic`` vectors
made from the real ones (a random real vector plus Gaussian noise, renormalized: cosine
~0.8 to its source, so the set keeps the real data's clusters), 1M by default.

Usage: nice -n 10 python bench/compact_vectors.py --vectors WS/index/vectors
    [--synthetic 1000000] [--queries 500] [--dry-run]

Results: bench/results/compact_vectors.json and a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, update_doc_section, write_results

K = 10
CHUNK = 65_536
#: name -> FactIndex keyword arguments (exact_max 0 forces the approximate kinds)
KINDS = {
    "float32 flat": {"storage": "float32"},
    "float16 flat": {"storage": "float16"},
    "float32 HNSW": {"storage": "float32", "exact_max": 0},
    "float16 HNSW": {"storage": "float16", "exact_max": 0},
    "IVF-PQ": {"storage": "pq"},
    "OPQ + IVF-PQ": {"storage": "pq", "pq": {"opq": True}},
}


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_child(directory: str, queries: str) -> None:
    """Child process: RSS before and after FactIndex.load, and after searching."""
    from kgagent.retrieval.index import FactIndex

    q = np.load(queries)
    FactIndex(q.shape[1]).search(q[:1], K)  # faiss and numpy loaded before the baseline
    before = rss_mib()
    index = FactIndex.load(directory)
    opened = rss_mib()
    for row in q:
        index.search(row, K)
    print(json.dumps({"rss_open_mib": opened - before, "rss_searched_mib": rss_mib() - before}))


def disk_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


def exact_top(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    import faiss

    _, ids = faiss.knn(queries, base, K, metric=faiss.METRIC_INNER_PRODUCT)  # (q, K)
    return ids


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)]))


def measure(name, kwargs, base, queries, exact, work: Path) -> dict:
    from kgagent.retrieval.index import FactIndex

    n, dim = base.shape
    index = FactIndex(dim, **kwargs)
    ids = np.arange(n, dtype=np.int64)
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK):
        index.add(ids[start : start + CHUNK], base[start : start + CHUNK])
    build_s = time.perf_counter() - t0
    found = index.search(queries, K)[1]
    times = []
    for row in queries[:300]:
        t = time.perf_counter()
        index.search(row, K)
        times.append((time.perf_counter() - t) * 1000)
    directory = work / name.replace(" ", "_")
    index.save(directory)
    manifest = FactIndex.read_manifest(directory)
    qfile = work / "queries.npy"
    out = subprocess.run(
        [sys.executable, __file__, "--open", str(directory), str(qfile)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    row = {
        "kind": index.kind,
        "n": n,
        "dim": dim,
        "build_s": round(build_s, 2),
        "disk_bytes_per_vector": round(disk_bytes(directory) / n, 1),
        "query_ms_p50": round(statistics.median(times), 3),
        "recall_at_10": round(recall(found, exact), 4),
        "probe_recall_at_10": manifest.get("recall_at_10"),
        **json.loads(out.stdout.strip().splitlines()[-1]),
    }
    if index.kind == "ivfpq":
        row["pq"] = manifest["pq"]
        row["train_s"] = manifest["train_seconds"]
        row["sweep"] = sweep(index, queries, exact, manifest["pq"])
    print(name, row, flush=True)
    shutil.rmtree(directory)
    return row


def sweep(index, queries, exact, pq: dict) -> list[dict]:
    """recall@10 and p50 ms at other nprobe / refine settings (search-time only)."""
    rows = []
    nlist = pq["nlist"]
    for nprobe in sorted({max(1, nlist // 64), max(1, nlist // 32), max(1, nlist // 16),
                          max(1, nlist // 8)}):  # fmt: skip
        for refine in (0, 50, 100, 200):
            index.configure(pq={**pq, "nprobe": nprobe, "refine": refine})
            found = index.search(queries, K)[1]
            times = []
            for row in queries[:200]:
                t = time.perf_counter()
                index.search(row, K)
                times.append((time.perf_counter() - t) * 1000)
            rows.append({"nprobe": nprobe, "refine": refine,
                         "recall_at_10": round(recall(found, exact), 4),
                         "query_ms_p50": round(statistics.median(times), 3)})  # fmt: skip
    index.configure(pq=pq)
    return rows


def run_set(label, base, queries, kinds, work: Path) -> dict:
    np.save(work / "queries.npy", queries)
    exact = exact_top(base, queries)
    return {name: measure(name, KINDS[name], base, queries, exact, work) for name in kinds}


def table(results: dict) -> str:
    lines = []
    for label, rows in results.items():
        first = next(iter(rows.values()))
        lines += [
            f"**{label}** ({first['n']:,} vectors x {first['dim']})",
            "",
            "| storage | kind | bytes/vector on disk | build s | RSS after open MiB | "
            "query p50 ms | recall@10 (held-out) | recall@10 (probe) |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in rows.items():
            lines.append(
                f"| {name} | {r['kind']} | {r['disk_bytes_per_vector']:,.0f} | {r['build_s']:.1f} "
                f"| {r['rss_open_mib']:.0f} | {r['query_ms_p50']:.2f} | {r['recall_at_10']:.3f} "
                f"| {r['probe_recall_at_10'] if r['probe_recall_at_10'] is not None else 'exact'} |"
            )
        lines.append("")
        for name, r in rows.items():
            if "sweep" in r:
                pq = r["pq"]
                lines.append(
                    f"{name} sweep (nlist {pq['nlist']}, {pq['bytes']} B codes; default nprobe "
                    f"{pq['nprobe']}, refine {pq['refine']}): "
                    + "; ".join(
                        f"nprobe {s['nprobe']}/refine {s['refine']}: {s['recall_at_10']:.3f} "
                        f"@ {s['query_ms_p50']:.2f} ms"
                        for s in r["sweep"]
                    )
                )
                lines.append("")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--open":
        open_child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--vectors", required=True, help="a workspace's index/vectors (read only), e.g. MetaQA's"
    )
    ap.add_argument("--synthetic", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    real = np.load(Path(args.vectors) / "vectors.npy", mmap_mode="r")  # read-only
    real = np.array(real, dtype=np.float32)
    held = rng.choice(len(real), size=args.queries, replace=False)
    keep = np.setdiff1d(np.arange(len(real)), held)
    results, load = {}, os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="compact_vectors.") as tmp:
        work = Path(tmp)
        label = f"MetaQA facts, MiniLM ({args.vectors})"
        results[label] = run_set(label, real[keep], real[held], list(KINDS), work)
        if args.synthetic:
            src = rng.integers(0, len(keep), size=args.synthetic + args.queries)
            syn = np.empty((len(src), real.shape[1]), dtype=np.float32)
            for s in range(0, len(src), CHUNK):
                part = real[keep][src[s : s + CHUNK]]
                part += rng.standard_normal(part.shape, dtype=np.float32) * 0.035
                syn[s : s + CHUNK] = part / np.linalg.norm(part, axis=1, keepdims=True)
            label = "synthetic: MetaQA vectors + noise"
            kinds = ["float32 flat", "float16 flat", "IVF-PQ", "OPQ + IVF-PQ"]
            results[label] = run_set(
                label, syn[: args.synthetic], syn[args.synthetic :], kinds, work
            )
    data = {"machine": machine(), "load_at_start": load, "results": results}
    print(table(results))
    if args.dry_run:
        return
    write_results("compact_vectors", data)
    update_doc_section(
        "compact_vectors",
        "## Compact vectors (issue 24)\n\n`bench/compact_vectors.py`, run with `nice -n 10` "
        f"on the shared 2-core machine (load average {load[0]:.1f} at the start), "
        f"{data['machine']['date']}. Build: vectors added in 65,536-row chunks (IVF-PQ: "
        "training on a 100k sample included). RSS after open: a fresh process, "
        "`FactIndex.load` only (files mapped). Recall@10 against exact float32 search, on "
        "held-out query vectors; the probe column is the index's own measurement, saved "
        "in its manifest.\n\n" + table(results),
    )


if __name__ == "__main__":
    main()
