"""Transfer: move an agent's learned parts to another agent and measure what they buy.

- :mod:`~kgagent.transfer.checkpoint`: the bundle (manifest + safetensors per component);
- :mod:`~kgagent.transfer.align`: vocabulary alignment (IRI, label, encoder) and the
  initialisation of unmatched rows;
- :mod:`~kgagent.transfer.warmstart` / :mod:`~kgagent.transfer.strategy`: target
  components from a bundle, and what of them keeps training;
- :mod:`~kgagent.transfer.exchange`: export from / import into agent workspaces;
- :mod:`~kgagent.transfer.experiment` / :mod:`~kgagent.transfer.metrics`: scratch vs
  transfer learning curves and Taylor & Stone's metrics;
  :mod:`~kgagent.transfer.linkpred_experiment`: the arms of an experiment whose target
  task is link prediction (a KG embedding, warm-started or from scratch).

Submodules import torch lazily; importing this package is cheap.
"""

from __future__ import annotations

from kgagent._lazy import lazy_attributes

__all__ = [
    "COMPONENTS",
    "STRATEGIES",
    "Alignment",
    "Budget",
    "Bundle",
    "Strategy",
    "TransferError",
    "TransferExperiment",
    "align",
    "compare",
    "export_agent",
    "import_bundle",
    "open_source",
]

_LAZY = {
    "COMPONENTS": "kgagent.transfer.checkpoint",
    "Bundle": "kgagent.transfer.checkpoint",
    "TransferError": "kgagent.transfer.checkpoint",
    "Alignment": "kgagent.transfer.align",
    "align": "kgagent.transfer.align",
    "STRATEGIES": "kgagent.transfer.strategy",
    "Strategy": "kgagent.transfer.strategy",
    "Budget": "kgagent.transfer.experiment",
    "TransferExperiment": "kgagent.transfer.experiment",
    "compare": "kgagent.transfer.metrics",
    "export_agent": "kgagent.transfer.exchange",
    "import_bundle": "kgagent.transfer.exchange",
    "open_source": "kgagent.transfer.exchange",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
