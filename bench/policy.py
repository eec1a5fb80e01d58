"""The path policy on link prediction (UMLS, Nations), beside MINERVA and our KGE models.

    python bench/policy.py [--datasets umls nations] [--epochs 40]

Trains a relation-mode policy (REINFORCE) on each dataset's training graph, ranks the
test triples both ways with the same filtered, tie-aware evaluation as the KGE models
(:func:`kgagent.embeddings.evaluation.rank_triples`), with the policy alone and mixed with
a KGE model trained in the same run (RotatE, our defaults) for the entities no walk
reaches. Results: bench/results/policy.json and a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, machine, peak_rss_mib, update_doc_section, write_results

# Lin et al. 2018 (Table 3), MINERVA on UMLS: Hits@1, Hits@3, Hits@10, MRR
MINERVA = {"umls": {"hits_at_1": 0.728, "hits_at_3": 0.900, "hits_at_10": 0.968, "mrr": 0.825}}
KEYS = ("mrr", "hits_at_1", "hits_at_3", "hits_at_10")


def run(dataset: str, args) -> dict:
    from kgagent.embeddings.data import TripleSplits
    from kgagent.embeddings.evaluation import FilterIndex, rank_triples
    from kgagent.policy import PolicyConfig
    from kgagent.policy.linkpred import PolicyScorer, train_link_prediction

    d = SHARED / "linkpred" / dataset
    splits = TripleSplits.from_files(train=d / "train.txt", valid=d / "valid.txt",
                                     test=d / "test.txt")  # fmt: skip
    cfg = PolicyConfig(mode="relation", epochs=args.epochs, dim=args.dim, max_hops=args.hops,
                       patience=args.patience, seed=args.seed)  # fmt: skip
    t0 = time.perf_counter()
    reasoner, report = train_link_prediction(
        splits.train, splits.valid, num_entities=splits.num_entities,
        relations=splits.relations, config=cfg, progress=True,
    )  # fmt: skip
    out: dict = {"train_seconds": time.perf_counter() - t0, "epochs": report["epochs"]}
    filt = FilterIndex(splits.all_triples(), num_entities=splits.num_entities,
                       num_relations=splits.num_relations)  # fmt: skip
    t = time.perf_counter()
    scorer = PolicyScorer(reasoner, beam=args.beam)
    out["policy"] = {k: rank_triples(scorer, splits.test, filter_index=filt).metrics()[k]
                     for k in KEYS}  # fmt: skip
    out["eval_seconds"] = time.perf_counter() - t
    print(dataset, "policy", out["policy"], file=sys.stderr, flush=True)
    if args.kge:
        model, kge_metrics = _kge(splits, args.seed)
        out["kge"] = {k: kge_metrics[k] for k in KEYS}
        # the mixture weight is chosen on the validation triples, then applied to test
        valid_mrr = {}
        for w in args.kge_weights:
            mixed = PolicyScorer(reasoner, beam=args.beam, kge=model, kge_weight=w)
            valid_mrr[w] = rank_triples(mixed, splits.valid, filter_index=filt).metrics()["mrr"]
        best = max(valid_mrr, key=valid_mrr.get)
        mixed = PolicyScorer(reasoner, beam=args.beam, kge=model, kge_weight=best)
        out["policy_kge"] = {k: rank_triples(mixed, splits.test, filter_index=filt).metrics()[k]
                             for k in KEYS}  # fmt: skip
        out["policy_kge"]["kge_weight"] = best
        out["kge_weight_valid_mrr"] = valid_mrr
    out["published_minerva"] = MINERVA.get(dataset)
    out["test_triples"] = len(splits.test)
    print(dataset, out, file=sys.stderr)
    return out


def _kge(splits, seed: int):
    """Our default RotatE trained on the same split, and its test metrics."""
    from kgagent.embeddings import train

    result = train(data=splits, model="rotate", seed=seed, progress=False)
    return result.model, result.metrics


def _mixture_label(m: dict | None) -> str:
    if m and "kge_weight" in m:
        return f"policy + RotatE mixture (ours, weight {m['kge_weight']} chosen on valid)"
    return "policy + RotatE mixture (ours, weight 0.05)"


def render(r: dict) -> str:
    lines = ["## Path policy, link prediction (`bench/policy.py`)", "",
             f"{r['machine']['cores']} cores, {r['machine']['date']}. Filtered, tie-aware "
             "ranks of the test triples, both directions (realistic rank).", "",
             "| dataset | model | MRR | Hits@1 | Hits@3 | Hits@10 |",
             "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for ds in ("umls", "nations"):
        x = r.get(ds)
        if not x:
            continue
        rows = [("policy (ours)", x["policy"]), ("RotatE (ours)", x.get("kge")),
                (_mixture_label(x.get("policy_kge")), x.get("policy_kge")),
                ("MINERVA (published)", x.get("published_minerva"))]  # fmt: skip
        for name, m in rows:
            if m:
                lines.append(f"| {ds} | {name} | " + " | ".join(f"{m[k]:.3f}" for k in KEYS) + " |")
        lines.append(f"| {ds} | policy training | {x['train_seconds']:.0f} s, {x['epochs']} epochs "
                     "| | | |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--datasets", nargs="+", default=["umls", "nations"])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--hops", type=int, default=3)
    ap.add_argument("--beam", type=int, default=64)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--kge-weights", type=float, nargs="+", default=[0.05, 0.2, 0.5])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-kge", dest="kge", action="store_false", help="skip the RotatE runs")
    args = ap.parse_args()
    results = {"machine": machine()}
    for ds in args.datasets:
        results[ds] = run(ds, args)
    results["peak_rss_mib"] = peak_rss_mib()
    write_results("policy", results)
    update_doc_section("policy", render(results))
    print(render(results))


if __name__ == "__main__":
    main()
