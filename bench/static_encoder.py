"""The static encoder (distilled from MiniLM) against MiniLM: distillation time, encoding
speed, and dense retrieval quality on MetaQA.

Measures, in one process, on an indexed MetaQA workspace (its facts, and its stored
MiniLM vectors):

* distillation: ``StaticEncoder``'s first use, distilling the shipped all-MiniLM-L6-v2
  into a fresh cache directory (load, ~30k single-token forward passes, PCA, save), and a
  later load from the cache;
* encoding speed, facts/s: MiniLM (``SentenceTransformerEncoder``; ``precision="auto"`` as
  ``kgagent index`` runs it, and fp32) on ``--speed-facts`` distinct fact texts, the static
  encoder on all of them; medians of ``--repeats`` runs;
* recall@10 on ``--questions`` MetaQA 1-hop dev questions (brackets removed; a fixed sample,
  ``random.Random(0)`` as ``bench/retrieval.py``), by dense similarity alone (question
  vector . every fact vector, exact top 10; no linking, no graph): *answer* = a top-10 fact
  has a gold answer at one end; *gold fact* = it joins the topic entity and a gold answer.
  MiniLM's fact vectors are the workspace's stored ones (checked against its manifest);
* the same recall through the whole retrieval pipeline (``Agent.retrieve``: linking, graph
  expansion, relation relevance; no path policy, as the workspace's is trained on MiniLM
  question vectors): MiniLM on the workspace's own index, static on a copy of its graph
  indexed with ``encoder: static`` (that ``Agent.index``, linker included, is timed).

Run it alone on the machine: the load average at the start is recorded.

Usage: python bench/static_encoder.py --workspace WS [--questions 300]
    [--speed-facts 8192] [--repeats 3] [--dry-run]

Results: bench/results/static_encoder.json and a section of docs/benchmarks.md (neither
with ``--dry-run``); the table on stdout.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, machine, peak_rss_mib, update_doc_section, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BASE = "http://kgagent.local/kg/entity/"
K = 10


def questions(path: Path, limit: int, seed: int = 0) -> list[tuple[str, str, list[str]]]:
    """(question without brackets, topic label, gold answer labels), a fixed sample."""
    from kgagent.qa import read_qa

    rows = []
    for item in read_qa(path):
        q = item.question
        topic = q[q.index("[") + 1 : q.index("]")]
        rows.append((q.replace("[", "").replace("]", ""), topic, list(item.answers)))
    if limit and limit < len(rows):
        rows = random.Random(seed).sample(rows, limit)
    return rows


def term(label: str) -> str:
    """The N-Triples term of a MetaQA entity, as the fact table holds it."""
    return f"<{BASE}{quote(label, safe='')}>"


def recall(q_vecs: np.ndarray, f_vecs: np.ndarray, subj, obj, qs) -> dict:
    """Exact top-K facts per question by dot product; the two hit rates (see the docstring)."""
    scores = q_vecs @ f_vecs.T  # (q, n)
    top = np.argpartition(-scores, K, axis=1)[:, :K]  # (q, K), unordered
    answer = gold = 0
    for rows, (_, topic, answers) in zip(top, qs, strict=True):
        t, golds = term(topic), {term(a) for a in answers}
        ends = list(zip(subj[rows].tolist(), obj[rows].tolist(), strict=True))
        answer += any(s in golds or o in golds for s, o in ends)
        gold += any((s == t and o in golds) or (o == t and s in golds) for s, o in ends)
    return {"answer": answer / len(qs), "gold_fact": gold / len(qs)}


def speed(encoder, texts: list[str], repeats: int) -> dict:
    """Median facts/s of ``encoder.encode(texts)`` (after one warm-up on a few texts)."""
    encoder.encode(texts[:64])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        encoder.encode(texts)
        times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    return {"texts": len(texts), "seconds": s, "facts_per_s": len(texts) / s}


def distillation(static_root: Path) -> tuple[dict, Path]:
    """First use (distil + cache) and a later load, into ``static_root``; and the entry."""
    from kgagent.retrieval.static import cached_model

    t0 = time.perf_counter()
    model, where = cached_model(root=static_root)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    cached_model(root=static_root)
    return {
        "distill_s": first,
        "cached_load_s": time.perf_counter() - t0,
        "tokens_embedded": model.config["tokens_embedded"],
        "vocab": int(model.vectors.shape[0]),
        "dim": model.dim,
        "disk_mib": sum(f.stat().st_size for f in where.iterdir()) / 2**20,
    }, where


def pipeline(agent, qs) -> dict:
    """Recall@K of ``agent.retrieve`` (the two hit rates of :func:`recall`)."""
    answer = gold = 0
    for q, topic, answers in qs:
        facts = agent.retrieve(q, k=K).facts
        t, golds = term(topic)[1:-1], {term(a)[1:-1] for a in answers}  # bare IRIs
        answer += any(f.subject in golds or f.object in golds for f in facts)
        gold += any(
            (f.subject == t and f.object in golds) or (f.object == t and f.subject in golds)
            for f in facts
        )
    return {"answer": answer / len(qs), "gold_fact": gold / len(qs)}


def static_workspace(source: Path, target: Path, config) -> tuple[object, dict]:
    """A copy of ``source``'s graph, indexed with the static encoder as ``kgagent index
    --encoder static`` does (the fit to the graph included; timed)."""
    from kgagent.agents import Agent
    from kgagent.workspace import Workspace

    src, ws = Workspace(source), Workspace(target)
    for part in ("store", "vocab"):
        shutil.copytree(source / part, target / part)
    retrieval = config.retrieval.model_copy(update={"encoder": "static"})
    ws.write_config(config.model_copy(update={"retrieval": retrieval}))
    assert src.read_config().kg == ws.read_config().kg
    agent = Agent.open(target)
    t0 = time.perf_counter()
    report = agent.index()
    seconds = time.perf_counter() - t0
    fit = agent.encoder.model.config.get("fit", {})
    out = {"facts": report.facts, "seconds": seconds, "facts_per_s": report.facts / seconds}
    return agent, {**out, "fit": fit, "encoder": agent.encoder.name}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--workspace", type=Path, required=True,
        help="a MetaQA workspace (bench/qa_metaqa.py builds one), opened read-only",
    )  # fmt: skip
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--speed-facts", type=int, default=8192, help="MiniLM speed sample")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dry-run", action="store_true", help="write no results or docs")
    args = ap.parse_args()

    from kgagent.agents import Agent
    from kgagent.retrieval.encoder import SentenceTransformerEncoder
    from kgagent.retrieval.static import StaticEncoder
    from kgagent.workspace import Workspace

    out: dict = {"machine": machine(), "load_average_at_start": os.getloadavg()[0], "k": K}
    qs = questions(args.data / "metaqa" / "1-hop" / "qa_dev.txt", args.questions)
    q_texts = [q for q, _, _ in qs]
    out["questions"] = len(qs)
    ws = Workspace(args.workspace)
    config = ws.read_config()
    config = config.model_copy(update={"policy": config.policy.model_copy(update={"name": None})})
    with tempfile.TemporaryDirectory(prefix="kgstatic-") as tmp:
        out["distillation"], where = distillation(Path(tmp) / "cache")
        print("distillation:", out["distillation"], file=sys.stderr)
        static = StaticEncoder(path=where)  # what StaticEncoder() loads from the user cache

        with Agent(ws.open_kg(read_only=True), config=config, workspace=ws.root) as agent:
            minilm = agent.encoder
            assert isinstance(minilm, SentenceTransformerEncoder)
            retriever = agent.retriever
            facts, index = retriever.facts, retriever.index
            manifest = index.read_manifest(ws.index_dir / "vectors")
            if manifest.get("encoder") != minilm.name:
                sys.exit(f"{ws.root}: indexed with {manifest.get('encoder')}, not MiniLM")
            texts = facts.texts
            subj, obj = facts.column("s"), facts.column("o")
            out["facts"] = len(texts)
            out["minilm_precision"] = minilm.precision

            sample = random.Random(1).sample(sorted(set(texts)), min(args.speed_facts, len(texts)))
            out["speed_minilm"] = speed(minilm, sample, args.repeats)
            print("speed minilm:", out["speed_minilm"], file=sys.stderr)
            fp32 = SentenceTransformerEncoder(precision="fp32")
            out["speed_minilm_fp32"] = speed(fp32, sample, args.repeats)
            print("speed minilm fp32:", out["speed_minilm_fp32"], file=sys.stderr)
            del fp32
            out["speed_static"] = speed(static, texts, args.repeats)
            print("speed static:", out["speed_static"], file=sys.stderr)

            f_minilm = index.vectors(facts.ids)  # (n, 384), stored
            out["recall_minilm"] = recall(minilm.encode(q_texts), f_minilm, subj, obj, qs)
            del f_minilm
            f_static = static.encode(texts)  # (n, 256)
            out["recall_static"] = recall(static.encode(q_texts), f_static, subj, obj, qs)
            del f_static
            print("dense:", out["recall_minilm"], out["recall_static"], file=sys.stderr)
            out["pipeline_minilm"] = pipeline(agent, qs)
            s_agent, out["index_static"] = static_workspace(ws.root, Path(tmp) / "ws", config)
            print("index static:", out["index_static"], file=sys.stderr)
            with s_agent:  # the fitted encoder, dense alone, then the pipeline on its index
                fitted = s_agent.encoder
                f_fitted = fitted.encode(texts)  # (n, 256)
                out["recall_fitted"] = recall(fitted.encode(q_texts), f_fitted, subj, obj, qs)
                del f_fitted
                out["pipeline_fitted"] = pipeline(s_agent, qs)
        print("dense fitted:", out["recall_fitted"], file=sys.stderr)
        print("pipeline:", out["pipeline_minilm"], out["pipeline_fitted"], file=sys.stderr)
    for kind in ("recall", "pipeline"):
        for which in ("static", "fitted"):
            if f"{kind}_{which}" in out:
                out[f"{kind}_{which}_ratio"] = {
                    k: out[f"{kind}_{which}"][k] / max(out[f"{kind}_minilm"][k], 1e-9)
                    for k in out[f"{kind}_minilm"]
                }
    out["speedup"] = out["speed_static"]["facts_per_s"] / out["speed_minilm"]["facts_per_s"]
    out["peak_rss_mib"] = peak_rss_mib()
    table = render(out)
    if not args.dry_run:
        write_results("static_encoder", out)
        update_doc_section("static_encoder", table)
    print(table)


def render(r: dict) -> str:
    m, d = r["machine"], r["distillation"]
    sm, s32, ss = r["speed_minilm"], r["speed_minilm_fp32"], r["speed_static"]
    rm, rs, rr = r["recall_minilm"], r["recall_static"], r["recall_static_ratio"]
    rf, rfr = r["recall_fitted"], r["recall_fitted_ratio"]
    pm, pf, pr = r["pipeline_minilm"], r["pipeline_fitted"], r["pipeline_fitted_ratio"]
    ix = r["index_static"]
    fit = ix["fit"]
    return "\n".join(
        [
            "## Static encoder (`bench/static_encoder.py`)",
            "",
            f"{m['cores']} cores (load average {r['load_average_at_start']:.2f} at the start), "
            f"Python {m['python']}, {m['date']}. Static: all-MiniLM-L6-v2 distilled with "
            f"model2vec's recipe (PCA to {d['dim']}, Zipf SIF), {d['tokens_embedded']:,} of "
            f"{d['vocab']:,} word pieces; distilled in {d['distill_s']:.1f} s once, cached "
            f"({d['disk_mib']:.0f} MiB), loaded in {d['cached_load_s']:.2f} s after. Speed: "
            f"medians of {m['cores']}-core runs on MetaQA's {r['facts']:,} fact texts (MiniLM: "
            f"{sm['texts']:,} of them; `precision=auto` chose {r['minilm_precision']}). Recall: "
            f"{r['questions']} MetaQA 1-hop dev questions (brackets removed), top {r['k']} "
            "facts; *dense*: question vector against every fact vector alone (exact), "
            "*pipeline*: `Agent.retrieve` (linking, graph, relation relevance; no path "
            "policy). *answer*: a retrieved fact has a gold answer at one end; *gold fact*: "
            "it joins the topic and a gold answer. *Fitted*: the distilled model fitted to "
            "MiniLM on the graph's own facts, as `kgagent index --encoder static` does "
            "(`kgagent.retrieval.static_fit`; no question used).",
            "",
            "| encoder | dim | facts/s | dense: answer | dense: gold fact "
            "| pipeline: answer | pipeline: gold fact |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| MiniLM, {r['minilm_precision']} | 384 | {sm['facts_per_s']:,.0f} | "
            f"{rm['answer']:.3f} | {rm['gold_fact']:.3f} | {pm['answer']:.3f} | "
            f"{pm['gold_fact']:.3f} |",
            f"| MiniLM, fp32 | 384 | {s32['facts_per_s']:,.0f} | | | | |",
            f"| static, distilled only | {d['dim']} | {ss['facts_per_s']:,.0f} | "
            f"{rs['answer']:.3f} | {rs['gold_fact']:.3f} | | |",
            f"| static, fitted to the graph (`encoder: static`) | {d['dim']} | "
            f"{ss['facts_per_s']:,.0f} | {rf['answer']:.3f} | {rf['gold_fact']:.3f} | "
            f"{pf['answer']:.3f} | {pf['gold_fact']:.3f} |",
            f"| distilled / MiniLM | | {r['speedup']:.0f}x | {rr['answer']:.3f} | "
            f"{rr['gold_fact']:.3f} | | |",
            f"| fitted / MiniLM | | {r['speedup']:.0f}x | {rfr['answer']:.3f} | "
            f"{rfr['gold_fact']:.3f} | {pr['answer']:.3f} | {pr['gold_fact']:.3f} |",
            "",
            f"`Agent.index` of the MetaQA graph with the static encoder (the fit, the fact "
            f"table, {ix['facts']:,} fact vectors, the entity linker): {ix['seconds']:.1f} s, "
            f"of which the fit {sum(fit.get('seconds', {}).values()):.1f} s "
            f"({fit.get('facts_sampled', 0):,} facts sampled in "
            f"{fit.get('seconds', {}).get('sample', 0):.1f} s, MiniLM on them "
            f"{fit.get('seconds', {}).get('teacher', 0):.1f} s, {fit.get('steps', 0)} steps "
            f"{fit.get('seconds', {}).get('fit', 0):.1f} s; mean squared distance to the "
            f"teacher {fit.get('distance_before', 0):.3f} -> {fit.get('distance_after', 0):.3f}). "
            f"Peak RSS of the run: {r['peak_rss_mib']:,.0f} MiB.",
        ]
    )


if __name__ == "__main__":
    main()
