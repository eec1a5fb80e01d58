"""Writing an experiment's results: metrics.json, curves.png and summary.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kgagent._io import atomic_write_json, atomic_write_text

__all__ = ["plot_curves", "write_results"]

_COLORS = {"transfer": "tab:blue", "scratch": "tab:orange"}


def plot_curves(results: dict[str, Any], path: str | Path) -> Path:
    """Metric vs optimizer steps and vs training seconds, per seed (thin) and the mean
    over seeds (thick), with the threshold used for time to threshold."""
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: no display on these machines
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    runs = results["runs"]
    for ax, key, label in ((axes[0], "step", "optimizer steps"), (axes[1], "seconds", "seconds")):
        for arm, color in _COLORS.items():
            curves = [r[arm] for r in runs]
            for c in curves:
                ax.plot(c[key], c["metric"], color=color, alpha=0.3, linewidth=0.8)
            if key == "step" and all(c["step"] == curves[0]["step"] for c in curves):
                mean = np.mean([c["metric"] for c in curves], axis=0)
                ax.plot(curves[0]["step"], mean, color=color, linewidth=2.2, label=arm)
            else:
                ax.plot([], [], color=color, linewidth=2.2, label=arm)
        ax.axhline(results["threshold"], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel(label)
        ax.set_ylabel(results["metric"])
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle(f"{results['name']}: {', '.join(results['components'])} ({results['strategy']})")
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(entry: dict[str, Any]) -> str:
    if entry["mean"] is None:
        return "n/a"
    return f"{entry['mean']:.3f} ± {entry['std']:.3f}"


def summary_markdown(results: dict[str, Any]) -> str:
    """A short human summary: setup, coverage, the metrics table, the verdict per target."""
    s = results["summary"]
    cov = results.get("coverage", {})
    lines = [
        f"# Transfer experiment `{results['name']}`",
        "",
        f"- source: `{results['source']}`; target: `{results['target']}`",
        f"- components: {', '.join(results['components'])}; strategy: {results['strategy']}; "
        f"alignment: {results.get('alignment', 'iri+label')}",
        f"- budget: {results['budget']['steps']} optimizer steps per run, evaluated every "
        f"{results['budget']['eval_every']}; seeds: {results['seeds']}",
        f"- task: {results['task']['train']} training, {results['task']['eval']} evaluation "
        f"queries; metric: {results['metric']}; threshold {results['threshold']:.3f}",
    ]
    for kind in ("entities", "relations"):
        if kind in cov:
            c = cov[kind]
            by = ", ".join(
                f"{m} {v['count']}" for m, v in c["by_method"].items() if m != "none" and v["count"]
            )
            lines.append(
                f"- {kind} aligned: {c['aligned']}/{c['target']} ({c['fraction']:.1%}; {by or '-'})"
            )
    lines += [
        "",
        "| metric | mean ± std over seeds |",
        "|---|---|",
    ]
    for key in (
        "jumpstart",
        "asymptote_transfer",
        "asymptote_scratch",
        "area_ratio",
        "time_to_threshold_ratio",
        "time_to_threshold_seconds_ratio",
    ):
        lines.append(f"| {key} | {_fmt(s[key])} |")
    reached = [r["metrics"]["reached_threshold"] for r in results["runs"]]
    lines += [
        "",
        f"Threshold reached: transfer {sum(r['transfer'] for r in reached)}/{len(reached)} "
        f"seeds, scratch {sum(r['scratch'] for r in reached)}/{len(reached)} "
        "(an unreached threshold counts as the whole budget).",
        "",
    ]
    return "\n".join(lines)


def write_results(results: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Writes ``metrics.json`` (flat means first, then everything), ``curves.png`` and
    ``summary.md`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / "metrics.json",
        "curves": out / "curves.png",
        "summary": out / "summary.md",
    }
    atomic_write_json(paths["metrics"], results)
    plot_curves(results, paths["curves"])
    atomic_write_text(paths["summary"], summary_markdown(results))
    return paths
