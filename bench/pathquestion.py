"""PathQuestion PQ-2H: the path policy's answers and paths against the gold relation paths.

    python bench/pathquestion.py [--data ../shared/data] [--epochs 40] [--seed 0]

Builds a workspace from the PQ-2H KB (1,211 triples), splits the 1,908 questions 8:1:1
(seeded; as IRN, Zhou et al. 2018) into train / valid / test, trains the question-mode
path policy on train (early stopping on valid), then on the test questions reports:

- the policy alone: Hits@1 (expected precision of its best walk's answers), and path
  accuracy: the share of questions whose best walk is the gold relation path exactly
  (same relations, same directions);
- ``ask`` end to end, the LLM reader off (policy walks + retrieval prior) and on (SmolLM2,
  not fine-tuned on PathQuestion): Hits@1 of the top answer, and how often an answer's
  cited path is the gold one.

Results: bench/results/pathquestion.json and a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, machine, peak_rss_mib, update_doc_section, write_results

IRN_PQ2H = 0.960  # Zhou et al. 2018 (COLING), IRN on PQ-2H, Hits@1


def read_pq(path: Path) -> list[dict]:
    """question, answers, and the gold path as relation names (PQ's ``subj#r1#e1#r2#e2``)."""
    rows = []
    for line in path.read_text("utf-8").splitlines():
        q, answers, chain = line.split("\t")
        parts = chain.split("#")
        end = parts.index("<end>") if "<end>" in parts else len(parts)
        hops = parts[:end]
        alts = answers[answers.index("(") + 1 : answers.rindex(")")].split("/")
        gold = [a for a in alts if a] or [answers.split("(")[0]]
        rows.append({"question": q, "answers": gold, "topic": hops[0],
                     "relations": tuple(hops[1::2])})  # fmt: skip
    return rows


def _split(rows: list[dict], seed: int) -> dict[str, list[dict]]:
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    n = len(rows) // 10
    return {"test": [rows[i] for i in idx[:n]], "valid": [rows[i] for i in idx[n : 2 * n]],
            "train": [rows[i] for i in idx[2 * n :]]}  # fmt: skip


def _topic_is_answer(rows: list[dict]) -> float:
    """Share of questions whose gold answer is their own topic entity ("the spouse of X's
    husband" is X): answerable only with ``retrieval.topic_answers`` on."""
    return sum(r["topic"] in r["answers"] for r in rows) / max(1, len(rows))


def _relation_names(retriever, actions) -> tuple[str, ...]:
    """A walk's actions as PQ relation names, an inverse step marked with a trailing '^-1'."""
    terms, n = retriever.relation_terms, len(retriever.relation_terms)
    names = []
    for a in actions:
        iri = terms[a % n][1:-1]
        names.append(iri.rsplit("/", 1)[-1] + ("^-1" if a >= n else ""))
    return tuple(names)


def _path_names(path) -> tuple[str, ...]:
    """An answer's cited path as PQ relation names (inverse steps marked '^-1')."""
    return tuple(f.predicate.rsplit("/", 1)[-1] + ("^-1" if inv else "")
                 for f, inv in zip(path.facts, path.inverse, strict=True))  # fmt: skip


def policy_alone(agent, rows: list[dict]) -> dict:
    from kgagent.pipeline.policy import policy_queries

    retriever = agent.retriever
    reasoner = retriever.policy
    hits = path_ok = unlinked = 0
    for row in rows:
        queries, _ = policy_queries(retriever, [(row["question"], row["answers"])])
        if not queries:
            unlinked += 1
            continue
        (paths,) = reasoner.beam_search(queries)
        if not paths:
            continue
        best = paths[0]
        gold = set(queries[0].answers.tolist())
        hits += sum(1 for a in best.answers.tolist() if a in gold) / len(best.answers)
        path_ok += _relation_names(retriever, best.actions) == row["relations"]
    n = len(rows)
    return {"hits_at_1": hits / n, "path_accuracy": path_ok / n, "unusable": unlinked / n}


def through_ask(agent, rows: list[dict]) -> dict:
    hits = path_ok = abstained = 0
    t0 = time.perf_counter()
    answers = []
    for b in range(0, len(rows), 32):
        answers += agent.ask_batch([r["question"] for r in rows[b : b + 32]])
    seconds = time.perf_counter() - t0
    for row, a in zip(rows, answers, strict=True):
        abstained += a.abstained
        if a.labels and a.labels[0].casefold() in {x.casefold() for x in row["answers"]}:
            hits += 1
        top = a.entities[0].iri if a.entities else None
        path = next((p for p in a.paths if p.answer == top), None)
        if path is not None and _path_names(path) == row["relations"]:
            path_ok += 1
    n = len(rows)
    return {"hits_at_1": hits / n, "path_accuracy": path_ok / n, "abstention": abstained / n,
            "questions_per_s": n / seconds}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=40,
                    help="epochs without a better validation score before stopping (PQ's "
                    "curve plateaus for 5-10 epochs before it climbs again)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-llm", action="store_true", help="skip `ask` with the LLM reader")
    ap.add_argument("--workspace", type=Path, help="build here and keep it (default: a temp dir)")
    ap.add_argument("--no-topic-answers", dest="topic_answers", action="store_false",
                    help="never answer with the topic entity (the MetaQA rule)")  # fmt: skip
    args = ap.parse_args()

    from kgagent.agents import Agent
    from kgagent.config import AgentConfig, RetrievalConfig
    from kgagent.policy import PolicyConfig
    from kgagent.workspace import init_workspace

    pq = args.data / "kgqa_pathquestion"
    rows = read_pq(pq / "PQ-2H.txt")
    split = _split(rows, args.seed)
    results: dict = {"machine": machine(), "questions": {k: len(v) for k, v in split.items()}}
    results["topic_is_answer"] = _topic_is_answer(split["test"])
    results["topic_answers"] = args.topic_answers
    with tempfile.TemporaryDirectory() as tmp:
        where = args.workspace or Path(tmp) / "pq"
        retrieval = RetrievalConfig(topic_answers=args.topic_answers)
        config = AgentConfig(name=where.name, retrieval=retrieval)
        ws = init_workspace(where, config=config)
        with Agent.open(ws) as agent:
            agent.kg.load_triples(pq / "2H-kb.txt")
            t = time.perf_counter()
            agent.index()
            results["index_seconds"] = time.perf_counter() - t
            # train_policy holds out a tenth for early stopping: give it train + valid
            pairs = [(r["question"], r["answers"]) for r in split["train"] + split["valid"]]
            t = time.perf_counter()
            report = agent.train_policy(
                pairs,
                config=PolicyConfig(epochs=args.epochs, seed=args.seed, patience=args.patience),
                progress=True,
            )
            results["policy_training"] = {
                "seconds": time.perf_counter() - t,
                "epochs": report["epochs"],
                "valid_hits_at_1": report["valid"]["hits_at_1"],
            }
            results["policy"] = policy_alone(agent, split["test"])
            print("policy:", results["policy"], file=sys.stderr)
            llm = agent.llm
            agent.llm = None
            results["ask_no_llm"] = through_ask(agent, split["test"])
            print("ask, no LLM:", results["ask_no_llm"], file=sys.stderr)
            if not args.no_llm:
                agent.llm = llm
                results["ask"] = through_ask(agent, split["test"])
                print("ask:", results["ask"], file=sys.stderr)
    results["peak_rss_mib"] = peak_rss_mib()
    write_results("pathquestion", results)
    update_doc_section("pathquestion", render(results))
    print(render(results))


def render(r: dict) -> str:
    q = r["questions"]
    t = r["policy_training"]
    lines = [
        "## PathQuestion PQ-2H (`bench/pathquestion.py`)",
        "",
        f"{r['machine']['cores']} cores, {r['machine']['date']}. {q['train']:,} / {q['valid']:,}"
        f" / {q['test']:,} questions (train / valid / test, seeded 8:1:1 as IRN). The path "
        f"policy trained {t['seconds']:.0f} s ({t['epochs']} epochs, validation Hits@1 "
        f"{t['valid_hits_at_1']:.3f}). Path accuracy: the best walk (or the top answer's "
        "cited path) is the gold relation path exactly."
        + (
            f" In {r['topic_is_answer']:.1%} of the test questions the gold answer is the "
            'topic entity itself ("the spouse of X\'s husband" is X); '
            + (
                "the workspace sets `retrieval.topic_answers` so that a walk's last hop may "
                "return to its topic."
                if r.get("topic_answers")
                else "this run kept the MetaQA rule (never answer with the topic), so those "
                "count as misses."
            )
            if "topic_is_answer" in r
            else ""
        ),
        "",
        "| system | Hits@1 | path accuracy |",
        "|---|---:|---:|",
        f"| policy alone (best walk) | {r['policy']['hits_at_1']:.3f} "
        f"| {r['policy']['path_accuracy']:.3f} |",
        f"| `ask`, no LLM (policy + retrieval) | {r['ask_no_llm']['hits_at_1']:.3f} "
        f"| {r['ask_no_llm']['path_accuracy']:.3f} |",
    ]
    if "ask" in r:
        lines.append(f"| `ask` with SmolLM2 (not fine-tuned here) | {r['ask']['hits_at_1']:.3f} "
                     f"| {r['ask']['path_accuracy']:.3f} |")  # fmt: skip
    lines.append(f"| IRN (Zhou et al. 2018, published) | {IRN_PQ2H:.3f} | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
