"""Conversations (issue 21): follow-up questions that refer to the previous answer, leave
the topic unsaid, narrow the previous answers or switch to a new topic, asked through
``agent.conversation()`` and scored per kind of turn, with the LLM and without it.

    python bench/dialogue.py --kb metaqa --ws WORKSPACE [-n 100] [--no-llm] [--seed 0]
    python bench/dialogue.py --kb demo [--ws WORKSPACE] [-n 100] [--no-llm]
    python bench/dialogue.py --kb metaqa --generate-only OUT.jsonl [-n 100]

The dev set is generated from the KB (``bench/_dialogue_gen.py``): up to ``-n``
conversations per follow-up kind (reference, ellipsis, refinement, switch), each a first
turn and one or two follow-ups, phrased with this bench's own wording
(``bench/_dialogue_words.py``), every turn's answers computed with plain Python sets over
the triples, independently of the agent's code. A line is ``{"kind", "turns": [questions],
"gold": [a record per turn]}``; its ``turns`` are what ``kgagent ask --conversations``
reads. ``--kb metaqa`` reads ../shared/data/metaqa/kb.txt (``--kb-file`` another copy);
``--kb demo`` reads ontologies/movies.ttl and, without ``--ws``, builds a temporary
workspace from it as bench/complex_qa.py does.

Each conversation is asked as a user would, ``conv = agent.conversation()`` then
``conv.ask(turn)`` for each turn, and its first question once more on its own with
``agent.ask`` (before the conversation for even-numbered conversations, after it for odd
ones, so a cache warmed by either favours neither). Scored from
``answer.to_dict()["answers"]``:

- Hits@1 (the first answer is a gold one, after complex_qa's ``normalize``) and the
  exact-set F1, per kind of turn: ``first`` and each follow-up kind; the same for the
  first questions asked alone (``single``), which the issue wants first turns to match;
- latency: p50 / p95 of each kind's turns, and ``cost_ratio_p50``, the median over turns
  of a turn's time over its conversation's single ``ask`` (the issue wants <= 1.5);
  ``overhead_p50``, the median of a follow-up's time over asking the stand-alone
  questions it was resolved to (``Answer.context["asked"]``) on their own: what reading
  the conversation adds, apart from the resolved question being harder (a refinement
  is a question with two constraints).

Results: bench/results/dialogue_{kb}.json (a pass of an earlier run on the same
conversations and workspace is kept where this run did not make it), and a table on
stdout. Until the Conversation API exists, only ``--generate-only`` works: a run says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, peak_rss_mib, write_results
from _dialogue_gen import KINDS, generate
from _dialogue_words import TALKS
from complex_qa import (
    KBS,
    PASSES,
    _percentile,
    build_demo_workspace,
    digest,
    normalize,
    read_kb,
    write_jsonl,
)

TURN_KINDS = ("first", *KINDS)

# -- the dev set --------------------------------------------------------------------------


def sizes(convs: list[dict]) -> dict:
    """Conversations per kind, turns per kind of turn and per form, and conversations by
    their number of follow-ups."""
    turns = [t for c in convs for t in c["gold"]]
    forms: dict[str, int] = {}
    for t in turns:
        forms[t["form"]] = forms.get(t["form"], 0) + 1
    follow_ups: dict[str, int] = {}
    for c in convs:
        k = str(len(c["turns"]) - 1)
        follow_ups[k] = follow_ups.get(k, 0) + 1
    return {
        "conversations": {k: sum(c["kind"] == k for c in convs) for k in KINDS},
        "turns": {k: sum(t["kind"] == k for t in turns) for k in TURN_KINDS},
        "per_form": dict(sorted(forms.items())),
        "follow_ups": dict(sorted(follow_ups.items())),
    }


def make_dev_set(kb: str, kb_file: Path, *, n: int, seed: int) -> tuple[list[dict], float]:
    t = time.perf_counter()
    graph, _ = read_kb(kb, kb_file)
    convs = generate(graph, TALKS[kb], n=n, seed=seed)
    seconds = time.perf_counter() - t
    print(f"{len(convs)} conversations from {kb_file} in {seconds:.1f}s: "
          f"{sizes(convs)['turns']} turns", file=sys.stderr)  # fmt: skip
    return convs, seconds


# -- scoring ------------------------------------------------------------------------------


def score(predicted: list[str], gold: list[str]) -> dict:
    """One turn's answers against its gold: ``hits_at_1`` (the first answer is a gold
    one), the exact-set ``f1``, ``abstained`` (no answer)."""
    want = {normalize(x) for x in gold}
    got = {normalize(x) for x in predicted}
    both = len(got & want)
    return {
        "hits_at_1": float(bool(predicted) and normalize(predicted[0]) in want),
        "f1": 2 * both / (len(got) + len(want)) if both else 0.0,
        "abstained": not predicted,
    }


def _mean(values: list[float]) -> float | None:
    return statistics.mean(values) if values else None


def _scored(pairs: list[tuple[dict, list[str]]]) -> dict:
    """Hits@1, F1 and abstention over (gold turn, predicted answers) pairs."""
    scores = [score(p, g["answers"]) for g, p in pairs]
    return {
        "turns": len(pairs),
        "hits_at_1": _mean([s["hits_at_1"] for s in scores]),
        "f1": _mean([s["f1"] for s in scores]),
        "abstention_rate": _mean([s["abstained"] for s in scores]),
    }


def summarize(convs: list[dict], preds: list[dict]) -> dict:
    """Per kind of turn: Hits@1, F1, abstention, p50 / p95 latency and the median cost
    of a turn over its conversation's single ``ask``; the first questions asked alone
    (``single``); the macro mean Hits@1 over the follow-up kinds; and over every
    follow-up turn, the p50 latency and the median cost ratio."""
    by_kind: dict[str, list] = {k: [] for k in TURN_KINDS}
    for c, p in zip(convs, preds, strict=True):
        for g, t in zip(c["gold"], p["turns"], strict=True):
            by_kind[g["kind"]].append((g, t, p.get("single")))
    kinds: dict[str, dict] = {}
    for k, got in by_kind.items():
        if not got:
            continue
        ms = [t["ms"] for _, t, _ in got]
        ratios = [t["ms"] / s["ms"] for _, t, s in got if s and s["ms"] > 0]
        kinds[k] = {
            **_scored([(g, t["answers"]) for g, t, _ in got]),
            "latency_p50_ms": _percentile(ms, 0.5),
            "latency_p95_ms": _percentile(ms, 0.95),
            "cost_ratio_p50": _percentile(ratios, 0.5),
            "overhead_p50": _percentile(
                [t["ms"] / t["resolved_ms"] for _, t, _ in got if t.get("resolved_ms")], 0.5
            ),
        }
    singles = [(c["gold"][0], p["single"]) for c, p in zip(convs, preds, strict=True)
               if p.get("single")]  # fmt: skip
    single = _scored([(g, s["answers"]) for g, s in singles]) if singles else None
    if single:
        single["latency_p50_ms"] = _percentile([s["ms"] for _, s in singles], 0.5)
        single["latency_p95_ms"] = _percentile([s["ms"] for _, s in singles], 0.95)
    follow = [x for k in KINDS for x in by_kind[k]]
    return {
        "kinds": kinds,
        "single": single,
        "follow_up_hits_at_1": _mean([kinds[k]["hits_at_1"] for k in KINDS if k in kinds]),
        "follow_up_latency_p50_ms": _percentile([t["ms"] for _, t, _ in follow], 0.5),
        "cost_ratio_p50": _percentile(
            [t["ms"] / s["ms"] for _, t, s in follow if s and s["ms"] > 0], 0.5
        ),
        "overhead_p50": _percentile(
            [t["ms"] / t["resolved_ms"] for _, t, _ in follow if t.get("resolved_ms")], 0.5
        ),
    }


# -- asking -------------------------------------------------------------------------------


def require_conversations(agent) -> None:
    """Stops the run with a plain message where kgagent has no conversations yet."""
    if not callable(getattr(agent, "conversation", None)):
        raise SystemExit(
            "bench/dialogue.py: this kgagent's Agent has no conversation() (issue 21's "
            "Conversation API); only --generate-only works until it exists"
        )


def _timed(ask, question: str) -> dict:
    t = time.perf_counter()
    d = ask(question).to_dict()
    out = {"answers": d["answers"], "kind": d.get("kind"), "ms": (time.perf_counter() - t) * 1000}
    if "context" in d:
        out["context"] = d["context"]
    return out


def converse(agent, convs: list[dict], *, single: bool = True) -> list[dict]:
    """Every conversation through ``agent.conversation()``, turn by turn: each turn's
    answers, answer kind, ``context`` (where answers have one) and wall time; and its
    first question asked alone (``single``), before the conversation or after it on
    alternate conversations."""
    require_conversations(agent)
    preds: list[dict] = []
    for i, c in enumerate(convs):
        rec: dict = {}
        if single and i % 2 == 0:
            rec["single"] = _timed(agent.ask, c["turns"][0])
        conv = agent.conversation()
        rec["turns"] = [_timed(conv.ask, q) for q in c["turns"]]
        for t in rec["turns"]:  # the stand-alone questions it asked, asked alone
            asked = (t.get("context") or {}).get("asked")
            if asked:
                t0 = time.perf_counter()
                agent.ask_batch(asked)
                t["resolved_ms"] = (time.perf_counter() - t0) * 1000
        if single and i % 2 == 1:
            rec["single"] = _timed(agent.ask, c["turns"][0])
        preds.append(rec)
        print(f"  {i + 1}/{len(convs)}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return preds


def run_pass(ws: Path, convs: list[dict], *, llm: bool) -> tuple[dict, list[dict]]:
    """One pass over the conversations (``llm`` False: ``agent.llm = None``), after one
    untimed conversation that loads what the first question needs; (summary,
    predictions)."""
    from kgagent.agents import Agent

    t0 = time.perf_counter()
    with Agent.open(ws, read_only=True) as agent:
        require_conversations(agent)
        if not llm:
            agent.llm = None
        agent.retrieve("warm up")
        if convs:
            converse(agent, convs[:1], single=False)
        preds = converse(agent, convs)
    summary = summarize(convs, preds)
    summary["seconds"] = time.perf_counter() - t0
    return summary, preds


# -- results ------------------------------------------------------------------------------


def merge_previous(results: dict) -> dict:
    """An earlier run's passes on the same conversations and workspace are kept beside
    this run's."""
    path = RESULTS / f"dialogue_{results['kb']}.json"
    if not path.is_file():
        return results
    old = json.loads(path.read_text())
    same = (old.get("dataset", {}).get("sha256") == results["dataset"]["sha256"]
            and old.get("workspace") == results["workspace"])  # fmt: skip
    if same:
        results["passes"] = {**old.get("passes", {}), **results["passes"]}
    return results


def _cell(v, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def render(results: dict) -> str:
    """A markdown table: a row per kind of turn and one for the first questions asked
    alone; Hits@1, F1 and abstention per pass; the latency and the cost ratio of the
    pass without the LLM if it ran, else of the LLM pass."""
    passes = [p for p in PASSES if p in results["passes"]]
    lat = results["passes"]["no_llm" if "no_llm" in passes else passes[0]]
    head = ["turn", "turns"]
    for p in passes:
        head += [f"Hits@1 ({p})", f"F1 ({p})", f"abstain ({p})"]
    head += ["p50 ms", "p95 ms", "cost / single ask", "cost / its questions alone"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    rows = [(k, lambda s, k=k: s["kinds"].get(k)) for k in TURN_KINDS]
    rows.append(("single ask (first questions)", lambda s: s.get("single")))
    for name, get in rows:
        ms = [get(results["passes"][p]) for p in passes]
        if not any(ms):
            continue
        cells = [name, str(next(m for m in ms if m)["turns"])]
        for m in ms:
            m = m or {}
            cells += [_cell(m.get("hits_at_1")), _cell(m.get("f1")),
                      _cell(m.get("abstention_rate"))]  # fmt: skip
        lt = get(lat) or {}
        cells += [_cell(lt.get("latency_p50_ms"), "{:.0f}"),
                  _cell(lt.get("latency_p95_ms"), "{:.0f}"),
                  _cell(lt.get("cost_ratio_p50"), "{:.2f}x"),
                  _cell(lt.get("overhead_p50"), "{:.2f}x")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    macro = ["**follow-ups (macro)**", str(sum(results["dataset"]["turns"][k] for k in KINDS))]
    for p in passes:
        macro += [_cell(results["passes"][p]["follow_up_hits_at_1"]), "", ""]
    macro += [_cell(lat["follow_up_latency_p50_ms"], "{:.0f}"), "",
              _cell(lat["cost_ratio_p50"], "{:.2f}x"),
              _cell(lat.get("overhead_p50"), "{:.2f}x")]  # fmt: skip
    lines.append("| " + " | ".join(macro) + " |")
    return "\n".join(lines)


# -- the command --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kb_file = args.kb_file or KBS[args.kb]["file"]
    convs, gen_seconds = make_dev_set(args.kb, kb_file, n=args.n, seed=args.seed)
    if args.generate_only:
        write_jsonl(convs, args.generate_only)
        print(f"wrote {args.generate_only}", file=sys.stderr)
        return 0
    results, predictions = measure(args, kb_file, convs)
    results["dataset"]["generate_seconds"] = gen_seconds
    if args.dump:
        write_dump(args.dump, convs, predictions)
    save(results, dry_run=args.dry_run)
    return 0


def measure(args, kb_file: Path, convs: list[dict]) -> tuple[dict, dict[str, list]]:
    """Every pass over the conversations, on ``--ws`` or on a demo workspace built for
    the run; (the results document, each pass's predictions)."""
    from kgagent.agents import Agent

    require_conversations(Agent)  # before a demo workspace is built for nothing
    with tempfile.TemporaryDirectory(prefix="dialogue_") as tmp:
        ws, build = args.ws, None
        if ws is None:
            if args.kb != "demo":
                raise SystemExit("--ws: a workspace is needed (bench/qa_metaqa.py build)")
            ws = Path(tmp) / "demo"
            print(f"building a demo workspace in {ws}", file=sys.stderr)
            build = build_demo_workspace(ws, kb_file)
        results = {
            "kb": args.kb,
            "kb_file": str(kb_file),
            "workspace": str(args.ws) if args.ws else "temporary (built from the ontology)",
            "build": build,
            "machine": machine(),
            "seed": args.seed,
            "n_per_kind": args.n,
            "dataset": {"sha256": digest(convs), **sizes(convs)},
            "passes": {},
        }
        predictions: dict[str, list] = {}
        for name in ("no_llm",) if args.no_llm else ("llm", "no_llm"):
            print(f"{PASSES[name]}:", file=sys.stderr)
            results["passes"][name], predictions[name] = run_pass(ws, convs, llm=name == "llm")
    results["peak_rss_mib"] = peak_rss_mib()
    return results, predictions


def write_dump(path: Path, convs: list[dict], predictions: dict[str, list]) -> None:
    """Each conversation with each pass's answers per turn, for reading the failures."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, c in enumerate(convs):
            got = {name: preds[i] for name, preds in predictions.items()}
            fh.write(json.dumps({**c, "predicted": got}, ensure_ascii=False) + "\n")


def save(results: dict, *, dry_run: bool) -> None:
    """bench/results/dialogue_{kb}.json (``--dry-run``: printed instead), and the table."""
    if dry_run:
        print(json.dumps(results, indent=2))
    else:
        results = merge_previous(results)
        path = write_results(f"dialogue_{results['kb']}", results)
        print(f"wrote {path}", file=sys.stderr)
    print(render(results))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--kb", choices=sorted(KBS), required=True)
    p.add_argument("--kb-file", type=Path, help="another copy of the KB / ontology")
    p.add_argument("--ws", type=Path, help="the workspace to measure (opened read-only)")
    p.add_argument("-n", type=int, default=100, help="conversations per follow-up kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-llm", action="store_true", help="only the pass without the LLM")
    p.add_argument("--generate-only", type=Path, metavar="OUT.jsonl",
                   help="write the conversations and stop")  # fmt: skip
    p.add_argument("--dump", type=Path, help="a JSONL of every conversation and its answers")
    p.add_argument("--dry-run", action="store_true", help="print, write no results file")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("-n: at least 1 conversation per kind")
    return args


if __name__ == "__main__":
    sys.exit(main())
