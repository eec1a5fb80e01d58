"""kgagent: knowledge-graph augmented agents with cited answers and transferable parts.

Heavy modules load lazily so ``import kgagent`` and ``kgagent --help`` stay instant.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from kgagent import errors
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kgagent' has no attribute {name!r}")
