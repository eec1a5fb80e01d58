"""Agents: the objects users ask questions of, alone or as a team."""

from __future__ import annotations

from kgagent.agents.agent import Agent, IndexReport
from kgagent.agents.router import Route, Router
from kgagent.agents.team import Team

__all__ = ["Agent", "IndexReport", "Route", "Router", "Team"]
