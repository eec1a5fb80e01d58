"""What a synthesized question set covers: templates, chains, hops, question words.

A reader or policy trained on synthesized questions learns only what they vary: the
report says how many distinct templates and relation chains a set holds and how its
questions spread over hop counts and question words, so a thin set shows before
anything is trained on it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgagent.synth import SynthItem

__all__ = ["SynthReport", "question_word"]

_WH = {"who": "who", "whom": "who", "whose": "who", "what": "what", "which": "which",
       "when": "when", "where": "where", "how": "how"}  # fmt: skip
_COMMANDS = ("list", "name", "give", "show", "tell", "find")
_WORD = re.compile(r"[a-z]+")


def question_word(question: str, topic_label: str = "") -> str:
    """The question's wh-word ("who", "what year" counts as "what"), "imperative" for
    commands, "none" for a bare noun phrase; the topic's own words are ignored."""
    text = question.lower().replace(topic_label.lower(), " ") if topic_label else question.lower()
    words = _WORD.findall(text)
    if words and words[0] in _COMMANDS:
        return "imperative"
    for w in words:
        if w in _WH:
            return _WH[w]
    return "none"


@dataclass(frozen=True)
class SynthReport:
    """The diversity of a synthesized question set.

    Attributes:
        questions: how many.
        templates: distinct templates used.
        chains: distinct relation chains (with direction) asked.
        relations: distinct relations asked about.
        per_hop: questions per hop count.
        shapes_available: chains the graph allows per hop count (type-consistent).
        question_words: share of questions per question word.
        template_counts: questions per template.
        chain_counts: questions per chain ("p1/p2^-1").
        seconds: time taken.
    """

    questions: int
    templates: int
    chains: int
    relations: int
    per_hop: dict[int, int]
    shapes_available: dict[int, int]
    question_words: dict[str, float]
    template_counts: dict[str, int] = field(default_factory=dict)
    chain_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def of(
        cls,
        items: Sequence[SynthItem],
        *,
        shapes_available: dict[int, int],
        relation_label,
        seconds: float = 0.0,
    ) -> SynthReport:
        """The report of ``items``; ``relation_label`` names a predicate IRI in chains."""
        templates = Counter(it.template for it in items)
        chains = Counter(
            "/".join(
                relation_label(p) + ("^-1" if inv else "")
                for p, inv in zip(it.relations, it.inverse, strict=True)
            )
            for it in items
        )
        words = Counter(question_word(it.question, it.topic_label) for it in items)
        n = max(len(items), 1)
        return cls(
            questions=len(items),
            templates=len(templates),
            chains=len(chains),
            relations=len({p for it in items for p in it.relations}),
            per_hop=dict(sorted(Counter(len(it.relations) for it in items).items())),
            shapes_available=dict(shapes_available),
            question_words={w: round(k / n, 3) for w, k in words.most_common()},
            template_counts=dict(templates.most_common()),
            chain_counts=dict(chains.most_common()),
            seconds=round(seconds, 3),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """A few lines for a terminal."""
        hops = ", ".join(
            f"{h}-hop {k} (of {self.shapes_available.get(h, 0)} chains)"
            for h, k in self.per_hop.items()
        )
        words = ", ".join(f"{w} {s:.0%}" for w, s in self.question_words.items())
        return (
            f"{self.questions} questions in {self.seconds:.1f}s: {self.templates} templates, "
            f"{self.chains} relation chains over {self.relations} relations\n"
            f"per hop: {hops}\nquestion words: {words}"
        )
