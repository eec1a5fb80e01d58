"""FactIndex flat vs HNSW on real fact embeddings: build time, latency, recall@10.

Reads the vectors of an indexed workspace (``kgagent index WS``; e.g. MetaQA's 129k facts)
and compares kgagent's exact index with its HNSW index at several ``ef_search`` values.
Queries are stored vectors plus noise (norm 0.1), as paraphrased questions land near facts.

Usage: python bench/faiss_index.py WORKSPACE [--queries 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, update_doc_section, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    from kgagent.retrieval.index import FactIndex

    stored = FactIndex.load(args.workspace / "index" / "vectors")
    ids = stored.ids()
    vecs = stored.vectors(ids)  # (n, d)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(ids), args.queries, replace=False)
    noise = rng.normal(size=(args.queries, vecs.shape[1])).astype(np.float32)
    queries = vecs[pick] + 0.1 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    out: dict = {"machine": machine(), "facts": len(ids), "dim": int(vecs.shape[1])}
    t0 = time.perf_counter()
    flat = FactIndex(vecs.shape[1], exact_max=len(ids) + 1)
    flat.add(ids, vecs)
    out["flat_build_s"] = time.perf_counter() - t0
    _, truth = flat.search(queries, 10)
    out["flat_p50_ms"] = _latency(flat, queries)
    t0 = time.perf_counter()
    hnsw = FactIndex(vecs.shape[1], exact_max=1)
    hnsw.add(ids, vecs)
    out["hnsw_build_s"] = time.perf_counter() - t0
    out["hnsw"] = []
    for ef in (64, 128, 256):
        hnsw.ef_search = ef
        _, got = hnsw.search(queries, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth, strict=True)])
        out["hnsw"].append(
            {"ef_search": ef, "recall_at_10": float(recall), "p50_ms": _latency(hnsw, queries)}
        )
    write_results("faiss_index", out)
    update_doc_section("faiss_index", render(out))
    print(render(out))


def _latency(index, queries: np.ndarray, n: int = 200) -> float:
    times = []
    for q in queries[:n]:
        t0 = time.perf_counter()
        index.search(q[None, :], 10)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def render(r: dict) -> str:
    lines = [
        "## Fact index: exact vs HNSW (`bench/faiss_index.py`)",
        "",
        f"{r['facts']:,} MetaQA fact embeddings (kb.txt + 1,000 added facts), {r['dim']}-d, "
        f"{r['machine']['cores']} cores, {r['machine']['date']}. Single-query latency, k=10; "
        "recall@10 against the exact index.",
        "",
        "| index | build s | p50 ms | recall@10 |",
        "|---|---:|---:|---:|",
        f"| flat (exact) | {r['flat_build_s']:.1f} | {r['flat_p50_ms']:.2f} | 1.000 |",
    ]
    for h in r["hnsw"]:
        lines.append(
            f"| HNSW M=32, ef_search={h['ef_search']} | {r['hnsw_build_s']:.1f} | "
            f"{h['p50_ms']:.2f} | {h['recall_at_10']:.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
