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

from importlib import import_module
from typing import Any

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

#: model name -> "module:Class" (the one registry of KGE models)
MODELS = {
    "transe": "kgagent.embeddings.models:TransE",
    "distmult": "kgagent.embeddings.models:DistMult",
    "complex": "kgagent.embeddings.models:ComplEx",
    "rotate": "kgagent.embeddings.models:RotatE",
}

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
    """The model class registered under ``name`` (case-insensitive)."""
    from kgagent.errors import EmbeddingError

    try:
        module, cls = MODELS[name.lower()].split(":")
    except KeyError:
        raise EmbeddingError(f"model {name!r}: expected one of {', '.join(MODELS)}") from None
    return getattr(import_module(module), cls)


def get_model(name: str, **kwargs: Any):
    """A model of a registered kind, built from keyword arguments (sizes, dim, ...)."""
    return get_model_class(name)(**kwargs)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kgagent.embeddings' has no attribute {name!r}")
