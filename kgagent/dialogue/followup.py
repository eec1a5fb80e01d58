"""What in a question points back at the conversation: pronouns, demonstratives,
"which of them", "else".

English function words only (pronouns, determiners, "of them", "only the"); the words
of the graph never appear here. Each reference keeps its span, so the conversation can
put the entity it resolves to in its place ("what else did they direct" -> "what else
did Oliver Stone direct").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FollowUp", "Ref", "read_followup", "value_like"]

#: pronouns that stand for people ("they" too: a person of unknown gender)
PERSONAL = frozenset({"he", "she", "him", "her", "his", "hers", "they", "their", "theirs"})
#: pronouns that stand for a set already named ("them", "those films")
PLURAL = frozenset({"them", "those", "these"})
THING = frozenset({"it", "its"})
SINGULAR_DEMONSTRATIVES = frozenset({"this", "that"})
POSSESSIVE = frozenset({"his", "her", "their", "its"})
OTHER = frozenset({"else", "other", "others"})
#: a refinement of the last answers: "which of them", "of those", "only the ... ones",
#: "narrow that to", "among these"
_REFINE = re.compile(
    r"\b(?:which|what)\s+(?:ones\s+)?(?:of|among)\s+(?:them|those|these)\b"
    r"|^\W*(?:and\s+)?(?:of|among|from)\s+(?:them|those|these)\b"
    r"|\b(?:only|just)\s+(?:the\s+)?(?=\w)"
    r"|\bnarrow\s+(?:that|this|those|these|it|them)\s+(?:down\s+)?to\b",
    re.IGNORECASE,
)
#: an answer label that is a value (a year, a number, a date), not something to ask about
_VALUE = re.compile(r"^[-+]?\d[\d.,:/ -]*$")
_WORD = re.compile(r"[A-Za-z']+")
#: words that start an ellipsis ("and the release year?", "what about its genre?")
_LEADS = re.compile(r"^\s*(?:and|also|what\s+about|how\s+about)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Ref:
    """A word (or a demonstrative and its noun) that refers back.

    Attributes:
        start, end: its span in the question.
        word: the pronoun or determiner, lower case.
        noun: the noun after a demonstrative ("director" of "that director"), else "".
        kind: "personal", "plural", "thing" or "demonstrative".
        possessive: "their", "its": the entity goes in as "X's".
    """

    start: int
    end: int
    word: str
    noun: str
    kind: str
    possessive: bool


@dataclass(frozen=True)
class FollowUp:
    """The question's references, refinement and "else"."""

    refs: tuple[Ref, ...]
    refine: tuple[int, int] | None  # span of "which of them", "only the"...
    other: bool  # "else", "other": leave out what the last turn was about
    lead: bool  # starts like an ellipsis ("and ...", "what about ...")


def read_followup(question: str) -> FollowUp:
    text = question or ""
    refine = _REFINE.search(text)
    spans = [(refine.start(), refine.end())] if refine else []
    refs: list[Ref] = []
    words = list(_WORD.finditer(text))
    skip = -1
    for i, m in enumerate(words):
        w = m.group(0).lower()
        if i <= skip or any(s <= m.start() < e for s, e in spans):
            continue
        if w in SINGULAR_DEMONSTRATIVES | PLURAL - {"them"} and i + 1 < len(words):
            noun = words[i + 1]
            if _is_noun(noun.group(0)):
                kind = "plural" if w in PLURAL else "demonstrative"
                refs.append(Ref(m.start(), noun.end(), w, noun.group(0).lower(), kind, False))
                skip = i + 1
                continue
        if w in PERSONAL:
            refs.append(Ref(m.start(), m.end(), w, "", "personal", w in POSSESSIVE))
        elif w in THING:
            refs.append(Ref(m.start(), m.end(), w, "", "thing", w in POSSESSIVE))
        elif w == "them" or (w in PLURAL and not refine):
            refs.append(Ref(m.start(), m.end(), w, "", "plural", False))
    lowered = {m.group(0).lower() for m in words}
    return FollowUp(
        refs=tuple(refs),
        refine=(refine.start(), refine.end()) if refine else None,
        other=bool(OTHER & lowered),
        lead=bool(_LEADS.match(text)),
    )


_NOT_NOUNS = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "did",
        "do",
        "does",
        "has",
        "have",
        "had",
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "to",
        "by",
        "for",
        "and",
        "or",
        "with",
        "one",
        "ones",
        "year",
        "years",
    ]
)


def _is_noun(word: str) -> bool:
    """A word after "that" / "those" that names a kind ("director", "films"), not a
    verb or a function word ("that is", "those were")."""
    w = word.lower()
    return w not in _NOT_NOUNS and len(w) > 2 and not w.endswith("ly")


def value_like(label: str) -> bool:
    """A label that is a value (a year, a number, a date), not a thing to ask about."""
    return bool(_VALUE.match(label.strip()))
