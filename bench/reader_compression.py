"""A compressed reader (issue 24 item 5): SmolLM2-135M-Instruct in fp32, bf16 and dynamic
int8 (``llm.quantize: int8``), compared on speed at equal Hits@1.

    python bench/reader_compression.py --workspaces SUPERVISED,UNTRAINED [--questions 100]
        [--variants fp32,bf16,int8] [--latency-questions 30] [--batch 32] [--dry-run]

Each (workspace, variant) runs in a fresh process (``worker``), so load time and memory
are the variant's own: the agent is opened read-only (nothing in the workspace is
written), its reader prompts built from the questions' evidence, then the variant loaded
(its adapter merged first, as ``Agent`` does), then measured:

- ``load_s``, ``rss_model_mib``: the model's load time and the RSS it added (measured
  after one warm-up ``choose``: mapped weights count once touched), and again after
  glibc's ``malloc_trim`` (what the swap freed, if the allocator kept it);
- ``choose_ms_single`` p50/p90: one question's prompts per ``choose`` call, as ``ask``
  sends them (its candidates share their prefix), on ``--latency-questions`` per hop;
- ``choose_ms_per_q_batched``: ``--batch`` questions per call, as ``ask_batch`` sends a
  chunk, call time / questions (p50 over calls), on every question;
- ``hits_at_1`` per hop: ``agent.ask_batch`` in chunks of ``--batch``, with the agent's
  own configuration (path policy, decisive cascade, typed programs); ``llm_share``: the
  share of questions whose prompts reached the LLM there (the rest never read it);
- ``agree_top``, ``max_abs_odds``: against fp32 on the same prompts, the share of
  questions whose best candidate (yes-no log-odds) is the same, and the largest change
  of a log-odds.

Questions: MetaQA dev, brackets removed, a fixed sample (``random.Random(7)``, as
bench/zeroshot.py) of ``--questions`` per hop from the held-out lists of ``--split``
(no workspace trained on them). Results: bench/results/reader_compression.json and a
section of docs/benchmarks.md (``--dry-run``: print only). Run it alone on the machine:
the figures are timings.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, machine, peak_rss_mib, update_doc_section, write_results

HOPS = (1, 2, 3)
#: variant -> TransformersLM arguments
VARIANTS = {
    "fp32": {"precision": "fp32", "quantize": "none"},
    "bf16": {"precision": "bf16", "quantize": "none"},
    "int8": {"precision": "auto", "quantize": "int8"},
    # not an llm option: int8 but the MLP's down_proj kept fp32 (its inputs carry the
    # largest activation outliers), quantized here after an fp32 load
    "int8-keep-down": {"precision": "fp32", "quantize": "none"},
}
KEEP = {"int8-keep-down": ("lm_head", "down_proj")}


def rss_mib() -> float:
    """Current resident set size, MiB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def held_out(data: Path, split: Path, n: int) -> dict[int, list]:
    """Per hop, ``n`` held-out MetaQA dev items (the sample bench/zeroshot.py draws)."""
    from kgagent.qa import read_qa

    heldout = json.loads(split.read_text())["heldout"]
    out = {}
    for hop in HOPS:
        items = read_qa(data / "metaqa" / f"{hop}-hop" / "qa_dev.txt")
        held = [items[i] for i in heldout[str(hop)]]
        out[hop] = random.Random(7).sample(held, min(1000, len(held)))[:n]
    return out


class Counting:
    """The LLM, noting the questions whose prompts ``choose`` receives (their first line,
    ``Question: ...``)."""

    def __init__(self, llm) -> None:
        self.llm, self.questions = llm, set()

    def choose(self, conversations, options):
        self.questions |= {c[-1]["content"].split("\n")[0] for c in conversations}
        return self.llm.choose(conversations, options)

    def __getattr__(self, name):
        return getattr(self.llm, name)


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def worker(args) -> None:
    """One variant on one workspace, in its own process; writes its JSON to ``--out``."""
    from kgagent.agents import Agent
    from kgagent.llm.hf import TransformersLM, quantize_int8
    from kgagent.llm.prompt import MAX_OPTIONS, NO, YES, conversation, prompt_question
    from kgagent.qa import evaluate

    items = held_out(args.data, args.split, args.questions)
    out: dict = {"hops": {}}
    with Agent.open(args.workspace, read_only=True) as agent:
        cfg = agent.config.llm
        qs = {h: [it.question.replace("[", "").replace("]", "") for it in items[h]] for h in HOPS}
        prompts = {}
        for h in HOPS:  # each question's reader prompts, as candidate_logits builds them
            evs = agent.retriever.evidence(qs[h])
            prompts[h] = [[conversation(ev.question, c) for c in ev.candidates[:MAX_OPTIONS]]
                          for ev in evs]  # fmt: skip
        rss0 = rss_mib()
        t0 = time.perf_counter()
        lm = TransformersLM(cfg.model, adapter=agent.adapter_dir, batch_size=cfg.batch_size,
                            **VARIANTS[args.variant])  # fmt: skip
        if args.variant in KEEP:
            lm.model = quantize_int8(lm.model, keep=KEEP[args.variant])
        out["load_s"] = round(time.perf_counter() - t0, 2)
        out["llm"] = repr(lm)
        lm.choose(prompts[1][0] or [[{"role": "user", "content": "warm up"}]], [YES, NO])
        gc.collect()
        # after a first pass: safetensors weights are mapped, and count once touched
        out["rss_model_mib"] = round(rss_mib() - rss0, 1)
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # heap freed by the int8 swap, given back
        out["rss_model_trimmed_mib"] = round(rss_mib() - rss0, 1)
        for h in HOPS:
            rows, single, batched = [], [], []
            for convs in prompts[h][: args.latency_questions]:
                if convs:
                    t = time.perf_counter()
                    lm.choose(convs, [YES, NO])
                    single.append((time.perf_counter() - t) * 1000)
            for b in range(0, len(prompts[h]), args.batch):
                chunk = prompts[h][b : b + args.batch]
                flat = [c for convs in chunk for c in convs]
                t = time.perf_counter()
                logp = lm.choose(flat, [YES, NO]) if flat else np.zeros((0, 2))
                batched.append((time.perf_counter() - t) * 1000 / len(chunk))
                odds, start = logp[:, 0] - logp[:, 1], 0
                for convs in chunk:
                    rows.append([round(float(x), 4) for x in odds[start : start + len(convs)]])
                    start += len(convs)
            counting = Counting(lm)
            agent.llm = counting
            answers = []
            t = time.perf_counter()
            for b in range(0, len(qs[h]), args.batch):
                answers += agent.ask_batch(qs[h][b : b + args.batch])
            ask_s = time.perf_counter() - t
            m = evaluate([a.labels for a in answers], [it.answers for it in items[h]])
            asked = [q for q in qs[h] if f"Question: {prompt_question(q)}" in counting.questions]
            out["hops"][h] = {
                "questions": len(qs[h]),
                "hits_at_1": round(m["hits_at_1"], 4),
                "llm_share": round(len(asked) / max(1, len(qs[h])), 3),
                "ask_batch_ms_per_q": round(ask_s * 1000 / max(1, len(qs[h])), 1),
                "prompts_per_q": round(sum(map(len, prompts[h])) / max(1, len(qs[h])), 2),
                "choose_ms_single": {"p50": _p(single, 50), "p90": _p(single, 90)},
                "choose_ms_per_q_batched": _p(batched, 50),
                "odds": rows,
            }
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    Path(args.out).write_text(json.dumps(out))


def compare(runs: dict) -> None:
    """Adds, per variant and hop, its agreement with fp32 on the same prompts."""
    for variants in runs.values():
        base = variants.get("fp32")
        for res in variants.values():
            for h, r in res["hops"].items():
                ref = base["hops"][h]["odds"] if base else None
                if ref is None:
                    continue
                pairs = [(a, b) for a, b in zip(r["odds"], ref, strict=True) if a]
                r["agree_top"] = round(
                    float(np.mean([np.argmax(a) == np.argmax(b) for a, b in pairs])), 3
                ) if pairs else None  # fmt: skip
                r["max_abs_odds"] = round(
                    max((float(np.max(np.abs(np.subtract(a, b)))) for a, b in pairs), default=0), 3
                )


def render(results: dict) -> str:
    head = (
        "| workspace | reader | load s | model RSS MiB (trimmed) "
        "| choose ms/q single p50 (1/2/3-hop) "
        "| choose ms/q batched | Hits@1 1/2/3-hop | LLM share | top agrees with fp32 |"
    )
    lines = [head, "|" + "---|" * 9]
    for ws, variants in results["runs"].items():
        for name, r in variants.items():
            hops = [r["hops"][str(h)] for h in HOPS]  # JSON keys, from the workers
            lines.append(
                f"| {Path(ws).name} | {name} | {r['load_s']} | "
                f"{r['rss_model_mib']} ({r['rss_model_trimmed_mib']}) | "
                + "/".join(str(x["choose_ms_single"]["p50"]) for x in hops) + " | "
                + "/".join(str(x["choose_ms_per_q_batched"]) for x in hops) + " | "
                + "/".join(f"{x['hits_at_1']:.3f}" for x in hops) + " | "
                + "/".join(f"{x['llm_share']:.2f}" for x in hops) + " | "
                + "/".join(str(x.get("agree_top", "-")) for x in hops) + " |"
            )  # fmt: skip
    return "\n".join(lines)


def run(args) -> dict:
    runs: dict = {}
    for ws in args.workspaces.split(","):
        runs[ws] = {}
        for variant in args.variants.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "out.json"
                worker_args = ["--workspace", ws, "--variant", variant, "--out", str(out)]
                cmd = [sys.executable, __file__, "worker", *worker_args, *_shared_args(args)]
                print(f"{Path(ws).name} {variant} ...", flush=True)
                subprocess.run(cmd, check=True)
                runs[ws][variant] = json.loads(out.read_text())
    compare(runs)
    return {
        "machine": machine(),
        "questions": {
            "per_hop": args.questions,
            "source": "MetaQA dev held-out",
            "split": str(args.split),
            "latency_questions": args.latency_questions,
            "batch": args.batch,
        },
        "runs": runs,
    }


def _shared_args(args) -> list[str]:
    return ["--questions", str(args.questions), "--latency-questions",
            str(args.latency_questions), "--batch", str(args.batch), "--data", str(args.data),
            "--split", str(args.split)]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("mode", nargs="?", default="run", choices=["run", "worker"])
    ap.add_argument("--questions", type=int, default=100, help="per hop")
    ap.add_argument("--latency-questions", type=int, default=30, help="per hop, single calls")
    ap.add_argument("--batch", type=int, default=32, help="questions per ask_batch / choose")
    ap.add_argument(
        "--workspaces",
        help="comma-separated MetaQA workspaces (bench/qa_metaqa.py builds one), opened read-only",
    )  # fmt: skip
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument(
        "--split", type=Path, help="qa_split.json of held-out questions (default: the first "
        "workspace's, as bench/qa_metaqa.py writes it)",
    )  # fmt: skip
    ap.add_argument("--dry-run", action="store_true", help="print; write no results")
    ap.add_argument("--workspace", help=argparse.SUPPRESS)
    ap.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode == "run" and not args.workspaces:
        ap.error("--workspaces is required")
    if args.split is None and args.workspaces:
        args.split = Path(args.workspaces.split(",")[0]) / "qa_split.json"
    if args.mode == "worker":
        worker(args)
        return
    bad = set(args.variants.split(",")) - set(VARIANTS)
    if bad:
        ap.error(f"unknown variants {sorted(bad)}; expected {list(VARIANTS)}")
    results = run(args)
    table = render(results)
    print(table)
    if args.dry_run:
        return
    for variants in results["runs"].values():  # the per-question odds stay out of the file
        for r in variants.values():
            for h in r["hops"].values():
                h.pop("odds", None)
    write_results("reader_compression", results)
    update_doc_section("reader_compression", doc(results, table))


def doc(results: dict, table: str) -> str:
    m, q = results["machine"], results["questions"]
    return (
        "## Compressed reader: fp32, bf16, dynamic int8 (issue 24 item 5)\n\n"
        f"`python bench/reader_compression.py --questions {q['per_hop']}` "
        f"({m['cores']} cores, {m['date']}, Python {m['python']}). {q['per_hop']} held-out "
        "MetaQA dev questions per hop (brackets removed, `random.Random(7)`); SmolLM2-135M-"
        "Instruct, the workspace's adapter merged where it has one; each reader loaded in "
        "its own process. *single*: one question's prompts per `choose` call (as `ask`); "
        f"*batched*: {q['batch']} questions per call (as `ask_batch`), ms per question; "
        "Hits@1 from `agent.ask_batch` with the workspace's configuration; *LLM share*: "
        "questions whose prompts reached the LLM; *top agrees*: the best candidate is "
        "fp32's. *int8*: `llm.quantize: int8`; *int8-keep-down*: int8 with the MLP's "
        "`down_proj` left fp32 (a bench variant, not an option). Pruning was not tried: "
        "torch's dense kernels do not skip zero weights, so unstructured sparsity saves no "
        "time, and removing heads or layers of a 135M model needs retraining.\n\n" + table
    )


if __name__ == "__main__":
    main()
