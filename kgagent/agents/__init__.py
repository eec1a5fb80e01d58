"""Agents: the objects users ask questions of (teams: :mod:`kgagent.team`)."""

from __future__ import annotations

from typing import Any

from kgagent.agents.agent import Agent, IndexReport

__all__ = ["Agent", "IndexReport"]

#: names that lived here before teams had a package of their own
_MOVED = {"Team": "kgagent.team", "Route": "kgagent.team", "Router": "kgagent.team"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:  # compatibility: ``from kgagent.agents import Team`` keeps working
        from importlib import import_module

        return getattr(import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'kgagent.agents' has no attribute {name!r}")
