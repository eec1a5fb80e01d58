"""Deterministic stand-ins for the LLM in unit tests (the real model runs in slow tests)."""

from __future__ import annotations

import re

import numpy as np

from kgagent.llm.base import normalize_rows

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "of", "by", "what", "who", "which", "did", "is", "was", "in", "has", "does"}


def _stem(w: str) -> str:
    for suffix in ("ing", "ed", "or", "er", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)]
    return w


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower())} - _STOP


class OverlapLM:
    """Says "yes" to a path in proportion to how many of its relation words the question uses.

    Reads the reader's prompt the way a model would: the question and the path line.
    """

    name = "overlap-test-lm"
    scores_choices = True

    def __init__(self) -> None:
        self.calls = 0

    def choose(self, conversations, options):
        assert list(options) == ["yes", "no"]
        self.calls += 1
        rows = []
        for conv in conversations:
            text = conv[-1]["content"]
            question = text.split("Question: ", 1)[1].split("\n", 1)[0]
            if "\nProgram: " in text:  # a typed program: every word of its reading
                relations = text.split("Program: ", 1)[1].split("\n", 1)[0]
            else:
                path = text.split("Path: ", 1)[1].split("\n", 1)[0]
                relations = " ".join(path.split(" → ")[1:-1])  # between topic and answers
            overlap = len(_words(question) & _words(relations))
            rows.append([2.0 * overlap - 1.0, 0.0])  # log-odds of yes: -1 with no overlap
        return normalize_rows(np.array(rows, dtype=np.float64))

    def generate(self, conversations, *, max_new_tokens=64):
        return ["no"] * len(conversations)
