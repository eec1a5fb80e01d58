"""The one place text is normalised: word stems for relation relevance, English verb forms.

Everything here is knowledge of the English language, never of a dataset: the words a
question shares with a relation's label are found by stemming both with the same small
stemmer, and irregular verbs ("wrote", "written" -> "write") come from a table of common
English verbs. Words a particular graph uses (its class and property labels) are derived
from that graph by the components that read it (see the entity linker's lexicon).
"""

from __future__ import annotations

import re

__all__ = [
    "IRREGULAR_VERBS",
    "STOP_STEMS",
    "STOP_WORDS",
    "content_stems",
    "past_tense",
    "stem",
    "strip_hints",
    "words",
]

#: common English irregular verbs: base, simple past, past participle
IRREGULAR_VERBS: tuple[tuple[str, str, str], ...] = (
    ("be", "was", "been"), ("begin", "began", "begun"), ("bear", "bore", "born"),
    ("bring", "brought", "brought"), ("build", "built", "built"), ("buy", "bought", "bought"),
    ("choose", "chose", "chosen"), ("come", "came", "come"), ("do", "did", "done"),
    ("draw", "drew", "drawn"), ("drive", "drove", "driven"), ("eat", "ate", "eaten"),
    ("fall", "fell", "fallen"), ("find", "found", "found"), ("fly", "flew", "flown"),
    ("forget", "forgot", "forgotten"), ("get", "got", "gotten"), ("give", "gave", "given"),
    ("go", "went", "gone"), ("grow", "grew", "grown"), ("have", "had", "had"),
    ("hold", "held", "held"), ("keep", "kept", "kept"), ("know", "knew", "known"),
    ("lead", "led", "led"), ("leave", "left", "left"), ("lose", "lost", "lost"),
    ("make", "made", "made"), ("meet", "met", "met"), ("pay", "paid", "paid"),
    ("ride", "rode", "ridden"), ("rise", "rose", "risen"), ("run", "ran", "run"),
    ("say", "said", "said"), ("see", "saw", "seen"), ("sell", "sold", "sold"),
    ("send", "sent", "sent"), ("set", "set", "set"), ("shoot", "shot", "shot"),
    ("show", "showed", "shown"), ("sing", "sang", "sung"), ("sit", "sat", "sat"),
    ("speak", "spoke", "spoken"), ("spend", "spent", "spent"), ("stand", "stood", "stood"),
    ("steal", "stole", "stolen"), ("take", "took", "taken"), ("teach", "taught", "taught"),
    ("tell", "told", "told"), ("think", "thought", "thought"), ("throw", "threw", "thrown"),
    ("understand", "understood", "understood"), ("wear", "wore", "worn"), ("win", "won", "won"),
    ("write", "wrote", "written"),
)  # fmt: skip

#: function words, which say nothing about which relation a question asks for
STOP_WORDS = frozenset(
    {
        "the", "a", "an", "of", "by", "in", "is", "was", "has", "have", "to", "for", "on",
        "who", "what", "which", "did", "do", "does", "that", "and", "with", "are", "were",
        "be", "it",
    }
)  # fmt: skip

_WORD = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ings", "ing", "ers", "ors", "ion", "er", "or", "ed", "es", "s", "e")
_PARTICIPLES = {p: past for _, past, p in IRREGULAR_VERBS if p != past}
_UNDOUBLE = frozenset("bdgkmnprt")  # stopped -> stop, starring -> star; not fall, miss


def _regular_stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ing", "ed") and len(base) >= 4 and base[-1] == base[-2]:
                if base[-1] in _UNDOUBLE:
                    base = base[:-1]
            return base
    return word


#: irregular forms -> the stem of their base verb ("wrote", "written" -> "writ")
_IRREGULAR_STEMS = {
    form: _regular_stem(base)
    for base, past, participle in IRREGULAR_VERBS
    for form in (past, participle)
    if form != base
}


#: their stems (a question's stems are compared after stemming)
STOP_STEMS = frozenset(
    {_IRREGULAR_STEMS.get(w) or _regular_stem(w) for w in STOP_WORDS} | STOP_WORDS
)


def stem(word: str) -> str:
    """A deliberately tiny stemmer (director / directed / directing -> direct), with
    English irregular verbs mapped to their base ("wrote", "written" -> "writ")."""
    return _IRREGULAR_STEMS.get(word) or _regular_stem(word)


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words."""
    return _WORD.findall(text.lower())


def content_stems(text: str) -> set[str]:
    """The stems of a text's words, function words left out."""
    return {stem(w) for w in words(text)} - STOP_STEMS


def past_tense(participle: str) -> str | None:
    """The simple past of a past participle ("written" -> "wrote"); None if it is not one."""
    if participle in _PARTICIPLES:
        return _PARTICIPLES[participle]
    if participle.endswith("ed") or participle in {p for _, _, p in IRREGULAR_VERBS}:
        return participle
    return None


def strip_hints(question: str) -> str:
    """The question without ``[mention]`` brackets (an explicit linking hint)."""
    return question.replace("[", "").replace("]", "")
