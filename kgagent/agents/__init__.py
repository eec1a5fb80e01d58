"""Agents: the objects users ask questions of."""

from __future__ import annotations

from kgagent.agents.agent import Agent, IndexReport

__all__ = ["Agent", "IndexReport"]
