"""LLM backends (one protocol), prompts, the reader, and LoRA fine-tuning.

Backends: ``transformers`` (a local causal LM; SmolLM2-135M-Instruct ships offline) and
``openai`` (any OpenAI-compatible server: vLLM, llama.cpp server, Ollama). Submodules
import torch lazily; importing this package is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["LLM", "LLM_BACKENDS", "Reader", "get_llm"]

#: backend name -> "module:Class"
LLM_BACKENDS = {
    "transformers": "kgagent.llm.hf:TransformersLM",
    "openai": "kgagent.llm.openai:OpenAIChatLM",
}

_LAZY = {"LLM": "kgagent.llm.base", "Reader": "kgagent.llm.reader"}


def get_llm(backend: str, **kwargs: Any):
    """An LLM of a registered backend, built from keyword arguments."""
    from kgagent.errors import ConfigError

    try:
        module, cls = LLM_BACKENDS[backend].split(":")
    except KeyError:
        raise ConfigError(
            f"llm backend {backend!r}: expected one of {', '.join(LLM_BACKENDS)}"
        ) from None
    return getattr(import_module(module), cls)(**kwargs)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kgagent.llm' has no attribute {name!r}")
