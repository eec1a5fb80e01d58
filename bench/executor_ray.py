"""Encoding an index build locally vs on Ray actors (issue 24 item 4): a generated graph
(bench/_scale_graph.py), its facts' sentences encoded in the build's batches by each
executor, and the whole build's 'facts' stage (scan, verbalize, encode) with each.

    nice -n 10 .venv/bin/python bench/executor_ray.py --facts 100000 --encoder static

On one machine Ray only adds work (processes, pickling the texts and the vectors); the
executor is there to spread encoding over the machines of a cluster.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _scale_graph import write_graph

from kgagent.kg.graph import KnowledgeGraph
from kgagent.retrieval.artifacts import CHUNK_MB, RetrievalIndex
from kgagent.retrieval.encoder import get_encoder
from kgagent.retrieval.executors import LocalExecutor, RayExecutor
from kgagent.retrieval.fact_stream import chunk_sizes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--facts", type=int, default=100_000)
    ap.add_argument("--encoder", default="static")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    encoder = get_encoder(args.encoder)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.nt"
        write_graph(path, facts=args.facts, seed=0)
        kg = KnowledgeGraph()
        kg.load(path)
        built, _ = RetrievalIndex.build(kg, encoder, exact_max=10**9)
        texts = list(built.facts.texts)
        _, batch = chunk_sizes(CHUNK_MB, int(encoder.dim))
        batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]
        print(f"{len(texts):,} sentences, {len(batches)} batches of <= {batch:,}, {args.encoder}")
        t = time.perf_counter()
        with LocalExecutor(encoder) as local:
            n = sum(len(v) for v in local.encode_batches(batches))
        print(f"local: encode {time.perf_counter() - t:.2f} s ({n:,} vectors)")
        t = time.perf_counter()
        with RayExecutor(encoder=args.encoder, workers=args.workers) as pool:
            start = time.perf_counter() - t
            t = time.perf_counter()
            n = sum(len(v) for v in pool.encode_batches(batches))
            enc = time.perf_counter() - t
            print(f"ray x{args.workers}: start + load encoders {start:.2f} s, encode {enc:.2f} s")
            for name, ex in (("local", None), (f"ray x{args.workers}", pool)):
                _, report = RetrievalIndex.build(kg, encoder, exact_max=10**9, executor=ex)
                stage = next(s for s in report.stages if s.name == "facts")
                print(f"{name}: 'facts' stage {stage.seconds:.2f} s, build {report.seconds:.2f} s")
        kg.close()


if __name__ == "__main__":
    main()
