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
    """Picks the option whose relation words overlap the question most ("0" if none do).

    Reads the reader's prompt the way a model would: the option lines and the question.
    """

    name = "overlap-test-lm"
    scores_choices = True

    def __init__(self) -> None:
        self.calls = 0

    def choose(self, conversations, options):
        self.calls += 1
        rows = []
        for conv in conversations:
            text = conv[-1]["content"]
            question = text.rsplit("Question:", 1)[1]
            q = _words(question.split("\n")[0])
            scores = np.zeros(len(options))
            scores[0] = 0.5
            for line in text.split("\n"):
                m = re.match(r"^(\d)\. (.*)$", line)
                if m and m.group(1) != "0" and int(m.group(1)) < len(options):
                    # the relation part sits between the first and the last arrow
                    parts = m.group(2).split(" → ")
                    rel = " ".join(parts[1:-1])
                    scores[int(m.group(1))] = len(q & _words(rel))
            rows.append(scores * 5.0)
        return normalize_rows(np.array(rows))

    def generate(self, conversations, *, max_new_tokens=64):
        return ["0"] * len(conversations)
