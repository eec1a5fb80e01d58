"""A team of two agents over a relation split of the MetaQA KB vs one agent over all of it.

The KB is split by relation: the *people* agent holds ``directed_by``, ``written_by`` and
``starred_actors``; the *films* agent holds the rest (genres, tags, years, languages,
ratings) under IRIs of its own (another base IRI), so the team matches the films both
graphs share by label. A 2- or 3-hop question whose relation chain uses relations of
both agents can only be answered by crossing graphs.

    python bench/team_metaqa.py build --single WS --root DIR   # the two members + the team
    python bench/team_metaqa.py eval --single WS --root DIR [--limit 600]

``build`` makes each member as ``bench/qa_metaqa.py build`` makes the single agent (its
index, then its path policy on the same training questions), reusing the single
workspace's fact vectors where the fact is the same triple (``--reuse-index``: the index
is incremental, the result is identical to encoding from scratch) and its LoRA adapter
(copied, not re-fine-tuned), then trains the team policy over the federated graph,
warm-started from the people agent's policy through the transfer module. ``eval`` asks
the single agent and the team the same held-out questions in the same run, back to back
per hop: Hits@1, F1, the share of questions whose gold chain crosses agents, p50 / p95
latency of one question, ``ask_batch`` throughput.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, machine, peak_rss_mib
from qa_metaqa import DECISIVE

PEOPLE = ("directed_by", "written_by", "starred_actors")
FILMS_BASE = "http://films.example.org/kg/"  # the films team mints its own IRIs
MEMBERS = ("people", "films")


def split_kb(kb: Path, root: Path) -> dict[str, Path]:
    """Writes the two halves of the KB (by relation); returns member -> file."""
    out = {m: root / f"kb_{m}.txt" for m in MEMBERS}
    with open(kb, encoding="utf-8") as fh, open(out["people"], "w", encoding="utf-8") as a, \
            open(out["films"], "w", encoding="utf-8") as b:  # fmt: skip
        for line in fh:
            parts = line.rstrip("\n").split("|")
            if len(parts) == 3:
                (a if parts[1] in PEOPLE else b).write(line)
    return out


def build_member(name: str, kb: Path, root: Path, single: Path, args, split: dict) -> dict:
    from kgagent.agents import Agent
    from kgagent.config import AgentConfig, PolicySection
    from kgagent.policy import PolicyConfig
    from kgagent.workspace import init_workspace

    ws = root / name
    report: dict = {}
    if (ws / "policy" / "default" / "config.json").exists():
        return json.loads((ws / "build_report.json").read_text())
    init_workspace(ws, config=AgentConfig(name=name, policy=PolicySection(decisive=DECISIVE)))
    if args.reuse_index and not (ws / "index").exists():
        shutil.copytree(single / "index", ws / "index")
    if not (ws / "adapters").exists():
        shutil.copytree(single / "adapters", ws / "adapters")
    (ws / "qa_split.json").write_text(json.dumps(split))
    with Agent.open(ws) as agent:
        if not agent.kg.sources():
            t = time.perf_counter()
            agent.kg.load_triples(kb, base_iri=FILMS_BASE if name == "films" else None)
            report["load_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        report["index"] = str(agent.index(progress=True))
        report["index_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        pol = agent.train_policy(
            [(x["question"], x["answers"]) for x in split["policy_train"]],
            config=PolicyConfig(epochs=args.policy_epochs, seed=args.seed),
            progress=True,
        )
        report["policy"] = {k: v for k, v in pol.items() if k != "history"}
        report["policy_seconds"] = time.perf_counter() - t
    report["adapter"] = f"copied from {single / 'adapters'}"
    (ws / "build_report.json").write_text(json.dumps(report, indent=2))
    print(name, json.dumps(report, indent=2), file=sys.stderr)
    return report


def build_members(args) -> dict:
    root, single = Path(args.root), Path(args.single)
    root.mkdir(parents=True, exist_ok=True)
    split = json.loads((single / "qa_split.json").read_text())
    files = split_kb(Path(args.kb) if args.kb else args.data / "metaqa" / "kb.txt", root)
    out = {"machine": machine()}
    t0 = time.perf_counter()
    for name in MEMBERS:
        out[name] = build_member(name, files[name], root, single, args, split)
    out["members_seconds"] = time.perf_counter() - t0
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("members")
    for p in (b,):
        p.add_argument("--data", type=Path, default=SHARED)
        p.add_argument("--single", required=True, help="the single-agent MetaQA workspace")
        p.add_argument("--root", required=True, help="directory of the team's workspaces")
        p.add_argument("--kb")
        p.add_argument("--reuse-index", action="store_true")
        p.add_argument("--policy-epochs", type=int, default=20)
        p.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "members":
        print(json.dumps(build_members(args), indent=2))


if __name__ == "__main__":
    main()
