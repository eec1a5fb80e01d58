"""Transfer metrics on learning curves (Taylor & Stone, 2009).

Taylor and Stone, "Transfer Learning for Reinforcement Learning Domains: A Survey"
(JMLR 10, 2009), section 2.1, measure what a transfer buys by comparing the target's
learning curve with transfer against the one without (from scratch), under the same
budget:

- **jumpstart**: performance before any target training, transfer minus scratch;
- **asymptotic performance**: where each curve ends (here: the mean of its last
  ``tail`` share of evaluation points, so one noisy evaluation does not decide it);
- **total reward**: the area under the curve; reported as ``area_ratio`` = transfer area /
  scratch area (1 = no gain) and as the survey's *transfer ratio* = (transfer area -
  scratch area) / scratch area (0 = no gain);
- **time to threshold**: training (steps, or seconds) until the curve first reaches a
  threshold performance; ``time_to_threshold_ratio`` = transfer / scratch (below 1 =
  faster). A curve that never reaches it is censored at its budget and flagged.

Curves are dicts of equal-length lists: ``step`` (optimizer steps), ``episodes`` (walks
sampled), ``seconds`` (training wall time, evaluation excluded) and ``metric``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "area",
    "asymptote",
    "compare",
    "flat_curve",
    "summarize",
    "time_to_threshold",
]

#: the keys of :func:`compare` that :func:`summarize` averages over seeds
KEYS = (
    "jumpstart",
    "asymptote_transfer",
    "asymptote_scratch",
    "asymptotic_gain",
    "area_transfer",
    "area_scratch",
    "area_ratio",
    "transfer_ratio",
    "time_to_threshold_transfer",
    "time_to_threshold_scratch",
    "time_to_threshold_ratio",
    "seconds_to_threshold_transfer",
    "seconds_to_threshold_scratch",
    "time_to_threshold_seconds_ratio",
)


def flat_curve(curve: dict[str, list], *, steps: int, every: int) -> dict[str, list]:
    """Extends a curve holding only its step-0 evaluation to the whole budget at that
    value: what a part that cannot train (frozen, or no budget) scores at every point."""
    for step in range(every, steps + 1, every):
        for key, value in (("step", step), ("episodes", 0), ("seconds", 0.0)):
            curve[key].append(value)
        curve["metric"].append(curve["metric"][0])
    return curve


def area(x: Sequence[float], y: Sequence[float]) -> float:
    """Area under a piecewise-linear curve (trapezoid rule): the total performance
    collected over the budget (Taylor & Stone's "total reward")."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return float(y[0]) if len(y) else 0.0
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def asymptote(y: Sequence[float], *, tail: float = 0.2) -> float:
    """The mean of the last ``tail`` share of the points (at least one)."""
    y = np.asarray(y, dtype=np.float64)
    if not len(y):
        return float("nan")
    k = max(1, math.ceil(tail * len(y)))
    return float(y[-k:].mean())


def time_to_threshold(
    x: Sequence[float], y: Sequence[float], threshold: float
) -> tuple[float, bool]:
    """(first ``x`` where ``y >= threshold``, reached). Unreached: (last ``x``, False)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    hit = np.flatnonzero(y >= threshold - 1e-12)
    if len(hit):
        return float(x[hit[0]]), True
    return (float(x[-1]) if len(x) else 0.0), False


def _ratio(a: float, b: float) -> float | None:
    if b == 0:
        return 0.0 if a == 0 else None  # both at once: as fast; else undefined
    return a / b


def _common(transfer: dict, scratch: dict, key: str) -> tuple[np.ndarray, dict, dict]:
    """Both curves on one ``key`` grid (the shorter range; linear interpolation)."""
    xt, xs = np.asarray(transfer[key], float), np.asarray(scratch[key], float)
    if len(xt) == len(xs) and np.allclose(xt, xs):
        return xt, transfer, scratch
    end = min(xt[-1], xs[-1])
    grid = np.union1d(xt[xt <= end], xs[xs <= end])
    out = []
    for c in (transfer, scratch):
        out.append({key: grid, "metric": np.interp(grid, np.asarray(c[key], float), c["metric"])})
    return grid, out[0], out[1]


def compare(
    transfer: dict[str, Sequence[float]],
    scratch: dict[str, Sequence[float]],
    *,
    threshold: float,
    tail: float = 0.2,
) -> dict[str, Any]:
    """Taylor & Stone metrics of one transfer curve against one scratch curve.

    Areas are over optimizer steps (both arms get the same budget of steps); time to
    threshold is given in steps and in training seconds.
    """
    grid, t, s = _common(transfer, scratch, "step")
    a_t, a_s = area(grid, t["metric"]), area(grid, s["metric"])
    tt, t_ok = time_to_threshold(transfer["step"], transfer["metric"], threshold)
    ts, s_ok = time_to_threshold(scratch["step"], scratch["metric"], threshold)
    st, _ = time_to_threshold(transfer["seconds"], transfer["metric"], threshold)
    ss, _ = time_to_threshold(scratch["seconds"], scratch["metric"], threshold)
    asym_t = asymptote(transfer["metric"], tail=tail)
    asym_s = asymptote(scratch["metric"], tail=tail)
    area_ratio = _ratio(a_t, a_s)
    return {
        "jumpstart": float(transfer["metric"][0]) - float(scratch["metric"][0]),
        "asymptote_transfer": asym_t,
        "asymptote_scratch": asym_s,
        "asymptotic_gain": asym_t - asym_s,
        "area_transfer": a_t,
        "area_scratch": a_s,
        "area_ratio": area_ratio,
        "transfer_ratio": None if area_ratio is None else area_ratio - 1.0,
        "threshold": threshold,
        "time_to_threshold_transfer": tt,
        "time_to_threshold_scratch": ts,
        "time_to_threshold_ratio": _ratio(tt, ts),
        "seconds_to_threshold_transfer": st,
        "seconds_to_threshold_scratch": ss,
        "time_to_threshold_seconds_ratio": _ratio(st, ss),
        "reached_threshold": {"transfer": t_ok, "scratch": s_ok},
    }


def summarize(per_seed: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Mean, sample standard deviation, min and max over seeds of each :data:`KEYS` value
    (seeds where a ratio is undefined are left out of it, and ``n`` says how many count)."""
    out: dict[str, dict[str, float | int | None]] = {}
    for key in KEYS:
        vals = np.array([r[key] for r in per_seed if r.get(key) is not None], dtype=np.float64)
        if not len(vals):
            out[key] = {"mean": None, "std": None, "min": None, "max": None, "n": 0}
            continue
        out[key] = {
            "mean": float(vals.mean()),
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "min": float(vals.min()),
            "max": float(vals.max()),
            "n": len(vals),
        }
    return out
