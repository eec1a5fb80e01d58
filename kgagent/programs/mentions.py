"""The entities a question mentions, as the program proposer uses them: in the graph, no
two overlapping, and numbers ("1993") told apart from names.

The linker proposes several entities per span, and spans that overlap: a fuzzy match may
take in a neighbouring word ("Jaws or Ronin" for "Ronin"), a word inside a title may be
an entity of its own ("Winter" in "A Tale of Winter"), and a title may be made of words
that are the question's cues ("The Last Movie" in "what was the last movie X directed").
The proposer needs one reading: the longest mention wins, narrowed to its label, and a
mention over a cue word yields to the cue when a better-linked entity stands elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kgagent.text import strip_hints

__all__ = ["LINK_MIN", "OTHER_LINK_MIN", "Mention", "masked_text", "overlap", "read_mentions"]

LINK_MIN = 0.5  # least link score of a topic entity (the pipeline's)
OTHER_LINK_MIN = 0.6  # least link score of any other entity (a weaker one is a stray word)


@dataclass(frozen=True)
class Mention:
    """A linked entity: its node, its span in the question (-1: a whole-question match),
    its link score, and whether the words are a number ("1993": maybe a value)."""

    iri: str
    node: int
    label: str
    start: int
    end: int
    score: float
    numeric: bool

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


def read_mentions(
    question: str,
    entities: Sequence[Any],
    node_of: Callable[[str], int | None],
    cue_spans: Sequence[tuple[int, int]],
    number_spans: Sequence[tuple[int, int]] = (),
) -> list[Mention]:
    """The question's mentions, best linked first (see the module docstring).

    Args:
        question: the question's text.
        entities: the linker's candidates (``Evidence.entities``: iri, label, mention,
            start, end, score).
        node_of: the graph's node of an IRI (None: not in the graph).
        cue_spans: spans of the question's cue words (``Cues.spans()``).
        number_spans: spans of the question's numbers ("1993", "the 1990s"): a mention
            within one is numeric.
    """
    found: list[Mention] = []
    for e in entities:
        node = node_of(e.iri)
        if node is None or e.score < LINK_MIN:
            continue
        start, end = _label_span(question, e)
        numeric = start >= 0 and any(a <= start and end <= b for a, b in number_spans)
        found.append(Mention(e.iri, int(node), e.label, start, end, float(e.score), numeric))
    out: list[Mention] = []
    for m in sorted(found, key=lambda m: (-(m.end - m.start), -m.score)):
        if any(o.iri == m.iri or (m.start < 0 and o.start < 0) for o in out):
            continue
        if m.start >= 0 and any(overlap(m.span, o.span) for o in out if o.start >= 0):
            continue
        out.append(m)
    out.sort(key=lambda m: (-m.score, -(m.end - m.start)))
    if len(out) > 1 and out[0].start < 0:  # a whole-question match only when nothing else
        out = out[1:]
    out = out[:1] + [m for m in out[1:] if m.score >= OTHER_LINK_MIN]
    return [m for m in out if not _yields(m, out, cue_spans)]


def overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two character spans share a character."""
    return a[0] < b[1] and b[0] < a[1]


def masked_text(question: str, spans: Sequence[tuple[int, int]]) -> str:
    """The question without the text of ``spans`` (mentions, numbers): what is left asks
    for relations."""
    keep = [True] * len(question)
    for a, b in spans:
        for i in range(max(a, 0), min(b, len(question))):
            keep[i] = False
    return strip_hints("".join(c if k else " " for c, k in zip(question, keep, strict=True)))


def _yields(m: Mention, mentions: Sequence[Mention], cue_spans) -> bool:
    """``m`` lies over a cue word and a better-linked mention stands elsewhere."""
    if m.start < 0 or not any(overlap(m.span, c) for c in cue_spans):
        return False
    return any(o.score > m.score and not overlap(o.span, m.span) for o in mentions)


def _label_span(question: str, e: Any) -> tuple[int, int]:
    """The mention's span, narrowed to the entity's label where the mention holds it."""
    if e.start < 0:
        return (-1, -1)
    at = question[e.start : e.end].casefold().find(e.label.casefold()) if e.label else -1
    if at < 0:
        return (e.start, e.end)
    return (e.start + at, e.start + at + len(e.label))
