"""KG embeddings: TransE, DistMult, ComplEx, RotatE; training; filtered evaluation.

Embedding rows are the workspace's stable entity / relation ids, so the RL policy and
the transfer module can index them directly. Submodules import torch lazily; importing
this package is cheap.

    from kgagent.embeddings import TripleSplits, train

    data = TripleSplits.from_files(train="train.txt", valid="valid.txt", test="test.txt")
    result = train(data=data, model="rotate", out="emb/rotate")
    print(result.metrics["mrr"], result.model.score_t(h, r).shape)
"""

from __future__ import annotations

from typing import Any

from kgagent._lazy import lazy_attributes
from kgagent._registry import Registry
from kgagent.errors import EmbeddingError

__all__ = [
    "MODELS",
    "Embedding",
    "FilterIndex",
    "KGEModel",
    "TrainConfig",
    "TrainResult",
    "TripleSplits",
    "evaluate",
    "get_model",
    "get_model_class",
    "load_workspace",
    "train",
    "train_workspace",
]

#: KGE models by name, case-insensitive (``get_model(NAME, **kwargs)``); the KGE contract
#: suite (tests/contract/test_kge.py) runs against every name registered here.
MODELS = Registry(
    "model",
    error=EmbeddingError,
    message="model {name!r}: expected one of {names}",
    case_sensitive=False,
)
MODELS.register("transe", "kgagent.embeddings.models", "TransE")
MODELS.register("distmult", "kgagent.embeddings.models", "DistMult")
MODELS.register("complex", "kgagent.embeddings.models", "ComplEx")
MODELS.register("rotate", "kgagent.embeddings.models", "RotatE")

_LAZY = {
    "KGEModel": "kgagent.embeddings.models",
    "TripleSplits": "kgagent.embeddings.data",
    "FilterIndex": "kgagent.embeddings.evaluation",
    "evaluate": "kgagent.embeddings.evaluation",
    "TrainConfig": "kgagent.embeddings.training",
    "TrainResult": "kgagent.embeddings.training",
    "train": "kgagent.embeddings.training",
    "Embedding": "kgagent.embeddings.artifact",
    "load_workspace": "kgagent.embeddings.artifact",
    "train_workspace": "kgagent.embeddings.artifact",
}


def get_model_class(name: str):
    """The model class registered under ``name`` (case-insensitive).

    Raises:
        EmbeddingError: ``name`` is not registered (the message lists the names).
    """
    return MODELS.get(name)


def get_model(name: str, **kwargs: Any):
    """A model of a registered kind, built from keyword arguments (sizes, dim, ...)."""
    return get_model_class(name)(**kwargs)


__getattr__ = lazy_attributes(__name__, _LAZY)
