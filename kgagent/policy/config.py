"""What a path policy is configured by, what it is asked, and what its beam returns.

Kept apart from :mod:`kgagent.policy.reasoner` (which trains and runs the network) so
that configs and queries can be built, compared and serialised without torch: they are
plain dataclasses over numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.errors import PolicyError

__all__ = ["FORMAT", "BeamPath", "PolicyConfig", "Query", "network_spec"]

#: the format tag of a policy checkpoint's config.json (every walk writes it)
FORMAT = "kgagent-policy/1"


@dataclass(frozen=True)
class Query:
    """One training or test query: where the walk starts, what is asked, the gold set.

    ``query`` is a question embedding (question mode) or a relation id (relation mode).
    """

    start: int
    query: Any
    answers: np.ndarray  # sorted gold entity ids
    #: (num_actions,) bool, the actions this query may take (None: all); a team's router
    #: keeps a walk to the graphs it chose
    allowed: np.ndarray | None = None


@dataclass
class PolicyConfig:
    """Hyper-parameters; defaults train MetaQA's three hop counts in minutes on 2 cores."""

    mode: str = "question"
    dim: int = 128
    max_hops: int = 3
    epochs: int = 30
    batch_size: int = 64
    rollouts: int = 8
    lr: float = 1e-3
    entropy: float = 0.05
    action_dropout: float = 0.1
    beam: int = 8
    #: epochs in a row without a better validation score before training stops
    #: (:class:`~kgagent.stopping.EarlyStopper`); None: train every epoch
    patience: int | None = 6
    seed: int = 0
    #: walks may pass through their start again (None: only in relation mode; see
    #: :class:`~kgagent.policy.env.RelationWalk`)
    revisit_start: bool | None = None
    #: how a walk's answers share its probability, ``"uniform"`` or ``"walk"`` (None:
    #: walk in relation mode; see :class:`~kgagent.policy.env.RelationWalk`)
    answer_weights: str | None = None
    #: a question may be answered by its own topic (see RelationWalk)
    topic_answers: bool = False
    #: relation mode: whether the query reads the start entity's embedding (beside the
    #: query relation's); off, the walk is a distribution over relation paths per query
    #: relation, as MINERVA's on UMLS, which generalises better to held-out triples
    start_entity: bool = False
    #: ``"set"``: relation actions carrying entity sets (:class:`RelationWalk`);
    #: ``"edge"``: MINERVA's walk, one edge per step, ending on one entity (relation mode
    #: only; :mod:`kgagent.policy.edge`)
    walk: str = "set"
    #: edge walks: actions an entity offers, NO_OP included (a seeded subset beyond)
    max_actions: int = 512
    #: edge walks: whether the policy sees entity embeddings. Off (MINERVA's UMLS
    #: setting) the walk picks among an entity's edges by their relations only; on, it can
    #: choose entities, and on UMLS memorises which entities answer a start entity's
    #: training queries (validation MRR 0.28 vs 0.47 after the same 27 epochs)
    edge_entities: bool = False
    #: edge walks: LSTM layers (MINERVA 1, Lin et al. 3)
    edge_layers: int = 1
    #: what REINFORCE climbs (None: likelihood in relation mode, reward in question mode).
    #: ``"reward"``: the expected reward of a query's walks. ``"likelihood"``: its
    #: logarithm, the log-probability that the walk's pick is gold (maximum marginal
    #: likelihood; Guu et al., 2017): each query's advantages are divided by its rollouts'
    #: mean reward (floored at ``reward_floor``), so queries the policy finds hard weigh as
    #: much as easy ones. Link prediction then asks one query per training triple, so a
    #: policy must spread over every tail of (h, r) rather than reach one of them surely
    objective: str | None = None
    reward_floor: float = 0.01

    @classmethod
    def from_dict(cls, data: object, *, where: str | Path) -> PolicyConfig:
        """The config a checkpoint's ``config.json`` records under ``policy``: a JSON
        object whose known fields have their types (unknown fields, from other versions,
        are ignored). A wrong type is a PolicyError naming ``where`` and the field — a
        string "128" for ``dim`` used to load and fail later, deep in torch."""
        if not isinstance(data, dict):
            raise PolicyError(f"{where}: field 'policy': expected an object, got "
                              f"{type(data).__name__}")  # fmt: skip
        values = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if not _accepts(str(f.type), value):
                raise PolicyError(
                    f"{where}: field 'policy.{f.name}': expected {f.type}, got {value!r:.60}"
                )
            if f.name in _POSITIVE and value < 1:
                raise PolicyError(f"{where}: field 'policy.{f.name}': expected >= 1, got {value}")
            values[f.name] = value
        return cls(**values)

    def revisits(self) -> bool:
        return self.mode == "relation" if self.revisit_start is None else self.revisit_start

    def objective_for_mode(self) -> str:
        if self.objective is None:
            return "likelihood" if self.mode == "relation" else "reward"
        if self.objective not in ("reward", "likelihood"):
            raise PolicyError(f"objective must be 'reward' or 'likelihood', not {self.objective!r}")
        return self.objective

    def weights(self) -> str:
        if self.answer_weights is None:
            return "walk" if self.mode == "relation" else "uniform"
        return self.answer_weights


_POSITIVE = frozenset({"dim", "max_hops", "beam", "rollouts", "batch_size"})
_TYPES = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "None": lambda v: v is None,
}


def _accepts(annotation: str, value: object) -> bool:
    """Whether a JSON value fits a field annotated ``int``, ``str | None``, ... (an
    annotation of other types accepts anything: nothing here to check it against)."""
    kinds = [k.strip() for k in annotation.split("|")]
    if not all(k in _TYPES for k in kinds):
        return True
    return any(_TYPES[k](value) for k in kinds)


def network_spec(data: object, *, where: str | Path) -> dict[str, Any]:
    """The ``network`` object of a checkpoint's ``config.json``, checked before any
    network is built from it: sizes (``num_*``, ``dim``, ``*_dim``, ``hidden``,
    ``layers``, ``*_features``) non-negative integers, ``kind`` and ``mode`` strings,
    everything else a number or a boolean. A PolicyError names ``where`` and the field."""
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: field 'network': expected an object, got "
                          f"{type(data).__name__}")  # fmt: skip
    for key, value in data.items():
        size = (
            key.startswith("num_")
            or key in ("dim", "hidden", "layers")
            or key.endswith(("_dim", "_features"))
        )
        if key in ("kind", "mode"):
            ok, expected = isinstance(value, str), "a string"
        elif size:
            ok = _TYPES["int"](value) and value >= 0
            expected = "a non-negative integer"
        else:
            ok, expected = isinstance(value, int | float), "a number or a boolean"
        if not ok:
            raise PolicyError(f"{where}: field 'network.{key}': expected {expected}, got "
                              f"{value!r:.60}")  # fmt: skip
    return dict(data)


@dataclass(frozen=True)
class BeamPath:
    """A walk the beam kept: relation actions (no STOP), log-probability, answers reached
    and the share of the walk's probability each of them gets (sums to 1)."""

    actions: tuple[int, ...]
    logp: float
    answers: np.ndarray
    weights: np.ndarray
    #: the entities an edge walk passes, one per action (set walks: empty)
    entities: tuple[int, ...] = ()
