"""Taylor & Stone metrics on hand-made learning curves."""

from __future__ import annotations

import pytest

from kgagent.transfer.metrics import area, asymptote, compare, summarize, time_to_threshold

STEPS = [0, 10, 20, 30]


def curve(metric, seconds=None):
    return {"step": STEPS, "episodes": STEPS, "seconds": seconds or STEPS, "metric": metric}


def test_area_asymptote_and_time_to_threshold():
    assert area(STEPS, [0.0, 0.4, 0.8, 0.9]) == pytest.approx(10 * (0.2 + 0.6 + 0.85))
    assert asymptote([0.1, 0.2, 0.3, 0.5, 0.7], tail=0.4) == pytest.approx(0.6)
    assert asymptote([0.1, 0.9], tail=0.01) == 0.9  # at least one point
    assert time_to_threshold(STEPS, [0.0, 0.4, 0.8, 0.9], 0.8) == (20.0, True)
    assert time_to_threshold(STEPS, [0.0, 0.1, 0.2, 0.3], 0.8) == (30.0, False)  # censored


def test_compare_transfer_against_scratch():
    transfer = curve([0.5, 0.8, 0.9, 0.9], seconds=[0, 4, 8, 12])
    scratch = curve([0.0, 0.4, 0.8, 0.9], seconds=[0, 5, 10, 15])
    m = compare(transfer, scratch, threshold=0.8, tail=0.25)
    assert m["jumpstart"] == pytest.approx(0.5)
    assert m["asymptote_transfer"] == m["asymptote_scratch"] == pytest.approx(0.9)
    assert m["area_transfer"] == pytest.approx(24.0) and m["area_scratch"] == pytest.approx(16.5)
    assert m["area_ratio"] == pytest.approx(24 / 16.5)
    assert m["transfer_ratio"] == pytest.approx(24 / 16.5 - 1)
    assert m["time_to_threshold_transfer"] == 10 and m["time_to_threshold_scratch"] == 20
    assert m["time_to_threshold_ratio"] == pytest.approx(0.5)
    assert m["time_to_threshold_seconds_ratio"] == pytest.approx(4 / 10)
    assert m["reached_threshold"] == {"transfer": True, "scratch": True}


def test_compare_interpolates_curves_measured_at_other_steps():
    transfer = {"step": [0, 20], "seconds": [0, 1], "metric": [0.5, 0.5]}
    scratch = {"step": [0, 10, 30], "seconds": [0, 1, 2], "metric": [0.0, 0.5, 0.5]}
    m = compare(transfer, scratch, threshold=0.5)
    # common range 0..20: scratch area 2.5 + 5, transfer 10
    assert m["area_ratio"] == pytest.approx(10 / 7.5)
    assert m["time_to_threshold_ratio"] == 0.0  # transfer is there at once


def test_summary_means_and_spread_over_seeds():
    runs = [
        compare(curve([0.5, 0.8, 0.9, 0.9]), curve([0.0, 0.4, 0.8, 0.9]), threshold=0.8),
        compare(curve([0.3, 0.8, 0.9, 0.9]), curve([0.1, 0.4, 0.8, 0.9]), threshold=0.8),
    ]
    s = summarize(runs)
    assert s["jumpstart"]["mean"] == pytest.approx(0.35)
    assert s["jumpstart"]["std"] == pytest.approx(0.3 / 2**0.5)  # sample std of 0.5, 0.2
    assert s["jumpstart"]["min"] == pytest.approx(0.2) and s["jumpstart"]["n"] == 2
    # a ratio undefined on one seed (scratch at the threshold from the start) is left out
    odd = compare(curve([0.9] * 4), curve([0.9] * 4, seconds=[0, 0, 0, 0]), threshold=0.8)
    assert odd["time_to_threshold_ratio"] == 0.0  # both at once: as fast
    flat = compare(curve([0.9] * 4), curve([0.0] * 4), threshold=0.8)
    assert flat["area_ratio"] is None and summarize([flat])["area_ratio"]["n"] == 0
