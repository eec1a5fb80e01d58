"""Fact retrieval: verbalized facts in a faiss index, entity linking, graph expansion.

Submodules import torch/faiss lazily; importing this package is cheap.
"""

from __future__ import annotations

from kgagent._lazy import lazy_attributes
from kgagent._registry import Registry
from kgagent.errors import EncoderError

__all__ = [
    "ENCODERS",
    "EXECUTORS",
    "EntityCandidate",
    "EntityLinker",
    "FactIndex",
    "FactTable",
    "Verbalizer",
    "get_encoder",
]

#: Text encoders by name (``get_encoder(NAME, **kwargs)``); the encoder contract suite
#: (tests/contract/test_encoders.py) runs against every name registered here.
ENCODERS = Registry("encoder", error=EncoderError)
ENCODERS.register("minilm", "kgagent.retrieval.encoder", "SentenceTransformerEncoder")
ENCODERS.register(
    "sentence-transformers", "kgagent.retrieval.encoder", "SentenceTransformerEncoder"
)
ENCODERS.register("hashing", "kgagent.retrieval.encoder", "HashingEncoder")
#: word-piece vectors distilled from MiniLM (once, cached): ~45x faster to encode, coarser
ENCODERS.register("static", "kgagent.retrieval.static", "StaticEncoder")

#: Where an index build encodes (``kgagent index --executor NAME``): this process, or
#: Ray actors (:mod:`kgagent.retrieval.executors`)
EXECUTORS = Registry("executor")
EXECUTORS.register("local", "kgagent.retrieval.executors", "LocalExecutor")
EXECUTORS.register("ray", "kgagent.retrieval.executors", "RayExecutor")

_LAZY = {
    "get_encoder": "kgagent.retrieval.encoder",
    "EntityCandidate": "kgagent.retrieval.linker",
    "EntityLinker": "kgagent.retrieval.linker",
    "FactIndex": "kgagent.retrieval.index",
    "FactTable": "kgagent.retrieval.facts",
    "Verbalizer": "kgagent.retrieval.verbalize",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
