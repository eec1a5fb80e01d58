"""The one place text is normalised: word stems for relation relevance, English verb forms.

Everything here is knowledge of the English language, never of a dataset: the words a
question shares with a relation's label are found by stemming both with the same small
stemmer, and irregular verbs ("wrote", "written" -> "write") come from a table of common
English verbs. Words a particular graph uses (its class and property labels) are derived
from that graph by the components that read it (see the entity linker's lexicon).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

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
_SUFFIXES = ("ings", "ing", "ers", "ors", "ions", "ion", "er", "or", "ed", "es", "s", "e")
_PARTICIPLES = {p: past for _, past, p in IRREGULAR_VERBS if p != past}
_UNDOUBLE = frozenset("bdgkmnprt")  # stopped -> stop, starring -> star; not fall, miss


def _regular_stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            doubled = len(base) >= 4 and base[-1] == base[-2] and base[-1] in _UNDOUBLE
            if suffix in ("ing", "ed") and doubled:
                base = base[:-1]
            return _final_y(base)
    return _final_y(word)


def _final_y(base: str) -> str:
    """A final "y" after a consonant reads as "i", as "-ies" leaves it: "city" and
    "cities" (-> "citi"), "country" and "countries" meet."""
    if len(base) >= 4 and base[-1] == "y" and base[-2] not in "aeiouy":
        return base[:-1] + "i"
    return base


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


# -- normalisation: one function per job ------------------------------------------------
# Each job folds a different amount on purpose, so each has its own function:
# - a *name* key (entity linking) drops accents and punctuation, so a mention typed
#   "Amelie" or "Dr Strangelove" meets "Amélie" and "Dr. Strangelove";
# - a *label* key (aligning two vocabularies) splits camelCase and snake_case, because
#   one graph's "directedBy" is another's "directed by", but keeps accents: two labels
#   that differ in them may well be two things;
# - an *answer* key (scoring answers) folds only case and spacing, so a metric counts an
#   answer right only when it names the gold answer.

__all__ += ["fold_label", "name_tokens", "normalize_answer", "normalize_name"]

_MARK = "\u0300-\u036f"  # combining diacritical marks (NFKD splits "é" into "e" + one)
_NAME_TOKEN = re.compile(rf"(?:[^\W_]|[{_MARK}])+(?:['’‘`.·](?:[^\W_]|[{_MARK}])+)*|&")
_NAME_FOLD = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
    | dict.fromkeys("'’‘`.·")
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_LABEL_PUNCT = re.compile(r"[^\w\s]|_")


@lru_cache(maxsize=262_144)
def _fold_name_token(token: str) -> str:
    """One token, folded so that case, accents, quotes and inner dots do not matter."""
    if token == "&":
        return "and"
    text = unicodedata.normalize("NFKD", token)
    if not text.isascii():
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.casefold().translate(_NAME_FOLD)
    return "".join(text.split()) if " " in text else text


def name_tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, folded word) for each word of ``text``, as :func:`normalize_name` sees it.

    The entity linker needs the offsets (a mention is a span of the question); words
    are runs of letters and digits, joined across apostrophes and inner dots ("U.S.",
    "Schindler's"); other punctuation separates words; "&" is the word "and".
    """
    out = []
    for m in _NAME_TOKEN.finditer(text):
        folded = _fold_name_token(m.group())
        if folded:
            out.append((m.start(), m.end(), folded))
    return out


def normalize_name(text: str) -> str:
    """The lookup key of a name or mention: ``"The Matrix: Reloaded"`` -> ``the matrix reloaded``.

    For entity linking, where a question's spelling of a name should meet the graph's:
    casefolded, accents stripped (NFKD), apostrophes and inner dots dropped ("Dr." and
    "Dr", "U.S." and "US" meet), other punctuation a word break, whitespace collapsed.
    """
    return " ".join(t[2] for t in name_tokens(text))


def fold_label(text: str) -> str:
    """A label as a key for matching two vocabularies: NFKC, camelCase and snake_case split
    into words, punctuation dropped, case folded, whitespace collapsed ("directedBy",
    "directed_by" and "Directed by" all become "directed by"). Accents are kept."""
    text = unicodedata.normalize("NFKC", str(text))
    text = _CAMEL.sub(" ", text)
    text = _LABEL_PUNCT.sub(" ", text)
    return " ".join(text.casefold().split())


def normalize_answer(text: str, *, underscores_as_spaces: bool = True) -> str:
    """An answer as compared with a gold answer: case folded, whitespace collapsed.

    Strict on purpose (no accent or punctuation folding): a metric should count an answer
    right only when it names the gold answer. Underscores are spaces by default, as
    PathQuestion writes its answers ("united_kingdom") and labels say "united kingdom";
    the fine-tuning example picker has always compared them as written
    (``underscores_as_spaces=False``).
    """
    text = str(text).casefold()
    if underscores_as_spaces:
        text = text.replace("_", " ")
    return " ".join(text.split())


# -- untrusted text: questions and graph text on their way to a prompt -------------------
# A question comes from whoever calls ``ask``; a label or literal from whoever wrote the
# graph. Neither may add lines, terminal escapes or invisible characters to what the
# reader sees: both are flattened to one line here (the prompt module then neutralises
# and quotes graph text, see :func:`kgagent.llm.prompt.quote`).

__all__ += ["MAX_QUESTION_CHARS", "clean_question", "one_line"]

#: the default cap on a question's length (``qa.max_question_chars``): a question is a
#: sentence, and a 100,000-character one took 38 s to refuse an answer to
MAX_QUESTION_CHARS = 1000


def one_line(text: str) -> str:
    """``text`` on one line: every control, format and separator character (newlines,
    NUL, ESC, U+2028, zero-width marks: Unicode categories C and Z) becomes a space, and
    runs of spaces one. Cheap on the common case: printable text is only re-spaced."""
    text = str(text)
    if not text.isprintable():  # the Unicode C and Z categories, the ASCII space excepted
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


def clean_question(
    question: object, *, max_chars: int = MAX_QUESTION_CHARS, field: str = "question"
) -> str:
    """A question as the pipeline may read it, or a :class:`KGAgentError` naming ``field``.

    Refused: what is not a string, text that is not valid Unicode (a lone surrogate, which
    tokenizers reject with a bare ``TypeError``) and text longer than ``max_chars`` (a
    question is a sentence; truncating would answer another question). Control characters
    (NUL, ESC, newlines) are not refused but become spaces: they mean nothing in a
    question and must not reach a prompt or a terminal.
    """
    from kgagent.errors import KGAgentError

    if not isinstance(question, str):
        raise KGAgentError(f"{field}: expected a string, got {type(question).__name__}")
    if len(question) > max_chars:
        raise KGAgentError(
            f"{field}: {len(question):,} characters, more than the {max_chars:,} allowed "
            "(qa.max_question_chars)"
        )
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise KGAgentError(
            f"{field}: not valid Unicode (a lone surrogate U+{ord(question[exc.start]):04X} "
            f"at character {exc.start + 1})"
        ) from None
    return one_line(question)
