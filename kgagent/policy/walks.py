"""Building and loading a path policy by the walk it takes, through :data:`WALKS`.

Which class walks the graph is a name (``PolicyConfig.walk`` for a new policy, the
network's ``kind`` in a checkpoint: none means ``"set"``) looked up in the walk registry
(:data:`kgagent.policy.WALKS`), so the base class no longer builds its subclass and a new
walk is one ``WALKS.register`` call. A walk class provides:

- ``from_config(adj, relations, *, config, **kwargs)``: a new, untrained reasoner;
- ``network_class.from_spec(spec)``: its network rebuilt from the checkpoint's spec;
- ``cls(network, adj, relations, config)``: the reasoner around a loaded network;
- ``save(directory)``, writing the checkpoint :func:`load_reasoner` reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgagent.artifact import read_manifest
from kgagent.errors import PolicyError
from kgagent.policy import WALKS
from kgagent.policy.config import FORMAT, PolicyConfig, network_spec

if TYPE_CHECKING:
    from kgagent.kg.adjacency import Adjacency
    from kgagent.policy.reasoner import PathReasoner

__all__ = ["create_reasoner", "load_reasoner"]


def create_reasoner(
    adj: Adjacency,
    relations: Sequence[str],
    *,
    config: PolicyConfig | None = None,
    **kwargs: Any,
) -> PathReasoner:
    """A new, untrained policy over ``adj`` for the walk ``config.walk`` names.

    Args:
        adj: the graph to walk.
        relations: its relation terms (N-Triples), in id order.
        config: hyper-parameters (default: :class:`PolicyConfig`'s).
        **kwargs: the walk's own construction arguments: for the set walk ``query_dim``
            and the feature tables (see :class:`~kgagent.policy.PathPolicy`), ``reward``
            (a :class:`~kgagent.policy.shaping.KGEReward`) for both.

    Raises:
        PolicyError: an unregistered walk, an unknown objective, or arguments the walk
            cannot take.
    """
    config = config or PolicyConfig()
    walk = WALKS.get(config.walk)
    config.objective_for_mode()  # refuses an unknown objective before training
    return walk.from_config(adj, relations, config=config, **kwargs)


def load_reasoner(directory: str | Path, adj: Adjacency, relations: Sequence[str]) -> PathReasoner:
    """Reads a saved policy of any registered walk for a graph.

    Refuses a checkpoint trained on other relations (or more or fewer of them), of another
    format, or whose weights do not fit its config.json.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    config = read_manifest(
        directory,
        "config.json",
        format=FORMAT,
        require=("policy", "network"),
        error=PolicyError,
        what="a policy checkpoint",
    )
    try:
        saved_relations = json.loads((directory / "relations.json").read_text())
        weights = load_file(str(directory / "weights.safetensors"))
    except (OSError, ValueError, SafetensorError) as exc:
        raise PolicyError(f"{directory}: unreadable policy checkpoint ({exc})") from exc
    if list(relations[: len(saved_relations)]) != saved_relations:
        raise PolicyError(
            f"{directory}: trained on {len(saved_relations)} relations that are not this "
            f"graph's first relations (it has {len(relations)}); retrain, or transfer it"
        )
    if len(relations) != len(saved_relations):
        raise PolicyError(
            f"{directory}: trained on {len(saved_relations)} relations, the graph now has "
            f"{len(relations)}; retrain the policy"
        )
    where = directory / "config.json"
    spec = network_spec(config["network"], where=where)
    cfg = PolicyConfig.from_dict(config["policy"], where=where)
    walk = WALKS.get(spec.pop("kind", "set"))
    try:
        network = walk.network_class.from_spec(spec)
    except (TypeError, ValueError, KeyError) as exc:
        raise PolicyError(f"{where}: field 'network' builds no network ({exc})") from exc
    try:
        network.load_state_dict(weights)
    except RuntimeError as exc:
        raise PolicyError(f"{directory}: weights do not match config.json ({exc})") from exc
    network.eval()
    return walk(network, adj, saved_relations, cfg)
