"""A deterministic stand-in for the reader's LLM, for tests that must be fast and repeatable.

The reader asks its LLM one thing per option: does this path (or typed program) answer the
question, "yes" or "no"? A real model answers from its weights, slowly and differently on
each machine; tests of an application built on kgagent need the same answer every run, in
milliseconds, with nothing to download. :class:`OverlapLM` answers from the words the
question and the option share, which is enough for the questions a graph's own relation
names phrase ("Who directed Inception?" and the path "directed by").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from kgagent.llm.base import Message, normalize_rows

__all__ = ["OverlapLM"]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "of", "by", "what", "who", "which", "did", "is", "was", "in", "has", "does"}


def _stem(word: str) -> str:
    """A crude stemmer: "directed", "director" and "directs" meet at "direct"."""
    for suffix in ("ing", "ed", "or", "er", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower())} - _STOP


def _line(text: str, head: str) -> str:
    """The rest of the prompt line starting with ``head`` (the reader's prompt format)."""
    if head not in text:
        raise ValueError(
            f"OverlapLM: the prompt has no {head.strip()!r} line; it reads the reader's "
            f"prompts (kgagent.llm.prompt, kgagent.programs.prompt), got: {text[:200]!r}"
        )
    return text.split(head, 1)[1].split("\n", 1)[0]


class OverlapLM:
    """Says "yes" to an option in proportion to how many of its relation words the
    question uses.

    It reads the reader's prompt the way a model would: the ``Question:`` line, and the
    ``Path:`` line (the relations between the topic entity and the answers) or, for a
    typed question, every word of the ``Program:`` line. The log-odds of "yes" are
    ``2 * overlap - 1``: an option sharing no word with the question is rejected, so a
    question the graph cannot answer is abstained on. The same prompts give the same
    scores on every machine.

    Implements the :class:`kgagent.llm.base.LLM` protocol; set it with
    ``agent.llm = OverlapLM()`` (the ``kg_agent`` fixture does).

    Attributes:
        calls: how many times :meth:`choose` was called (one per batch of questions),
            for tests that check the reader batches its LLM calls.
    """

    name = "overlap-test-lm"
    scores_choices = True

    def __init__(self) -> None:
        self.calls = 0

    def choose(
        self, conversations: Sequence[Sequence[Message]], options: Sequence[str]
    ) -> np.ndarray:
        """(n, 2) log-probabilities of "yes" and "no", one row per conversation."""
        if list(options) != ["yes", "no"]:
            raise ValueError(f"OverlapLM answers the options ['yes', 'no'], got {list(options)}")
        self.calls += 1
        rows = []
        for conv in conversations:
            text = conv[-1]["content"]
            question = _line(text, "Question: ")
            if "\nProgram: " in text:  # a typed program: every word of its reading
                relations = _line(text, "\nProgram: ")
            else:
                path = _line(text, "Path: ")
                relations = " ".join(path.split(" → ")[1:-1])  # between topic and answers
            overlap = len(_words(question) & _words(relations))
            rows.append([2.0 * overlap - 1.0, 0.0])  # log-odds of yes: -1 with no overlap
        return normalize_rows(np.array(rows, dtype=np.float64).reshape(-1, 2))

    def generate(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int = 64
    ) -> list[str]:
        """Always "no": the reader never needs free text from a fake."""
        return ["no"] * len(conversations)
