"""kgagent.text: the shared normalisers give exactly what the four they replaced gave.

The oracles below are verbatim copies of the functions before they moved here
(``retrieval.linker.normalize``, ``transfer.align.normalize_label``, ``qa._norm``,
``llm.finetune._norm``, ``retrieval.verbalize._past_tense``), so a change of behaviour
shows up as a failing equality, not as a benchmark figure that drifts.
"""

from __future__ import annotations

import re
import unicodedata

import pytest

from kgagent import text
from kgagent.retrieval.linker import normalize
from kgagent.text import (
    fold_label,
    name_tokens,
    normalize_answer,
    normalize_name,
    past_tense,
)
from kgagent.transfer.align import normalize_label

# -- the old functions, verbatim ---------------------------------------------------------

_MARK = "\u0300-\u036f"
_TOKEN = re.compile(rf"(?:[^\W_]|[{_MARK}])+(?:['’‘`.·](?:[^\W_]|[{_MARK}])+)*|&")
_FOLD = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
    | dict.fromkeys("'’‘`.·")
)


def _old_norm_token(token: str) -> str:
    if token == "&":
        return "and"
    t = unicodedata.normalize("NFKD", token)
    if not t.isascii():
        t = "".join(c for c in t if not unicodedata.combining(c))
    t = t.casefold().translate(_FOLD)
    return "".join(t.split()) if " " in t else t


def _old_tokens(s: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _TOKEN.finditer(s):
        norm = _old_norm_token(m.group())
        if norm:
            out.append((m.start(), m.end(), norm))
    return out


def _old_linker_normalize(s: str) -> str:
    return " ".join(t[2] for t in _old_tokens(s))


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PUNCT = re.compile(r"[^\w\s]|_")


def _old_normalize_label(s: str) -> str:
    t = unicodedata.normalize("NFKC", str(s))
    t = _CAMEL.sub(" ", t)
    t = _PUNCT.sub(" ", t)
    return " ".join(t.casefold().split())


def _old_qa_norm(s: str) -> str:
    return " ".join(str(s).casefold().replace("_", " ").split())


def _old_finetune_norm(s: str) -> str:
    return " ".join(str(s).casefold().split())


_OLD_IRREGULAR = {
    "written": "wrote", "made": "made", "shot": "shot", "sung": "sang", "drawn": "drew",
    "taken": "took", "given": "gave", "known": "knew", "born": "bore", "founded": "founded",
    "built": "built", "won": "won", "held": "held", "led": "led", "spoken": "spoke",
    "chosen": "chose", "begun": "began", "brought": "brought", "bought": "bought",
    "sold": "sold", "told": "told", "thrown": "threw", "grown": "grew", "shown": "showed",
    "seen": "saw", "done": "did", "composed": "composed",
}  # fmt: skip


def _old_past_tense(participle: str) -> str | None:
    if participle in _OLD_IRREGULAR:
        return _OLD_IRREGULAR[participle]
    if participle.endswith("ed"):
        return participle
    return None


# -- tricky inputs ---------------------------------------------------------------------

TRICKY = [
    "",
    "   ",
    "!!!",
    "The Matrix: Reloaded",
    "Amélie",
    "AMELIE",
    "Ｆｕｌｌｗｉｄｔｈ Ｎａｍｅ",
    "ﬁlm noir",
    "Dr. Strangelove",
    "U.S. Marshals",
    "Schindler’s List",
    "Schindler's List",
    "Nolan's",
    "Spider–Man",
    "spider-man",
    "Æon  Flux",
    "Tom & Jerry",
    "Léon: The Professional",
    "Zoë Kravitz",
    "Łódź",
    "Ðóttir Þórsdóttir",
    "İstanbul ıs",
    "Straße",
    "directedBy",
    "directed_by",
    "hasIMDBRating",
    "releaseYear2010",
    "  Directed   by. ",
    "The Hobbit: An Unexpected Journey",
    "A Beautiful Mind",
    "Matrix, The",
    "2001: A Space Odyssey",
    "1,000,000 B.C.",
    "3.14",
    "$",
    "+1",
    "Moulin Rouge!",
    "W.E.",
    "Кто снял Начало?",
    "谁导演了盗梦空间",
    "🎬🍿",
    "united_kingdom",
    "frederica_of_mecklenburg-strelitz",
    "Rock 'n' Roll",
    "O'Brien",
    "`quoted`",
    "mid·dot",
    "tab\tand\nnewline",
    "e\u0301cole",  # a combining accent
    "x" * 300,
]


@pytest.mark.parametrize("s", TRICKY)
def test_normalizers_equal_the_old_ones(s):
    assert normalize_name(s) == _old_linker_normalize(s)
    assert normalize(s) == _old_linker_normalize(s)  # the linker's old name
    assert name_tokens(s) == _old_tokens(s)
    assert fold_label(s) == _old_normalize_label(s)
    assert normalize_label(s) == _old_normalize_label(s)  # alignment's old name
    assert normalize_answer(s) == _old_qa_norm(s)
    assert normalize_answer(s, underscores_as_spaces=False) == _old_finetune_norm(s)


def test_the_jobs_differ_on_purpose():
    assert normalize_name("Amélie") == "amelie" and fold_label("Amélie") == "amélie"
    assert fold_label("directedBy") == "directed by" and normalize_name("directedBy") == (
        "directedby"
    )
    assert normalize_answer("United_Kingdom") == "united kingdom"
    assert normalize_answer("United_Kingdom", underscores_as_spaces=False) == "united_kingdom"
    assert normalize_answer("Amélie!") == "amélie!"  # answers are compared strictly


def test_non_str_input_as_before():
    for value in (2010, 3.5, None):
        assert fold_label(value) == _old_normalize_label(value)  # type: ignore[arg-type]
        assert normalize_answer(value) == _old_qa_norm(value)  # type: ignore[arg-type]


def test_past_tense_covers_the_verbalizers_old_table():
    for participle, past in _OLD_IRREGULAR.items():
        assert past_tense(participle) == past == _old_past_tense(participle)
    for word in ("directed", "starred", "owned", "director", "genre", "by", "in"):
        assert past_tense(word) == _old_past_tense(word)


def test_new_names_are_exported():
    for name in ("fold_label", "name_tokens", "normalize_answer", "normalize_name"):
        assert name in text.__all__
