"""kgagent: knowledge-graph augmented agents with cited answers and transferable parts.

Heavy modules load lazily so ``import kgagent`` and ``kgagent --help`` stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgagent import errors
from kgagent._lazy import lazy_attributes
from kgagent.errors import KGAgentError, KGLoadError

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentConfig",
    "Answer",
    "AnswerEntity",
    "Evidence",
    "Fact",
    "GraphPath",
    "KGAgentError",
    "KGLoadError",
    "KnowledgeGraph",
    "LoadReport",
    "Path",
    "Source",
    "Team",
    "__version__",
    "errors",
]

_LAZY = {
    "Agent": "kgagent.agents.agent",
    "AgentConfig": "kgagent.config",
    "Answer": "kgagent.types",
    "AnswerEntity": "kgagent.types",
    "Evidence": "kgagent.types",
    "Fact": "kgagent.types",
    "GraphPath": "kgagent.types",
    "Path": "kgagent.types",
    "KnowledgeGraph": "kgagent.kg.graph",
    "LoadReport": "kgagent.kg.graph",
    "Source": "kgagent.kg.graph",
    "Team": "kgagent.team",
}

if TYPE_CHECKING:
    from kgagent.agents.agent import Agent
    from kgagent.config import AgentConfig
    from kgagent.kg.graph import KnowledgeGraph, LoadReport, Source
    from kgagent.team.team import Team
    from kgagent.types import Answer, AnswerEntity, Evidence, Fact, GraphPath, Path


__getattr__ = lazy_attributes(__name__, _LAZY)
