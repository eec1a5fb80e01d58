"""The "Scale" section of docs/benchmarks.md, from bench/results/scale.json: build costs,
questions, the growth of the cost per fact, and issue 24's bars."""

from __future__ import annotations

import itertools

__all__ = ["BARS", "render"]

#: issue 24's bars, by point: (index seconds, index peak RSS GiB, Hits@1, ask p50 ms)
BARS = {"1m": (300, 4, 0.9, None), "10m": (2700, 12, None, 100)}


def _order(points: dict) -> list[dict]:
    gen = [p for p in points.values() if p["kind"] == "generated" and "failed" not in p]
    gen.sort(key=lambda p: p["graph"]["facts"])
    return gen + [p for p in points.values() if p["kind"] == "metaqa" and "failed" not in p]


def _facts(p: dict) -> int:
    return p["index"]["facts"]


def render(r: dict) -> str:
    """The Scale section: build costs, questions, growth per fact, the issue's bars."""
    pts = _order(r["points"])
    lines = [
        "## Scale: 100k to 10M facts (`bench/scale.py`)",
        "",
        "Generated graphs (`bench/_scale_graph.py`: 8 classes, 20 labelled properties with "
        "domain and range, Zipf-distributed objects, literal years and numbers, syllable "
        "names of which a few are shared) and MetaQA's KB as a real point. Each in a fresh "
        "workspace: `kgagent init`, `load`, `index --encoder static` as child processes "
        "(time and peak RSS are each child's own); then a child asks the one-hop questions "
        "one at a time, without the LLM (the reader picks by retrieval's ranking). "
        "Facts: what the fact index holds (every triple but labels). Disk: the workspace "
        "(store + index). Recall@10: the fact index's top 10 for each question against the "
        "exact top 10 over every fact re-encoded. kgagent is measured as committed (a "
        "`git archive` of HEAD), so edits in progress do not leak in. The large sizes are "
        "meant to run alone on the machine: `nice -n 10 python bench/scale.py --sizes 1m,10m "
        "--budget-min 120 --step-timeout-min 60` (a size measured again replaces its rows).",
        "",
    ]
    for p in pts:
        m = p["machine"]
        where = "MetaQA" if p["kind"] == "metaqa" else p["label"]
        lines.append(
            f"- {where}: {m['cores']} cores, {m['date']}, load average "
            f"{p['load_average_at_start']:.1f} at start, nice {p['nice']}, kgagent "
            + (
                f"{p['commit']} as committed (an export)."
                if p.get("source") == "committed"
                else f"{p['commit']}{' + uncommitted changes' if p['kgagent_dirty'] else ''}."
            )
        )
    lines += [
        "",
        "| graph | facts | load s | index s | µs per fact (load + index) | peak RSS MiB "
        "load / index / ask | bytes RSS per fact (index) | disk MiB | disk bytes per fact |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in pts:
        s, n = p["steps"], _facts(p)
        lines.append(
            f"| {_name(p)} | {n:,} | {s['load']['seconds']:.1f} | {s['index']['seconds']:.1f} "
            f"| {(s['load']['seconds'] + s['index']['seconds']) / n * 1e6:.1f} "
            f"| {s['load']['peak_rss_mib']:.0f} / {s['index']['peak_rss_mib']:.0f} / "
            f"{s['ask']['peak_rss_mib']:.0f} "
            f"| {s['index']['peak_rss_mib'] * 2**20 / n:.0f} "
            f"| {p['disk']['workspace'] / 2**20:.0f} | {p['disk']['workspace'] / n:.0f} |"
        )
    lines += [
        "",
        "| graph | questions | Hits@1 | forward / inverse / literal | ask p50 ms | ask p95 ms "
        "| open + first ask s | fact index | recall@10 |",
        "|---|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for p in pts:
        a = p["ask"]
        by = a["by_direction"]
        dirs = " / ".join(
            f"{by[d]['hits_at_1']:.3f}" if d in by else "–"
            for d in ("forward", "inverse", "literal")
        )
        rec = p.get("recall", {})
        kind = rec.get("kind") or p["index"].get("vectors", {}).get("kind", "?")
        kind = {"flat": "flat (exact)", "hnsw": "HNSW"}.get(kind, kind)
        storage = p["index"].get("vectors", {}).get("storage")
        if storage not in (None, "auto", "float32"):
            kind += f", {storage}"
        recall = f"{rec['recall_at_10']:.3f}" if rec else "–"
        lines.append(
            f"| {_name(p)} | {a['questions']} | {a['hits_at_1']:.3f} "
            f"| {dirs if p['kind'] == 'generated' else '–'} | {a['p50_ms']:.1f} "
            f"| {a['p95_ms']:.1f} | {a['open_and_first_ask_s']:.1f} | {kind} | {recall} |"
        )
    lines += ["", *render_growth(pts), "", *render_bars(r)]
    return "\n".join(lines)


def _name(p: dict) -> str:
    return "MetaQA (1-hop dev)" if p["kind"] == "metaqa" else f"generated {p['label']}"


def render_growth(pts: list[dict]) -> list[str]:
    """Cost per fact at each generated size, as a multiple of the previous size's."""
    gen = [p for p in pts if p["kind"] == "generated"]
    out = [
        "Growth of the cost per fact (generated graphs; each figure a multiple of the same "
        "figure at the size before; 1.0 is linear growth):",
        "",
    ]
    if len(gen) < 2:
        return [*out, "Only one size measured so far; no growth to show."]
    out += [
        "| from → to | load s/fact | index s/fact | index RSS/fact | disk/fact | ask p50 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    costs = {
        "load": lambda p: p["steps"]["load"]["seconds"],
        "index": lambda p: p["steps"]["index"]["seconds"],
        "rss": lambda p: p["steps"]["index"]["peak_rss_mib"],
        "disk": lambda p: p["disk"]["workspace"],
    }
    for a, b in itertools.pairwise(gen):
        r = {k: (f(b) / _facts(b)) / (f(a) / _facts(a)) for k, f in costs.items()}
        out.append(
            f"| {a['label']} → {b['label']} | {r['load']:.2f} | {r['index']:.2f} "
            f"| {r['rss']:.2f} | {r['disk']:.2f} "
            f"| {b['ask']['p50_ms'] / a['ask']['p50_ms']:.2f} (not per fact) |"
        )
    return out


def render_bars(r: dict) -> list[str]:
    """Issue 24's done-when bars, measured or not."""
    out = [
        "Issue 24's bars on this 2-core machine (`index --encoder static`):",
        "",
        "| graph | index ≤ | index peak RSS ≤ | Hits@1 ≥ | ask p50 ≤ | measured |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, (sec, gib, hits, p50) in BARS.items():
        p = r["points"].get(label)
        want = [
            f"{sec / 60:.0f} min",
            f"{gib} GiB",
            "–" if hits is None else f"{hits}",
            "–" if p50 is None else f"{p50} ms",
        ]
        if p is None:
            got = "not run yet"
        elif "failed" in p:
            got = f"failed ({p['failed'].splitlines()[0][:120]})"
        else:
            s, a = p["steps"]["index"], p["ask"]
            checks = [
                (s["seconds"] <= sec, f"index {s['seconds'] / 60:.1f} min"),
                (s["peak_rss_mib"] / 1024 <= gib, f"{s['peak_rss_mib'] / 1024:.2f} GiB"),
            ]
            if hits is not None:
                checks.append((a["hits_at_1"] >= hits, f"Hits@1 {a['hits_at_1']:.3f}"))
            if p50 is not None:
                checks.append((a["p50_ms"] <= p50, f"p50 {a['p50_ms']:.0f} ms"))
            got = ", ".join(f"{t} {'✓' if ok else '✗'}" for ok, t in checks)
        out.append(f"| generated {label} | {' | '.join(want)} | {got} |")
    return out
