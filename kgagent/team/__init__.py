"""Teams: agents over different graphs answering together through one federated view."""

from __future__ import annotations

from kgagent.team.router import Route, Router
from kgagent.team.team import Team

__all__ = ["Route", "Router", "Team"]
