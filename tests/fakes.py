"""Deterministic stand-ins for the LLM in unit tests (the real model runs in slow tests).

:class:`OverlapLM` is public, for users' tests too: :mod:`kgagent.testing.fakes`.
"""

from __future__ import annotations

from kgagent.testing.fakes import OverlapLM

__all__ = ["OverlapLM"]
