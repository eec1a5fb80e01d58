"""Reuse one agent's path policy in another, and measure whether it helps.

    python examples/transfer.py SOURCE_WS TARGET_WS TRAIN_QA EVAL_QA [OUT]

SOURCE_WS has a trained policy (``kgagent policy train``); TARGET_WS is indexed; the QA
files (MetaQA ``question<TAB>a|b``, PathQuestion or JSONL) are the target's task. The
script exports the source's policy as a bundle, shows how the target's vocabulary aligns
to it, imports it into the target, then runs a scratch-vs-transfer experiment and prints
Taylor & Stone's metrics (OUT/metrics.json, curves.png, summary.md). The two MetaQA
experiments (1/2-hop -> 3-hop; a relabelled MetaQA subgraph) are ``bench/transfer.py``.
The same steps on the command line: ``kgagent transfer export / import / run``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kgagent.agents import Agent
from kgagent.transfer import Budget, Bundle, TransferExperiment


def main(source: Path, target: Path, train: Path, evaluation: Path, out: Path) -> None:
    bundle_dir = out / "bundle"
    with Agent.open(source) as agent:
        agent.export(bundle_dir, components=["policy"])
    bundle = Bundle.load(bundle_dir)  # every file checked against manifest.json
    print(f"== bundle {bundle}: {bundle.manifest['source']}")

    with Agent.open(target) as agent:
        report = agent.import_(bundle, names={"policy": "transferred"})
    for kind, cov in report["coverage"].items():
        methods = {m: v["count"] for m, v in cov["by_method"].items()}
        print(f"== {kind}: {cov['aligned']}/{cov['target']} aligned {methods}")
    print(f"== imported: {report['written']}")

    experiment = TransferExperiment(
        source=bundle,
        target=target,
        train=train,
        eval=evaluation,
        # a source whose decisions suit another task (it stops after two hops, the target
        # needs three) transfers best with its LSTM and head half reset; a source for the
        # same kind of question can simply fine-tune ("finetune"): docs/benchmarks.md
        strategy="shrink-perturb",
        budget=Budget(steps=100, eval_every=10),
        seeds=[0, 1, 2],
        name=out.name,
    )
    results = experiment.run(out=out / "run", log=print)
    keys = ("jumpstart", "asymptote_transfer", "asymptote_scratch", "area_ratio",
            "time_to_threshold_ratio")  # fmt: skip
    print(json.dumps({k: results[k] for k in keys}, indent=2))
    print(f"== results in {out / 'run'}")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    args = [Path(a) for a in sys.argv[1:5]]
    main(*args, Path(sys.argv[5]) if len(sys.argv) > 5 else Path("runs/transfer"))
