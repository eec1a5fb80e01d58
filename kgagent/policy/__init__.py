"""The RL path policy: walks the graph by relations to answer multi-hop questions.

:class:`RelationWalk` is the environment, :class:`PathPolicy` the network,
:class:`PathReasoner` trains it (REINFORCE), runs beam search and saves/loads it. For
link prediction, :class:`EdgeReasoner` walks edges instead (MINERVA's design,
``PolicyConfig(walk="edge")``; :mod:`kgagent.policy.edge`).
"""

from kgagent.policy.edge import EdgeReasoner, EdgeWalk
from kgagent.policy.env import RelationWalk
from kgagent.policy.network import PathPolicy
from kgagent.policy.reasoner import BeamPath, PathReasoner, PolicyConfig, PolicyError, Query

__all__ = [
    "BeamPath",
    "EdgeReasoner",
    "EdgeWalk",
    "PathPolicy",
    "PathReasoner",
    "PolicyConfig",
    "PolicyError",
    "Query",
    "RelationWalk",
]
