"""Questions beyond one relation chain (issue 20): counts, yes/no, two constraints, a
value constraint, superlatives, comparisons and values, answered by an agent and scored
per type, with the LLM and without it.

    python bench/complex_qa.py --kb metaqa --ws WORKSPACE [-n 100] [--no-llm] [--seed 0]
    python bench/complex_qa.py --kb demo [--ws WORKSPACE] [-n 100] [--no-llm]
    python bench/complex_qa.py --kb metaqa --generate-only OUT.jsonl [-n 100]

The dev set is generated from the KB itself (``bench/_complex_gen.py``): up to ``-n``
questions of each type, phrased with this bench's own wording (``bench/_complex_words.py``),
their answers computed with plain Python sets over the triples, independently of the
agent's code. It is never used for training. ``--kb metaqa`` reads
../shared/data/metaqa/kb.txt (``--kb-file`` another copy); ``--kb demo`` reads
ontologies/movies.ttl and, without ``--ws``, builds a temporary workspace from it as the
demo does (``init``, ``load``, RDFS reasoning, ``index`` with the shipped MiniLM), with no
training.

Scoring, from ``answer.to_dict()["answers"]``:

- ``count``: the first answer is the number (``"7"``; "7.0" and "7" are equal);
- ``yes_no``: the first answer is "yes" / "no" as the gold;
- ``two_constraints``, ``value_constraint``, ``superlative``, ``comparison``: Hits@1
  (the first answer is a gold one), and the exact-set F1;
- ``value``: the first answer equals the value after case, spacing and numbers are
  normalized ("1,994" = "1994.0" = "1994").

Results: bench/results/complex_qa_{kb}.json (a pass of an earlier run on the same
questions and workspace is kept where this run did not make it), and a table on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import tempfile
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, SHARED, machine, peak_rss_mib, write_results
from _complex_gen import TYPES, generate
from _complex_kb import Graph, read_metaqa, read_rdf
from _complex_words import DEMO, DEMO_ITEM_CLASS, METAQA, Schema

ENTITY_TYPES = frozenset({"two_constraints", "value_constraint", "superlative", "comparison"})
ONTOLOGY = ROOT / "ontologies" / "movies.ttl"
KBS = {
    "metaqa": {"file": SHARED / "metaqa" / "kb.txt", "schema": METAQA},
    "demo": {"file": ONTOLOGY, "schema": DEMO},
}
PASSES = {"llm": "with the LLM", "no_llm": "without the LLM (agent.llm = None)"}


# -- the dev set --------------------------------------------------------------------------


def read_kb(kb: str, path: Path) -> tuple[Graph, Schema]:
    spec = KBS[kb]
    if kb == "metaqa":
        return read_metaqa(path), spec["schema"]
    return read_rdf(path, item_class=DEMO_ITEM_CLASS), spec["schema"]


def write_jsonl(rows: list[dict], path: Path) -> str:
    """Writes the set; returns its sha256 (a results file names the questions it holds)."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return digest(rows)


def digest(rows: list[dict]) -> str:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sizes(rows: list[dict]) -> dict:
    """Questions per type and per form (a type's sub-kinds: the role, the measure), and
    ``chain_chance``: per type whose answers lie on a plain chain from a topic (a
    person's films), the Hits@1 of answering with that chain's films in random order, the
    score a reader that cannot apply the constraint or the ordering gets by luck."""
    per_type = {t: sum(r["type"] == t for r in rows) for t in TYPES}
    forms: dict[str, int] = {}
    luck: dict[str, list[float]] = {}
    for r in rows:
        forms[r["form"]] = forms.get(r["form"], 0) + 1
        chain = r.get("spec", {}).get("chain")
        if chain:
            share = statistics.mean(len(r["answers"]) / k for k in chain)
            luck.setdefault(r["type"], []).append(share)
    return {
        "per_type": per_type,
        "per_form": dict(sorted(forms.items())),
        "chain_chance": {t: statistics.mean(v) for t, v in luck.items()},
    }


# -- scoring ------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")


def normalize(text: str) -> str:
    """Case and spacing folded, a final period dropped, a number in one spelling
    ("1,994.0" -> "1994")."""
    t = " ".join(str(text).casefold().split()).rstrip(".")
    if _NUMBER.fullmatch(t):
        try:
            return format(Decimal(t.replace(",", "")).normalize(), "f")
        except InvalidOperation:
            return t
    return t


def score(qtype: str, predicted: list[str], gold: list[str]) -> dict:
    """One answer against the gold, as its type requires (see the module docstring).

    Returns:
        ``correct`` (the type's accuracy), ``abstained`` (no answer), and for entity
        types ``hits_at_1`` and ``f1``.
    """
    if qtype not in TYPES:
        raise ValueError(f"type: unknown question type {qtype!r} (expected one of {TYPES})")
    first = normalize(predicted[0]) if predicted else None
    out: dict = {"abstained": not predicted}
    if qtype in ENTITY_TYPES:
        got, want = {normalize(x) for x in predicted}, {normalize(x) for x in gold}
        both = len(got & want)
        out["hits_at_1"] = float(first in want)
        out["f1"] = 2 * both / (len(got) + len(want)) if both else 0.0
        out["correct"] = bool(out["hits_at_1"])
    else:
        out["correct"] = first is not None and bool(gold) and first == normalize(gold[0])
    return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def summarize(rows: list[dict], predictions: list[dict]) -> dict:
    """Per type: questions, accuracy, abstention, Hits@1 / F1 (entity types), p50 / p95
    of the single ``ask`` calls timed, the mean time per question in ``ask_batch`` (a
    chunk's time shared by its questions); and the macro mean accuracy over the types."""
    out: dict = {}
    for t in TYPES:
        got = [(r, p) for r, p in zip(rows, predictions, strict=True) if r["type"] == t]
        if not got:
            continue
        scores = [score(t, p["answers"], r["answers"]) for r, p in got]
        lat = [p["ask_ms"] for _, p in got if "ask_ms" in p]
        m = {
            "questions": len(got),
            "accuracy": statistics.mean(s["correct"] for s in scores),
            "abstention_rate": statistics.mean(s["abstained"] for s in scores),
            "latency_p50_ms": _percentile(lat, 0.5),
            "latency_p95_ms": _percentile(lat, 0.95),
            "latency_timed": len(lat),
            "batch_ms_per_question": statistics.mean(p["batch_ms"] for _, p in got),
        }
        if t in ENTITY_TYPES:
            m["hits_at_1"] = statistics.mean(s["hits_at_1"] for s in scores)
            m["f1"] = statistics.mean(s["f1"] for s in scores)
        out[t] = m
    every = [p["ask_ms"] for p in predictions if "ask_ms" in p]
    return {
        "types": out,
        "macro_accuracy": statistics.mean(m["accuracy"] for m in out.values()) if out else None,
        "latency_p50_ms": _percentile(every, 0.5),
        "latency_p95_ms": _percentile(every, 0.95),
    }


# -- asking -------------------------------------------------------------------------------


def ask_all(agent, rows: list[dict], *, chunk: int, latency_n: int) -> list[dict]:
    """Every question through ``ask_batch``, ``chunk`` at a time: each answer's
    ``to_dict()["answers"]`` and ``latency_ms`` (in a batch, the chunk's time shared by
    its questions); and the wall time of a single ``ask`` (the latency a user sees) for
    the first ``latency_n`` questions of each type."""
    preds: list[dict] = []
    for b in range(0, len(rows), chunk):
        part = rows[b : b + chunk]
        for a in agent.ask_batch([r["question"] for r in part]):
            d = a.to_dict()
            preds.append({"answers": d["answers"], "batch_ms": d["latency_ms"]})
        print(f"  {len(preds)}/{len(rows)}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    timed: dict[str, int] = {}
    for r, p in zip(rows, preds, strict=True):
        if timed.get(r["type"], 0) < latency_n:
            timed[r["type"]] = timed.get(r["type"], 0) + 1
            t = time.perf_counter()
            agent.ask(r["question"])
            p["ask_ms"] = (time.perf_counter() - t) * 1000
    return preds


def run_pass(ws: Path, rows: list[dict], *, llm: bool, chunk: int, latency_n: int):
    """One pass over the set (``llm`` False: ``agent.llm = None``, the reader ranks
    without it); (summary, predictions)."""
    from kgagent.agents import Agent

    t0 = time.perf_counter()
    with Agent.open(ws, read_only=True) as agent:
        if not llm:
            agent.llm = None
        agent.retrieve("warm up")
        preds = ask_all(agent, rows, chunk=chunk, latency_n=latency_n)
    summary = summarize(rows, preds)
    summary["seconds"] = time.perf_counter() - t0  # with the timed single questions
    batch_seconds = sum(p["batch_ms"] for p in preds) / 1000
    summary["batch_questions_per_s"] = len(rows) / batch_seconds if batch_seconds else None
    return summary, preds


def build_demo_workspace(ws: Path, ontology: Path = ONTOLOGY) -> dict:
    """The demo's steps without its training: ``init``, ``load`` the ontology, RDFS
    reasoning, ``index`` (the default configuration: the shipped MiniLM encoder)."""
    from kgagent.agents import Agent
    from kgagent.workspace import init_workspace, open_kg

    t = time.perf_counter()
    root = init_workspace(ws)
    with open_kg(root) as kg:
        kg.load(ontology)
        kg.reason("rdfs")
        triples = len(kg)
    with Agent.open(root) as agent:
        index = str(agent.index(progress=True))
    return {"ontology": str(ontology), "triples": triples, "index": index,
            "seconds": time.perf_counter() - t}  # fmt: skip


# -- results ------------------------------------------------------------------------------


def merge_previous(results: dict) -> dict:
    """An earlier run's passes on the same questions and workspace are kept beside this
    run's (``--no-llm`` now, the LLM pass then)."""
    path = RESULTS / f"complex_qa_{results['kb']}.json"
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
    """A markdown table: a row per type, the Hits@1 a chain's films in random order get
    (``chance``), accuracy (and F1 for entity types) per pass, and the latency of single
    questions in the pass without the LLM if it ran, else in the LLM pass."""
    passes = [p for p in PASSES if p in results["passes"]]
    lat_pass = results["passes"]["no_llm" if "no_llm" in passes else passes[0]]
    chance = results["dataset"].get("chain_chance", {})
    head = ["type", "questions", "chance"]
    for p in passes:
        head += [f"accuracy ({p})", f"F1 ({p})", f"abstain ({p})"]
    head += ["p50 ms", "p95 ms"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for t in TYPES:
        ms = [results["passes"][p]["types"].get(t) for p in passes]
        if not any(ms):
            continue
        cells = [t, str(next(m for m in ms if m)["questions"]), _cell(chance.get(t))]
        for m in ms:
            m = m or {}
            cells += [_cell(m.get("accuracy")), _cell(m.get("f1")), _cell(m.get("abstention_rate"))]
        lt = lat_pass["types"].get(t, {})
        cells += [
            _cell(lt.get("latency_p50_ms"), "{:.0f}"),
            _cell(lt.get("latency_p95_ms"), "{:.0f}"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    macro = ["**macro mean**", str(sum(results["dataset"]["per_type"].values())), ""]
    for p in passes:
        macro += [_cell(results["passes"][p]["macro_accuracy"]), "", ""]
    macro += [
        _cell(lat_pass["latency_p50_ms"], "{:.0f}"),
        _cell(lat_pass["latency_p95_ms"], "{:.0f}"),
    ]
    lines.append("| " + " | ".join(macro) + " |")
    return "\n".join(lines)


# -- the command --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kb_file = args.kb_file or KBS[args.kb]["file"]
    rows, gen_seconds = make_dev_set(args.kb, kb_file, n=args.n, seed=args.seed)
    if args.generate_only or args.dataset_out:
        write_jsonl(rows, args.generate_only or args.dataset_out)
    if args.generate_only:
        print(f"wrote {args.generate_only}", file=sys.stderr)
        return 0
    results, predictions = measure(args, kb_file, rows)
    results["dataset"]["generate_seconds"] = gen_seconds
    if args.dump:
        write_dump(args.dump, rows, predictions)
    save(results, dry_run=args.dry_run)
    return 0


def make_dev_set(kb: str, kb_file: Path, *, n: int, seed: int) -> tuple[list[dict], float]:
    t = time.perf_counter()
    graph, schema = read_kb(kb, kb_file)
    rows = generate(graph, schema, n=n, seed=seed)
    seconds = time.perf_counter() - t
    print(f"{len(rows)} questions from {kb_file} in {seconds:.1f}s: "
          f"{sizes(rows)['per_type']}", file=sys.stderr)  # fmt: skip
    return rows, seconds


def measure(args, kb_file: Path, rows: list[dict]) -> tuple[dict, dict[str, list]]:
    """Every pass over the set, on ``--ws`` or on a demo workspace built for the run;
    (the results document, each pass's predictions)."""
    with tempfile.TemporaryDirectory(prefix="complex_qa_") as tmp:
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
            "n_per_type": args.n,
            "dataset": {"sha256": digest(rows), **sizes(rows)},
            "passes": {},
        }
        predictions: dict[str, list] = {}
        for name in ("no_llm",) if args.no_llm else ("llm", "no_llm"):
            print(f"{PASSES[name]}:", file=sys.stderr)
            results["passes"][name], predictions[name] = run_pass(
                ws, rows, llm=name == "llm", chunk=args.chunk, latency_n=args.latency_n
            )
    results["peak_rss_mib"] = peak_rss_mib()
    return results, predictions


def write_dump(path: Path, rows: list[dict], predictions: dict[str, list]) -> None:
    """Each question with each pass's answers, for reading the failures."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, r in enumerate(rows):
            got = {name: preds[i]["answers"] for name, preds in predictions.items()}
            fh.write(json.dumps({**r, "predicted": got}, ensure_ascii=False) + "\n")


def save(results: dict, *, dry_run: bool) -> None:
    """bench/results/complex_qa_{kb}.json (``--dry-run``: printed instead), and the table."""
    if dry_run:
        print(json.dumps(results, indent=2))
    else:
        results = merge_previous(results)
        path = write_results(f"complex_qa_{results['kb']}", results)
        print(f"wrote {path}", file=sys.stderr)
    print(render(results))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--kb", choices=sorted(KBS), required=True)
    p.add_argument("--kb-file", type=Path, help="another copy of the KB / ontology")
    p.add_argument("--ws", type=Path, help="the workspace to measure (opened read-only)")
    p.add_argument("-n", type=int, default=100, help="questions per type (at most)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-llm", action="store_true", help="only the pass without the LLM")
    p.add_argument("--generate-only", type=Path, metavar="OUT.jsonl",
                   help="write the dev set and stop")  # fmt: skip
    p.add_argument("--dataset-out", type=Path, help="also write the dev set here")
    p.add_argument("--dump", type=Path, help="a JSONL of every question and its answers")
    p.add_argument("--chunk", type=int, default=32, help="questions per ask_batch call")
    p.add_argument("--latency-n", type=int, default=20,
                   help="single `ask` calls timed per type (their p50 / p95)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print, write no results file")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("-n: at least 1 question per type")
    return args


if __name__ == "__main__":
    sys.exit(main())
