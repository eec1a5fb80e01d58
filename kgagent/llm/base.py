"""The LLM protocol every backend implements, and the helpers they share.

The reader asks an LLM two things: how likely each option is as the first token of its
reply (``choose``: one forward pass, no decoding, so constrained answers cost one prefill)
and, rarely, free text (``generate``). Backends: a local transformers causal LM
(SmolLM2-135M-Instruct by default) and any OpenAI-compatible HTTP server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypedDict, runtime_checkable

import numpy as np

__all__ = ["LLM", "Message", "parse_choice"]


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@runtime_checkable
class LLM(Protocol):
    """A chat LLM.

    Attributes:
        name: identifies the model (and adapter) in manifests and reports.
        scores_choices: True if ``choose`` returns real log-probabilities; False if it
            can only generate and parse (an HTTP server without ``logprobs``), in which
            case rows are one-hot.
    """

    name: str
    scores_choices: bool

    def choose(
        self, conversations: Sequence[Sequence[Message]], options: Sequence[str]
    ) -> np.ndarray:
        """(n, len(options)) log-probabilities of each option as the reply's first token.

        ``options`` are short strings that each tokenize to one token ("0" ... "9").
        Rows are normalized over the options.
        """
        ...

    def generate(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int = 64
    ) -> list[str]:
        """Greedy replies, one per conversation."""
        ...


_FIRST_OPTION = re.compile(r"\S+")


def parse_choice(reply: str, options: Sequence[str]) -> np.ndarray:
    """Log-probabilities from a generated reply: the option it starts with gets all mass.

    A reply naming none of the options spreads the mass evenly (no information).
    """
    out = np.full(len(options), -np.inf, dtype=np.float64)
    match = _FIRST_OPTION.search(reply or "")
    token = match.group(0).strip(".:)],;") if match else ""
    if token in options:
        out[list(options).index(token)] = 0.0
    else:
        out[:] = -np.log(len(options))
    return out


def normalize_rows(logits: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis (float64)."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
