"""The RL path policy: walks the graph by relations to answer multi-hop questions.

:class:`RelationWalk` is the environment, :class:`PathPolicy` the network,
:class:`PathReasoner` trains it (REINFORCE), runs beam search and saves/loads it. For
link prediction, :class:`EdgeReasoner` walks edges instead (MINERVA's design,
``PolicyConfig(walk="edge")``; :mod:`kgagent.policy.edge`).

Which class walks is a name in :data:`WALKS`; :func:`create_reasoner` and
:func:`load_reasoner` are the entry points that look it up. Submodules import torch
lazily: importing this package (or reading :data:`WALKS`) does not.

    from kgagent.policy import PolicyConfig, create_reasoner

    reasoner = create_reasoner(adj, relations, config=PolicyConfig(mode="relation"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgagent._lazy import lazy_attributes
from kgagent._registry import Registry
from kgagent.errors import PolicyError

__all__ = [
    "WALKS",
    "BeamPath",
    "EdgeReasoner",
    "EdgeWalk",
    "PathPolicy",
    "PathReasoner",
    "PolicyConfig",
    "PolicyError",
    "Query",
    "RelationWalk",
    "create_reasoner",
    "load_reasoner",
]

#: how a policy walks the graph, by ``PolicyConfig.walk`` (a checkpoint's network
#: ``kind``): name -> the reasoner class (see :mod:`kgagent.policy.walks` for what it
#: provides); the walk contract suite (tests/policy/test_walks.py) runs on every name.
WALKS = Registry("walk", error=PolicyError, message="walk must be one of {names}, not {name!r}")
WALKS.register("set", "kgagent.policy.reasoner", "PathReasoner")
WALKS.register("edge", "kgagent.policy.edge", "EdgeReasoner")

_LAZY = {
    "BeamPath": "kgagent.policy.config",
    "PolicyConfig": "kgagent.policy.config",
    "Query": "kgagent.policy.config",
    "EdgeReasoner": "kgagent.policy.edge",
    "EdgeWalk": "kgagent.policy.edge",
    "RelationWalk": "kgagent.policy.env",
    "PathPolicy": "kgagent.policy.network",
    "PathReasoner": "kgagent.policy.reasoner",
    "create_reasoner": "kgagent.policy.walks",
    "load_reasoner": "kgagent.policy.walks",
}

if TYPE_CHECKING:
    from kgagent.policy.config import BeamPath, PolicyConfig, Query
    from kgagent.policy.edge import EdgeReasoner, EdgeWalk
    from kgagent.policy.env import RelationWalk
    from kgagent.policy.network import PathPolicy
    from kgagent.policy.reasoner import PathReasoner
    from kgagent.policy.walks import create_reasoner, load_reasoner


__getattr__ = lazy_attributes(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
