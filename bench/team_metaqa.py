"""A team of two agents over a relation split of the MetaQA KB vs one agent over all of it.

The KB is split by relation: the *people* agent holds ``directed_by``, ``written_by`` and
``starred_actors``; the *films* agent holds the rest (genres, tags, years, languages,
ratings) under IRIs of its own (another base IRI), so the team matches the films both
graphs share by label. A 2- or 3-hop question whose relation chain uses relations of
both agents can only be answered by crossing graphs.

    python bench/team_metaqa.py build --single WS --root DIR   # the two members + the team
    python bench/team_metaqa.py eval --single WS --root DIR [--limit 600]
    python bench/team_metaqa.py report   # docs/benchmarks.md from the results JSON

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
from _common import SHARED, machine, peak_rss_mib, update_doc_section, write_results
from _metaqa_lexicon import configure
from qa_metaqa import _plain, metaqa_config

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
    from kgagent.policy import PolicyConfig
    from kgagent.workspace import init_workspace

    ws = root / name
    report: dict = {}
    if (ws / "policy" / "default" / "config.json").exists():
        return json.loads((ws / "build_report.json").read_text())
    init_workspace(ws, config=metaqa_config(name))
    configure(ws)  # a workspace made before the list moved to bench/
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


def build_team(args) -> dict:
    """The team policy over both members' graphs, warm-started from a member's policy."""
    from kgagent.policy import PolicyConfig
    from kgagent.team import Team

    root, single = Path(args.root), Path(args.single)
    split = json.loads((single / "qa_split.json").read_text())
    t0 = time.perf_counter()
    with Team(agents=[root / m for m in MEMBERS], workspace=root / "team") as team:
        formed = time.perf_counter() - t0
        info = team.info()
        t = time.perf_counter()
        rep = team.train_policy(
            [(x["question"], x["answers"]) for x in split["policy_train"]],
            config=PolicyConfig(epochs=args.policy_epochs, seed=args.seed),
            warm_start=True,
            progress=True,
        )
    return {
        "form_seconds": formed,
        "coverage": info["coverage"],
        "relations": info["relations"],
        "policy": {k: v for k, v in rep.items() if k != "history"},
        "policy_curve": rep["history"],
        "policy_seconds": time.perf_counter() - t,
    }


def build(args) -> None:
    report = build_members(args)
    report["team"] = build_team(args)
    report["peak_rss_mib"] = peak_rss_mib()
    (Path(args.root) / "build_report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "team"}, indent=2))


def _crosses_single(answer) -> bool:
    """The single agent's answer chain uses relations of both halves of the KB."""
    rels = {f.predicate.rsplit("/", 1)[-1] for f in answer.facts}
    return bool(rels & set(PEOPLE)) and bool(rels - set(PEOPLE))


def _batch(asker, items, batch: int = 32) -> tuple[list, float]:
    out, t0 = [], time.perf_counter()
    for i in range(0, len(items), batch):
        out += asker.ask_batch([_plain(it.question) for it in items[i : i + batch]])
    return out, time.perf_counter() - t0


def _percentiles(lat: list[float]) -> dict:
    lat = sorted(lat)
    return {"p50_ms": lat[len(lat) // 2], "p95_ms": lat[int(len(lat) * 0.95) - 1]}


def eval_hops(single, team, items, hops: int, args) -> dict:
    from kgagent.qa import evaluate

    gold = [it.answers for it in items]
    res: dict = {"questions": len(items)}
    for asker in (single, team):
        asker.ask("warm up")
    # batch throughput: back to back, twice in alternating order (contention hits both)
    runs: dict[str, list] = {"single": [], "team": []}
    answers: dict[str, list] = {}
    orders = (("single", "team"), ("team", "single"))[: args.batch_repeats]
    for order in orders:
        for name in order:
            got, seconds = _batch(single if name == "single" else team, items)
            answers[name] = got
            runs[name].append(len(items) / seconds)
    for name in ("single", "team"):
        got = answers[name]
        res[name] = evaluate([a.labels for a in got], gold,
                             abstained=[a.abstained for a in got])  # fmt: skip
        res[name]["batch_questions_per_s"] = sum(runs[name]) / len(runs[name])
    # one question at a time, interleaved question by question
    lat: dict[str, list[float]] = {"single": [], "team": []}
    for it in items[: args.latency_questions]:
        for name, asker in (("single", single), ("team", team)):
            t0 = time.perf_counter()
            asker.ask(_plain(it.question))
            lat[name].append((time.perf_counter() - t0) * 1000)
    for name in ("single", "team"):
        res[name].update(_percentiles(lat[name]))
    team_answers = answers["team"]
    citing_both = sum(len({f.agent for f in a.facts}) > 1 for a in team_answers)
    spanning = sum(map(_crosses_single, answers["single"]))
    res["crossing"] = {
        "team_answers_citing_both": citing_both / len(items),
        "single_chains_spanning_both": spanning / len(items),
    }
    routes = [team.route(_plain(it.question)) for it in items[: args.latency_questions]]
    linked = [r for r in routes if r.topic is not None]
    res["routed_to_both"] = sum(len(r.members) == 2 for r in linked) / max(1, len(linked))
    cross = [i for i, a in enumerate(answers["single"]) if _crosses_single(a)]
    if cross:
        sub = [gold[i] for i in cross]
        res["on_crossing_questions"] = {
            "questions": len(cross),
            "single": evaluate([answers["single"][i].labels for i in cross], sub)["hits_at_1"],
            "team": evaluate([team_answers[i].labels for i in cross], sub)["hits_at_1"],
        }
    print(f"{hops}-hop: {json.dumps(res)}", file=sys.stderr)
    return res


def run_eval(args) -> None:
    import random

    from kgagent.agents import Agent
    from kgagent.qa import read_qa
    from kgagent.team import Team

    root, single_ws = Path(args.root), Path(args.single)
    split = json.loads((single_ws / "qa_split.json").read_text())
    results: dict = {"machine": machine(), "shared_machine": True, "torch_threads": args.threads}
    report = root / "build_report.json"
    results["build"] = json.loads(report.read_text()) if report.exists() else {}
    for name in MEMBERS:  # each member's own build report (index, policy)
        member_report = root / name / "build_report.json"
        if member_report.exists():
            results["build"][name] = json.loads(member_report.read_text())
    with Agent.open(single_ws, read_only=True) as single, \
            Team(agents=[root / m for m in MEMBERS], workspace=root / "team",
                 read_only=True) as team:  # fmt: skip
        results["decisive"] = {"single": single.config.policy.decisive,
                               "team": team.settings["decisive"]}  # fmt: skip
        results["team_policy"] = team.policy is not None
        for hops in args.hops:
            items = read_qa(args.data / "metaqa" / f"{hops}-hop" / "qa_dev.txt")
            held = [items[i] for i in split["heldout"][str(hops)]]
            if args.limit and len(held) > args.limit:
                held = random.Random(7).sample(held, args.limit)  # qa_metaqa's eval sample
            results[f"{hops}hop"] = eval_hops(single, team, held, hops, args)
    write_results("team_metaqa", results)
    update_doc_section("team_metaqa", render(results))
    print(render(results))


def render(r: dict) -> str:
    lines = ["## Agent teams on MetaQA (`bench/team_metaqa.py`)", ""]
    b = r.get("build", {})
    m = r["machine"]
    lines += [
        f"{m['cores']} cores (team and single agent measured in the same run, "
        f"interleaved), {m['date']}. The KB is split by "
        "relation: *people* (directed_by, written_by, starred_actors) and *films* (genres, "
        "tags, years, languages, ratings, under its own IRIs: the team matches the films "
        "the graphs share by label). The single agent is the full-KB workspace of "
        "`bench/qa_metaqa.py`; both answer the same held-out questions (brackets removed). "
        "Each member's path policy trained on the single agent's training questions; the "
        "team policy over the federated graph warm-started from "
        f"{b.get('team', {}).get('policy', {}).get('transfer', {}).get('warm_start')}'s "
        "policy through the transfer module; members reuse the single workspace's LoRA "
        "adapter (copied), `policy.decisive` "
        f"{r['decisive']['team']} for both.",
        "",
        "| hops | questions | Hits@1 single | Hits@1 team | Δ | F1 single / team | "
        "p50 ms single / team | p95 ms single / team | batch q/s single / team | "
        "latency ratio (p50) | crossing: single chain spans both / team cites both |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for h in (1, 2, 3):
        x = r.get(f"{h}hop")
        if not x:
            continue
        s, t, c = x["single"], x["team"], x["crossing"]
        lines.append(
            f"| {h} | {x['questions']} | {s['hits_at_1']:.3f} | {t['hits_at_1']:.3f} "
            f"| {t['hits_at_1'] - s['hits_at_1']:+.3f} | {s['f1']:.3f} / {t['f1']:.3f} "
            f"| {s['p50_ms']:.0f} / {t['p50_ms']:.0f} | {s['p95_ms']:.0f} / {t['p95_ms']:.0f} "
            f"| {s['batch_questions_per_s']:.1f} / {t['batch_questions_per_s']:.1f} "
            f"| {t['p50_ms'] / s['p50_ms']:.2f}x "
            f"| {c['single_chains_spanning_both']:.1%} / {c['team_answers_citing_both']:.1%} |"
        )
    cross = [(h, r[f"{h}hop"]["on_crossing_questions"]) for h in (1, 2, 3)
             if "on_crossing_questions" in r.get(f"{h}hop", {})]  # fmt: skip
    if cross:
        lines += ["", "On the questions whose single-agent chain spans both halves (Hits@1): "
                  + "; ".join(f"{h}-hop {x['questions']} questions, single {x['single']:.3f}, "
                              f"team {x['team']:.3f}" for h, x in cross) + "."]  # fmt: skip
    routed = [(h, r[f"{h}hop"]["routed_to_both"]) for h in (1, 2, 3) if f"{h}hop" in r]
    if routed:
        lines += ["", "The router (`top_k=6`) sent "
                  + ", ".join(f"{x:.1%} of the {h}-hop" for h, x in routed)
                  + " questions (the latency sample) to both members: with two members and "
                  "nine relations the walk is rarely restricted."]  # fmt: skip
    if b:
        t = b.get("team", {})
        pol = t.get("policy", {})
        before = pol.get("transfer", {}).get("valid_before_training", {}).get("hits_at_1")
        after = pol.get("valid", {}).get("hits_at_1")
        members = "; ".join(
            f"{n} index `{b[n]['index']}`, policy {b[n]['policy_seconds']:.0f} s"
            for n in MEMBERS
            if n in b
        )
        lines += [
            "",
            f"Build (index reports verbatim): {members}; team formed in "
            f"{t.get('form_seconds', 0):.1f} s, team policy "
            f"{t.get('policy_seconds', 0):.0f} s (validation Hits@1 "
            + (f"{before:.3f} warm-started, " if before is not None else "")
            + (f"{after:.3f} trained)." if after is not None else "n/a)."),
        ]
    lines += [
        "",
        "The people agent reuses the single workspace's fact vectors (same IRIs, "
        "`--reuse-index`: only the other half is removed); the films agent mints its own "
        "IRIs, so its facts and labels are encoded. Latency: one question at a time, "
        "single and team alternating question by question, one torch thread each. Both "
        "run the same question pipeline (kgagent/pipeline): the team over its federated "
        "view, its members linking in parallel threads and sending facts on request, so "
        "a team question pays for the messages between members. Batch throughput: one "
        "`ask_batch` pass per system, back to back.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("report", help="re-render docs/benchmarks.md from the results JSON")
    for name in ("build", "members", "team", "eval"):
        p = sub.add_parser(name)
        p.add_argument("--data", type=Path, default=SHARED)
        p.add_argument("--single", required=True, help="the single-agent MetaQA workspace")
        p.add_argument("--root", required=True, help="directory of the team's workspaces")
        if name == "eval":
            p.add_argument("--hops", type=int, nargs="+", default=[1, 2, 3])
            p.add_argument("--limit", type=int, default=600)
            p.add_argument(
                "--latency-questions",
                type=int,
                default=200,
                help="asked one at a time (latency, and the router's statistics)",
            )
            p.add_argument(
                "--batch-repeats",
                type=int,
                default=2,
                choices=(1, 2),
                help="ask_batch runs per system (2: both orders)",
            )
        else:
            p.add_argument("--kb")
            p.add_argument("--reuse-index", action="store_true")
            p.add_argument("--policy-epochs", type=int, default=20)
            p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=1,
                       help="torch threads (1 is fastest on shared cores: small REINFORCE "
                       "batches, one question at a time; 2 threads collapse when another "
                       "process holds a core)")  # fmt: skip
    args = ap.parse_args()
    if args.cmd != "report":
        import torch

        torch.set_num_threads(args.threads)
    if args.cmd == "members":
        print(json.dumps(build_members(args), indent=2))
    elif args.cmd == "team":
        out = build_team(args)
        path = Path(args.root) / "build_report.json"
        report = json.loads(path.read_text()) if path.exists() else {}
        report["team"] = out
        path.write_text(json.dumps(report, indent=2))
        print(json.dumps({k: v for k, v in out.items() if k != "policy_curve"}, indent=2))
    elif args.cmd == "report":
        results = json.loads((Path(__file__).resolve().parent / "results" /
                              "team_metaqa.json").read_text())  # fmt: skip
        update_doc_section("team_metaqa", render(results))
        print(render(results))
    elif args.cmd == "build":
        build(args)
    else:
        run_eval(args)


if __name__ == "__main__":
    main()
