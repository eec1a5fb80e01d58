"""EarlyStopper: pykeen's rule, and the same decisions as the loops it replaced."""

from __future__ import annotations

import math
import random

import pytest

from kgagent.stopping import EarlyStopper


def run(stopper: EarlyStopper, metrics: list[float]) -> int:
    """Reports ``metrics`` from epoch 1; the epoch training stops at (or the last)."""
    for epoch, m in enumerate(metrics, start=1):
        if stopper.report(epoch, m):
            return epoch
    return len(metrics)


def test_stops_after_patience_reports_without_improvement() -> None:
    s = EarlyStopper(2)
    assert not s.report(1, 0.5)
    assert (s.best_epoch, s.best_metric, s.remaining_patience) == (1, 0.5, 2)
    assert not s.report(2, 0.4)
    assert s.remaining_patience == 1
    assert not s.report(3, 0.6)  # an improvement refills the patience
    assert (s.best_epoch, s.remaining_patience) == (3, 2)
    assert not s.report(4, 0.6)  # equal is no improvement
    assert s.report(5, 0.1)
    assert s.should_stop and s.best_epoch == 3 and s.best_metric == 0.6
    assert s.history == [(1, 0.5), (2, 0.4), (3, 0.6), (4, 0.6), (5, 0.1)]


def test_none_never_stops_but_tracks_the_best() -> None:
    s = EarlyStopper(None)
    assert run(s, [0.3, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1]) == 7
    assert s.best_epoch == 2 and s.remaining_patience is None and not s.should_stop


def test_zero_patience_stops_at_the_first_report() -> None:
    assert EarlyStopper(0).report(1, 1.0)


def test_smaller_is_better_and_min_delta() -> None:
    s = EarlyStopper(1, larger_is_better=False)
    assert s.best_metric == math.inf
    assert not s.report(1, 2.0)
    assert not s.report(2, 1.0)
    assert s.report(3, 1.5)
    assert s.best_epoch == 2
    d = EarlyStopper(2, min_delta=0.1)
    d.report(1, 0.5)
    d.report(2, 0.55)  # not better by more than 0.1
    assert d.best_epoch == 1 and d.remaining_patience == 1
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopper(1, min_delta=-1)


def test_nan_is_never_an_improvement() -> None:
    s = EarlyStopper(3)
    s.report(1, float("nan"))
    assert s.best_epoch is None and s.remaining_patience == 2


def _old_policy_loop(metrics: list[float], patience: int) -> tuple[int, int]:
    """PathReasoner.fit's inline rule before the stopper: (stop epoch, best epoch)."""
    best, stale, best_epoch = -1.0, 0, None
    for epoch, score in enumerate(metrics, start=1):
        if score > best:
            best, stale, best_epoch = score, 0, epoch
        else:
            stale += 1
        if stale >= patience:
            return epoch, best_epoch
    return len(metrics), best_epoch


def _old_kge_loop(metrics: list[float], patience: int) -> tuple[int, int]:
    """The KGE trainer's inline rule before the stopper (patience 0: never)."""
    best, waited, best_epoch = -1.0, 0, None
    for epoch, mrr in enumerate(metrics, start=1):
        stop = False
        if mrr > best:
            best, waited, best_epoch = mrr, 0, epoch
        else:
            waited += 1
            stop = patience > 0 and waited >= patience
        if stop:
            return epoch, best_epoch
    return len(metrics), best_epoch


@pytest.mark.parametrize("seed", range(20))
def test_same_decisions_as_the_inline_loops(seed: int) -> None:
    rng = random.Random(seed)
    metrics = [round(rng.random(), 1) for _ in range(30)]  # rounded: ties happen
    for patience in range(0, 8):
        s = EarlyStopper(patience)
        assert (run(s, metrics), s.best_epoch) == _old_policy_loop(metrics, patience)
        k = EarlyStopper(patience if patience > 0 else None)
        assert (run(k, metrics), k.best_epoch) == _old_kge_loop(metrics, patience)
    # the transfer experiments' old "never" (patience = epochs + 1) is patience None
    s = EarlyStopper(None)
    assert (run(s, metrics), s.best_epoch) == _old_policy_loop(metrics, len(metrics) + 1)
