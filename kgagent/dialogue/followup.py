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

__all__ = [
    "THEY",
    "FollowUp",
    "Ref",
    "asks_people",
    "joined_constraint",
    "read_followup",
    "same_kind",
    "strip_opening",
    "they_act",
    "value_like",
]

#: pronouns that stand for people ("they" too: a person of unknown gender)
PERSONAL = frozenset({"he", "she", "him", "her", "his", "hers", "they", "their", "theirs"})
#: the personal pronouns that also stand for several things ("when were they released?")
THEY = frozenset({"they", "their", "theirs"})
#: pronouns that stand for a set already named ("them", "those films")
PLURAL = frozenset({"them", "those", "these"})
THING = frozenset({"it", "its"})
SINGULAR_DEMONSTRATIVES = frozenset({"this", "that"})
POSSESSIVE = frozenset({"his", "her", "their", "its"})
OTHER = frozenset({"else", "other", "others"})
#: a refinement of the last answers: "which of them", "of those", "only the ... ones",
#: "narrow that to", "among these"
#: words a follow-up may open with before it says what it is ("OK, and the genre?")
_OPENING = r"^\W*(?:(?:ok|okay|so|well|right|now|then|alright)\b[\s,]*)?"
_REFINE = re.compile(
    r"\b(?:which|what)\s+(?:ones\s+)?(?:of|among)\s+(?:them|those|these)\b"
    rf"|{_OPENING}(?:and\s+)?(?:of|among|from)\s+(?:them|those|these)\b"
    rf"|{_OPENING}(?:and\s+)?(?:which|what)\s+ones\b"
    r"|(?:\b(?:keep|show|give|list|name|want)(?:\s+(?:me|us))?\s+)?\b(?:only|just)\s+"
    r"(?:(?:the|those|these)\s+)?(?:ones\s+)?(?=\w)"
    r"|\bnarrow\s+(?:that|this|those|these|it|them)\s+(?:down\s+)?to\b",
    re.IGNORECASE,
)
#: an answer label that is a value (a year, a number, a date), not something to ask about
_VALUE = re.compile(r"^[-+]?\d[\d.,:/ -]*$")
_WORD = re.compile(r"[A-Za-z']+")
#: words that start an ellipsis ("and the release year?", "what about its genre?")
_LEADS = re.compile(rf"{_OPENING}(?:and|also|what\s+about|how\s+about)\b", re.IGNORECASE)


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
    definite: tuple[Ref, ...] = ()  # "the movie" at the end: a reference if it names
    # the kind of thing the last question asked for (the conversation decides)


def read_followup(question: str) -> FollowUp:
    text = question or ""
    refine = _REFINE.search(text)
    spans = [(refine.start(), refine.end())] if refine else []
    refs: list[Ref] = []
    words = list(_WORD.finditer(text))
    skip = -1
    for i, m in enumerate(words):
        w = m.group(0).lower()
        if i <= skip or any(s <= m.start() < e for s, e in spans) or _in_a_name(text, m):
            continue
        if w in SINGULAR_DEMONSTRATIVES | PLURAL - {"them"} and i + 1 < len(words):
            noun = words[i + 1]
            if _is_noun(noun.group(0)) and _adjacent(text, m, noun):
                kind = "plural" if w in PLURAL else "demonstrative"
                refs.append(Ref(m.start(), noun.end(), w, noun.group(0).lower(), kind, False))
                skip = i + 1
                continue
        if w in SINGULAR_DEMONSTRATIVES and _standing_alone(text, words, i):
            refs.append(Ref(m.start(), m.end(), w, "", "demonstrative", False))
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
        definite=() if refs else _definite(text, words, spans),
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
        "year",
        "years",
    ]
)


def _is_noun(word: str) -> bool:
    """A word after "that" / "those" that names a kind ("director", "films", "one"), not
    a verb, a function word ("that is", "those were") or a name: "the films that Kathy
    Burke starred in" is a relative clause (English writes common nouns in lower case)."""
    w = word.lower()
    return (
        word[:1].islower()
        and w not in _NOT_NOUNS
        and (len(w) > 2 or w == "one")
        and not w.endswith(("ly", "ed"))  # "was that released": a participle
    )


def _definite(text: str, words: list[re.Match], spans) -> tuple[Ref, ...]:
    """ "the <noun>" closing a clause ("who directed the movie?"), not before a name or an
    "of" ("the movie Heat", "the genre of Heat"): a candidate reference."""
    out = []
    for i, m in enumerate(words[:-1]):
        noun = words[i + 1]
        after = text[noun.end() :].lstrip()
        if (
            m.group(0).lower() == "the"
            and _is_noun(noun.group(0))
            and _adjacent(text, m, noun)
            and (not after or after[0] in "?.!,;")
            and not any(s <= m.start() < e for s, e in spans)
        ):
            out.append(Ref(m.start(), noun.end(), "the", noun.group(0).lower(), "demonstrative",
                           False))  # fmt: skip
    return tuple(out)


_POLITE = re.compile(
    r"^\W*(?:(?:"
    # phrases, however they are set off
    r"(?:(?:the\s+)?next|another|a\s+new|new|a\s+different|different|one\s+more)\s+"
    r"(?:question|one|thing)|on\s+another\s+note|moving\s+on|let'?s\s+move\s+on|"
    r"switching\s+(?:topics?|subjects?)|changing\s+(?:the\s+)?(?:topic|subject)|"
    r"(?:could|can|would|will)\s+you(?:\s+please)?|and"
    r")\b[\s,:.;-]*"
    # single words only where punctuation sets them off ("Now, who..." but "Next Friday")
    r"|(?:ok|okay|so|well|right|now|then|alright|please|also|next)\s*[,:.;-]+\s*)+",
    re.IGNORECASE,
)


def strip_opening(text: str) -> str:
    """The text without the words a follow-up opens with ("Right, and", "Could you",
    "Next question:", "On another note,"), which a stand-alone question does not need
    and the linker may take for names."""
    return _POLITE.sub("", text)


def _in_a_name(text: str, m: re.Match) -> bool:
    """A capitalized word inside a sentence is part of a name ("In Her Shoes", "Just Go
    with It"): English writes pronouns in lower case there."""
    before = text[: m.start()].rstrip()
    return m.group(0)[:1].isupper() and bool(before) and before[-1] not in ".!?:;,\"'("


def _adjacent(text: str, a: re.Match, b: re.Match) -> bool:
    """Only spaces between two words ("that director", not "that, director")."""
    return not text[a.end() : b.start()].strip()


#: words before a bare "that" / "this" that make it a pronoun ("is that", "of this")
_BEFORE_PRONOUN = frozenset(
    {"is", "was", "are", "were", "did", "does", "do", "has", "have", "had", "about",
     "of", "in", "for", "on", "from", "with", "by", "directed", "wrote", "made", "like"}
)  # fmt: skip
_AUXILIARIES = frozenset({"is", "was", "were", "are", "did", "does", "do", "has", "have", "had"})


def _standing_alone(text: str, words: list[re.Match], i: int) -> bool:
    """A bare "that" / "this" that stands for a thing ("what kind of film is that?",
    "when was that released?"), not a relative clause or a conjunction ("the films that
    X wrote", "is it true that ..."): it ends the question, or an auxiliary precedes it
    and a lower-case word follows."""
    after = text[words[i].end() :].lstrip()
    if not after or after[0] in "?.!,;":
        return i > 0 and words[i - 1].group(0).lower() in _BEFORE_PRONOUN
    before = words[i - 1].group(0).lower() if i > 0 else ""
    return before in _AUXILIARIES and words[i + 1].group(0)[:1].islower()


def value_like(label: str) -> bool:
    """A label that is a value (a year, a number, a date), not a thing to ask about."""
    return bool(_VALUE.match(label.strip()))


_WHO = re.compile(r"\b(?:who|whom|whoever|whomever)\b", re.IGNORECASE)
SAME_KIND = 0.65  # cosine of two nouns for the same kind ("movies", "films": 0.87 on MiniLM)
#: words before a noun that make it what a question asks for ("which actors", "its director")
_ASKING = frozenset({"which", "what", "the", "its", "their", "his", "her", "whose"})


def asks_people(question: str) -> bool:
    """Whether a question asks for people: "who", or a person noun the question asks for
    ("which actors", "and its director?"), not one it refers back with ("what did that
    director write?") nor a verb ("which films did X star in?")."""
    if _WHO.search(question or ""):
        return True
    from kgagent.synth.english import is_person_noun

    spans = [(r.start, r.end) for r in read_followup(question).refs]
    words = list(_WORD.finditer(question or ""))
    return any(
        is_person_noun(m.group(0))
        and words[i - 1].group(0).lower() in _ASKING
        and not any(s <= m.start() < e for s, e in spans)
        for i, m in enumerate(words)
        if i > 0
    )


#: "which did they write", "what movies have they directed": "they" does what is asked
_THEY_ASKED = re.compile(
    r"\b(?:which|what)\b(?:\s+(\w+))?\s+(?:did|do|does|have|has|had)\s+they\b", re.IGNORECASE
)
#: "the movies they directed", "the ones that they wrote"
_THEY_CLAUSE = re.compile(r"\b(\w+)\s+(?:that\s+|which\s+)?they\s+\w+", re.IGNORECASE)


def they_act(question: str, last_question: str, similar=None) -> bool:
    """Whether "they" does what the question asks, and it asks for the kind of thing the
    last question asked for ("which movies did X direct?" -> "and which did they write?",
    "what about the movies they directed?"): then "they" is who the last question was
    about, not its answers (movies direct nothing). "When were they released?" and "what
    years did they come out?" ask for another kind, so "they" are the answers.

    ``similar(word, words) -> float``, the best cosine of a word against several (the
    agent's encoder), also matches a noun to the last question's words ("movies" and
    "films"); without it only shared stems do.
    """
    for pattern in (_THEY_ASKED, _THEY_CLAUSE):
        for m in pattern.finditer(question or ""):
            noun = (m.group(1) or "").lower()
            if not noun or noun in ("one", "ones") or same_kind(noun, last_question, similar):
                return True
    return False


def same_kind(noun: str, question: str, similar=None) -> bool:
    """Whether ``noun`` names what ``question`` talks of: a shared stem, or (``similar``,
    the agent's encoder) a word of the question that means the same ("movie", "films")."""
    from kgagent.text import content_stems, words

    stems = content_stems(noun)
    if not stems:
        return False
    if stems & content_stems(question):
        return True
    others = [w for w in words(question) if content_stems(w)]
    return similar is not None and bool(others) and similar(noun, others) >= SAME_KIND


_PREPOSITIONS = frozenset({"in", "from", "with", "of", "on", "at", "before", "after", "since",
                           "about", "for", "by", "among", "between", "during"})  # fmt: skip
_FINITE = frozenset({"are", "is", "were", "was", "did", "do", "does", "have", "has", "had",
                     "can", "will", "would", "could", "came", "come"})  # fmt: skip


def joined_constraint(question: str, rest: str) -> str:
    """``question`` narrowed by ``rest``, the words of a refinement after "which of them"
    ("came out in 2005", "in English", "directed by X", "Drama ones"), as one clause
    the typed programs read as a constraint: "<question> that are in English?"."""
    first = (rest.split() or [""])[0]
    lower = first.lower()
    if lower in _FINITE:
        verb = ""
    elif lower in _PREPOSITIONS or lower in ("the", "a", "an") or first[:1].isupper():
        verb = "are "
    elif lower.endswith(("ed", "en")) and len(lower) > 4:
        verb = "were "
    else:
        verb = ""
    return f"{question.rstrip(' ?.!')} that {verb}{rest}?"
