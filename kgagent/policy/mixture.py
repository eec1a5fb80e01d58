"""A KG embedding beside the path policy in link prediction, mixed in where validation says so.

A walk over relation sequences ranks an entity by the paths that reach it. On some graphs
that is not enough: on Kinship (held out, never tuned on) the set walk reaches tail MRR
0.55 where ComplEx, trained in 6 s on 2 cores, reaches 0.84 (MINERVA: 0.72). Kinship's
relations are kinship terms whose composition depends on the people, which a walk over
relation sequences cannot condition on; an embedding of the people can.

So a relation-mode policy trained on split files gets a *companion*: a KGE model trained
on the same graph (unless the user gives one), and the policy ranks by

    P(e) = (1 - w) P_walk(e) + w softmax(f(h, r, ·))(e)

with w chosen on the validation triples among :data:`MIX_WEIGHTS`, 0 (the walk alone)
included: the embedding is used exactly as much as it ranks held-out triples better. The
walks stay the evidence a policy shows; ``metrics.json`` records the choice and the
validation MRR of each weight, and the companion is saved beside the policy (``kge/``,
the embedding artifact of :mod:`kgagent.embeddings.artifact`) so that ``kgagent policy
eval`` ranks the same way.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.errors import PolicyError

__all__ = [
    "COMPANION_MAX_TRIPLES",
    "COMPANION_MODEL",
    "MIX_WEIGHTS",
    "Companion",
    "choose_weight",
    "load_mixture",
    "save_mixture",
]

#: the KGE model trained beside a policy when the user gives none: ComplEx, the model Lin et
#: al. (2018) shape multi-hop policies with; on 2 cores it trains in 1 s on Nations, 4 s on
#: UMLS, 6 s on Kinship
COMPANION_MODEL = "complex"
#: graphs with more triples than this get no companion unless the user gives one (``kgagent
#: kge train``, then ``--kge``): its training has no time budget of its own
COMPANION_MAX_TRIPLES = 300_000
#: the KGE model's shares of the ranking tried on validation (0: the walk alone)
MIX_WEIGHTS = (0.0, 0.2, 0.5, 0.8, 1.0)
_FILE = "mixture.json"
_DIR = "kge"


@dataclass
class Companion:
    """A KGE model over the policy's entity ids, and how to write it beside the policy.

    Attributes:
        model: scores ``score_t(h, r)`` / ``score_h(r, t)`` -> (B, E).
        report: what it is (model name, where it came from, training seconds...).
        write: writes its embedding artifact directory at the path given.
    """

    model: Any
    report: dict[str, Any]
    write: Callable[[Path], Any]

    @classmethod
    def train(cls, splits, *, graph: np.ndarray | None = None, model: str = COMPANION_MODEL,
              seed: int = 0) -> Companion | None:  # fmt: skip
        """A KGE model trained on the walked triples (``graph``, default the training
        split) less any held-out one, with early stopping on the validation split (the
        test split is not read); None where they are more than
        :data:`COMPANION_MAX_TRIPLES`.

        A workspace's walked graph holds its validation queries (the walk blocks the
        query's own edge; an embedding cannot), so they are taken out: an embedding that
        had seen them would win the weight on validation by memory."""
        from kgagent.embeddings import train
        from kgagent.embeddings.artifact import save_embedding

        walked = splits.train if graph is None else np.vstack([graph, splits.train])
        triples = np.unique(np.asarray(walked, dtype=np.int64).reshape(-1, 3), axis=0)
        held = np.vstack([splits.valid, splits.test]).astype(np.int64).reshape(-1, 3)
        if len(held):
            triples = triples[~np.isin(_keys(triples, splits), _keys(held, splits))]
        if len(triples) > COMPANION_MAX_TRIPLES:
            return None
        data = dataclasses.replace(splits, train=triples, test=np.empty((0, 3), dtype=np.int64))
        t0 = time.perf_counter()
        result = train(data=data, model=model, seed=seed, progress=False)
        report = {"model": result.config.model, "source": "trained beside the policy",
                  "triples": len(triples), "seconds": round(time.perf_counter() - t0, 1),
                  "epochs": result.metrics.get("epochs")}  # fmt: skip

        def write(path: Path) -> None:
            save_embedding(path, model=result.model, data=data, config=result.config,
                           metrics=result.metrics)  # fmt: skip

        return cls(result.model, report, write)

    @classmethod
    def given(cls, directory: str | Path, model: Any) -> Companion:
        """The user's embedding directory (already loaded as ``model``), copied beside."""
        source = Path(directory)
        return cls(model, {"model": getattr(model, "name", None), "source": str(source)},
                   lambda path: shutil.copytree(source, path))  # fmt: skip


def _keys(triples: np.ndarray, splits) -> np.ndarray:
    """(n,) one int64 per (h, r, t)."""
    r, e = splits.num_relations, splits.num_entities
    return (triples[:, 0] * r + triples[:, 1]) * e + triples[:, 2]


def choose_weight(evaluate, weights=MIX_WEIGHTS) -> tuple[float, dict[float, float]]:
    """(weight, validation MRR per weight): ``evaluate(w)`` -> MRR; ties go to the smaller
    weight (the walk, which explains its answers)."""
    scores = {float(w): round(float(evaluate(float(w))), 4) for w in weights}
    best = max(scores, key=lambda w: (scores[w], -w))
    return best, scores


def save_mixture(directory: Path, companion: Companion, weight: float) -> None:
    """Writes ``mixture.json`` (and the companion under ``kge/`` unless its weight is 0)
    into a policy directory being written (inside the policy's atomic write)."""
    directory = Path(directory)
    record: dict[str, Any] = {"kge_weight": float(weight), "companion": companion.report}
    if weight > 0:
        companion.write(directory / _DIR)
        record["kge"] = _DIR
    (directory / _FILE).write_text(json.dumps(record, indent=2) + "\n")


def load_mixture(directory: str | Path, entities: list[str]) -> tuple[Any, float]:
    """(KGE model or None, weight) saved with a policy; (None, 0.0) for a policy saved
    without one. The companion must know exactly ``entities``, in order."""
    from kgagent.embeddings.artifact import Embedding

    path = Path(directory) / _FILE
    if not path.exists():
        return None, 0.0
    try:
        record = json.loads(path.read_text("utf-8"))
        weight = float(record["kge_weight"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PolicyError(f"{path}: unreadable ({exc})") from exc
    if not 0.0 <= weight <= 1.0:
        raise PolicyError(f"{path}: field 'kge_weight': expected 0..1, got {weight}")
    if weight == 0.0:
        return None, 0.0
    if not isinstance(record.get("kge"), str):
        raise PolicyError(f"{path}: field 'kge': expected the companion's directory name")
    return Embedding.load(Path(directory) / record["kge"], entities=entities).model, weight
