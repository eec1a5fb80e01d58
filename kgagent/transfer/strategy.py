"""Transfer strategies: which transferred weights keep learning on the target.

- ``finetune``: every weight trains (the transfer is only an initialisation);
- ``partial``: the representation stays — the policy's action, query and entity
  embeddings, a KG embedding's entity rows — and the decision layers (the policy's
  LSTM and scoring head; a KG embedding's relation rows) train;
- ``frozen``: every transferred weight stays as it came;
- ``reset-head``: the policy's representation moves (action, query and entity
  embeddings, the phrase projection) but its LSTM and scoring head start fresh (the
  target's seeded initialisation) and everything trains: a source whose decisions are
  confident for its own task (stop after two hops) need not unlearn them;
- ``shrink-perturb``: like ``reset-head``, but the LSTM and head keep half of what they
  learned: each weight becomes ``keep * source + (1 - keep) * fresh`` (shrink and perturb,
  Ash & Adams 2020, "On Warm-Starting Neural Network Training", with the target's seeded
  initialisation as the perturbation): the source's decisions survive as a bias, not as a
  confident optimum the target must climb out of.

In a frozen table only the *transferred* rows are fixed: rows initialised for target ids
without a source counterpart still learn (their gradient is masked row-wise), otherwise
new relations could never be used. A custom strategy freezes named parameter prefixes:
``Strategy(name="mine", freeze=("lstm",))`` or, on the command line, ``freeze:lstm,head``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kgagent.errors import KGAgentError

__all__ = ["STRATEGIES", "Strategy", "apply_strategy", "get_strategy"]


@dataclass(frozen=True)
class Strategy:
    """Parameter-name prefixes to keep fixed (``"*"``: every transferred weight), and
    prefixes of weights not to move at all (``reset``: they keep the target's fresh
    initialisation)."""

    name: str
    freeze: tuple[str, ...] = ()
    reset: tuple[str, ...] = ()
    #: prefixes of weights blended with the fresh initialisation: keep * source + (1 - keep)
    #: * fresh
    shrink: tuple[str, ...] = ()
    keep: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.keep <= 1.0:
            raise KGAgentError(f"strategy {self.name!r}: keep must lie in [0, 1], not {self.keep}")

    def frozen(self, parameter: str) -> bool:
        return _matches(parameter, self.freeze)

    def resets(self, parameter: str) -> bool:
        return _matches(parameter, self.reset)


def _matches(parameter: str, prefixes: tuple[str, ...]) -> bool:
    return any(p == "*" or parameter == p or parameter.startswith(p + ".") for p in prefixes)


#: strategy name -> Strategy (the one registry of strategies)
STRATEGIES: dict[str, Strategy] = {
    "finetune": Strategy("finetune"),
    "partial": Strategy("partial", ("action", "action_proj", "query", "query_relation", "entity")),
    "frozen": Strategy("frozen", ("*",)),
    "reset-head": Strategy("reset-head", reset=("lstm", "head")),
    "shrink-perturb": Strategy("shrink-perturb", shrink=("lstm", "head"), keep=0.5),
}


def get_strategy(strategy: str | Strategy) -> Strategy:
    """A registered strategy by name, ``freeze:PREFIX,PREFIX``, or an instance."""
    if isinstance(strategy, Strategy):
        return strategy
    if strategy.startswith("freeze:"):
        prefixes = tuple(p.strip() for p in strategy.split(":", 1)[1].split(",") if p.strip())
        if not prefixes:
            raise KGAgentError(f"strategy {strategy!r}: name at least one parameter prefix")
        return Strategy(strategy, prefixes)
    try:
        return STRATEGIES[strategy]
    except KeyError:
        raise KGAgentError(
            f"strategy {strategy!r}: expected one of {', '.join(STRATEGIES)} or freeze:PREFIX,..."
        ) from None


def apply_strategy(
    module: Any, strategy: str | Strategy, transferred: dict[str, np.ndarray | None]
) -> dict[str, Any]:
    """Freezes what the strategy keeps fixed, in place; returns what it did.

    Args:
        module: a torch module whose weights came (partly) from a bundle.
        strategy: see :func:`get_strategy`.
        transferred: parameter name -> (rows,) bool mask of transferred rows for
            vocabulary tables, or None for a weight transferred whole. Parameters not
            listed were not transferred and always train.

    Returns:
        ``{"strategy", "frozen": [names], "row_frozen": {name: rows}, "trainable": n}``.
    """
    import torch

    strat = get_strategy(strategy)
    frozen, row_frozen = [], {}
    for name, param in module.named_parameters():
        if name not in transferred or not strat.frozen(name):
            continue
        rows = transferred[name]
        if rows is None or bool(np.all(rows)):
            param.requires_grad_(False)
            frozen.append(name)
            continue
        keep = torch.as_tensor(~np.asarray(rows, dtype=bool), dtype=param.dtype)
        keep = keep.view(-1, *([1] * (param.dim() - 1)))  # (n, 1...): broadcast over rows
        param.register_hook(lambda grad, keep=keep: grad * keep)
        row_frozen[name] = int(np.asarray(rows, dtype=bool).sum())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    trainable -= sum(
        int(row_frozen[n]) * int(np.prod(p.shape[1:]))
        for n, p in module.named_parameters()
        if n in row_frozen
    )
    return {
        "strategy": strat.name,
        "frozen": frozen,
        "row_frozen": row_frozen,
        "trainable": int(trainable),
    }
