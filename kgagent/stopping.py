"""Early stopping as one small object, shared by every training loop in kgagent.

The KGE trainer (:mod:`kgagent.embeddings.training`), the path policy
(:meth:`kgagent.policy.PathReasoner.fit`) and the transfer experiments
(:mod:`kgagent.transfer`) all keep the weights of their best validation run and stop once
it stops improving. Written inline each loop had its own counter and its own way of
saying "never" (``patience=0`` in one, ``patience=epochs + 1`` in another); here the
rule is written once, after pykeen's ``EarlyStopper`` (``pykeen/stoppers/
early_stopping.py``): a run improves on the best so far by more than ``min_delta``, or it
spends one unit of patience, and training stops when the patience is spent.

The stopper holds no weights: a loop snapshots its model when ``best_epoch`` becomes the
epoch it just reported.
"""

from __future__ import annotations

import math

__all__ = ["EarlyStopper"]


class EarlyStopper:
    """Tracks the best validation metric and says when to stop.

    Args:
        patience: reports in a row without improvement after which training stops
            (pykeen's rule: the patience is refilled on every improvement, and ``report``
            says stop once it is spent, so ``patience <= 0`` stops at the first report);
            ``None``: never stop early (train every epoch, still tracking the best).
        larger_is_better: whether a larger metric is better (MRR, Hits@k) or a smaller
            one (a loss).
        min_delta: how much a metric must beat the best so far to count as an
            improvement (absolute; 0: any strict improvement).

    Attributes:
        best_epoch: the epoch of the best metric so far (None before the first
            improvement).
        best_metric: the best metric so far (-inf, or +inf when smaller is better,
            before any report).
        remaining_patience: reports without improvement still allowed (None: unlimited).
        history: every reported ``(epoch, metric)``, in order.
    """

    def __init__(
        self,
        patience: int | None,
        *,
        larger_is_better: bool = True,
        min_delta: float = 0.0,
    ) -> None:
        if min_delta < 0:
            raise ValueError(f"min_delta must be 0 or more, not {min_delta}")
        self.patience = None if patience is None else int(patience)
        self.larger_is_better = bool(larger_is_better)
        self.min_delta = float(min_delta)
        self.best_epoch: int | None = None
        self.best_metric = -math.inf if self.larger_is_better else math.inf
        self.remaining_patience = self.patience
        self.history: list[tuple[int, float]] = []

    def is_improvement(self, metric: float) -> bool:
        """Whether ``metric`` beats the best so far by more than ``min_delta`` (NaN never
        does)."""
        if self.larger_is_better:
            return metric > self.best_metric + self.min_delta
        return metric < self.best_metric - self.min_delta

    def report(self, epoch: int, metric: float) -> bool:
        """Records the validation ``metric`` of ``epoch``; True means stop training now."""
        metric = float(metric)
        self.history.append((epoch, metric))
        if self.is_improvement(metric):
            self.best_epoch, self.best_metric = epoch, metric
            self.remaining_patience = self.patience
        elif self.remaining_patience is not None:
            self.remaining_patience -= 1
        return self.should_stop

    @property
    def should_stop(self) -> bool:
        """True once the patience is spent (never without a patience)."""
        return self.remaining_patience is not None and self.remaining_patience <= 0

    def __repr__(self) -> str:
        return (
            f"EarlyStopper(patience={self.patience}, best_epoch={self.best_epoch}, "
            f"best_metric={self.best_metric}, remaining_patience={self.remaining_patience})"
        )
