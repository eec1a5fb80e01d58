"""Training questions generated from the graph: moved to :mod:`kgagent.synth`.

Kept so that ``from kgagent.llm.synth import synthesize`` goes on working.
"""

from __future__ import annotations

from kgagent.synth import SynthItem, SynthReport, synthesize, synthesize_items, synthesize_report

__all__ = ["SynthItem", "SynthReport", "synthesize", "synthesize_items", "synthesize_report"]
