"""LLM backends (one protocol), prompts, the reader, and LoRA fine-tuning.

Backends: ``transformers`` (a local causal LM; SmolLM2-135M-Instruct ships offline) and
``openai`` (any OpenAI-compatible server: vLLM, llama.cpp server, Ollama). Submodules
import torch lazily; importing this package is cheap.
"""

from __future__ import annotations

from typing import Any

from kgagent._lazy import lazy_attributes
from kgagent._registry import Registry
from kgagent.errors import ConfigError

__all__ = ["LLM", "LLM_BACKENDS", "Reader", "get_llm"]

#: LLM backends by name (``get_llm(NAME, **kwargs)``); the LLM contract suite
#: (tests/contract/test_llms.py) runs against every name registered here.
LLM_BACKENDS = Registry(
    "llm backend", error=ConfigError, message="llm backend {name!r}: expected one of {names}"
)
LLM_BACKENDS.register("transformers", "kgagent.llm.hf", "TransformersLM")
LLM_BACKENDS.register("openai", "kgagent.llm.openai", "OpenAIChatLM")

_LAZY = {"LLM": "kgagent.llm.base", "Reader": "kgagent.llm.reader"}


def get_llm(backend: str, **kwargs: Any):
    """An LLM of a registered backend, built from keyword arguments.

    Raises:
        ConfigError: ``backend`` is not registered (the message lists the names).
    """
    return LLM_BACKENDS.get(backend)(**kwargs)


__getattr__ = lazy_attributes(__name__, _LAZY)
