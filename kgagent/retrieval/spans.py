"""Which spans of a question name entities, when no ``[hint]`` says so.

Word n-grams of the question are looked up in the linker's :class:`NameTable`; its prefix
set stops the n-gram walk as soon as no name can start that way, so a question costs a
few dozen dict probes, not an automaton (pyahocorasick would add a dependency for no
measurable gain here). Runs of content words that no single name covers are matched
fuzzily. Overlapping spans then compete on length (content words, not stopwords or
two-letter titles such as "Up"), match precision and then popularity.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from kgagent.retrieval.name_table import Hit, NameTable
from kgagent.text import name_tokens

__all__ = ["BARRIER", "Question", "Span", "SpanFinder", "Word"]

BARRIER = "\x00"  # stands for a [hint] in the token stream: no name spans across it
# connectors allowed inside a run of content words handed to the fuzzy matcher
_CONNECTORS = frozenset(
    {"of", "the", "and", "or", "a", "an", "as", "in", "on", "at", "to", "for", "from", "with"}
    | {"by", "my", "s"}
    | {"your", "i", "de", "la", "le", "du", "del", "da", "do", "dos", "di", "der", "von", "van"}
)
_GLUED = re.compile(r"[^\w\s\[\]]*")  # punctuation right after a word: "Taxi!", "W.E."
_GLUED_BEFORE = re.compile(r"[^\w\s\[\]]*$")  # ... and right before one: "+1"
_SYMBOLS = re.compile(r"(?<!\S)[^\w\s\[\]]+(?!\S)")  # a chunk with no word: "$"
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_NESTED_PRECISION = 0.9  # a chosen span this precise makes the spans inside it unlikely
_NESTED_WEIGHT = 0.5  # ... and scales their weight


@dataclass(frozen=True)
class Word:
    """A word of the question: char offsets, lookup form, and whether it may name a thing."""

    start: int
    end: int
    norm: str
    content: bool  # not a stopword, or capitalized inside a cased question


@dataclass(frozen=True)
class Question:
    text: str
    words: list[Word]
    hinted: list[tuple[int, int]]  # char ranges of [hints], already linked
    cased: bool = False  # capitals past the first word: names are written capitalized


@dataclass
class Span:
    """A run of question words [i, j) and what it matched."""

    i: int
    j: int
    start: int
    end: int
    hits: list[Hit]  # (entity, precision, method), best first
    length: float  # content words count 1, stopwords 0.3 inside, 0.1 at the edges
    weight: float  # in (0, 1]: how much the span looks like a name; scales the scores
    content: int  # number of non-stopword words


class SpanFinder:
    """Finds the spans of a question that match names of a table.

    Args:
        table: the names to look up.
        is_stop: whether a normalised word is a stopword (rarely names a thing alone).
        max_ngram: longest mention, in words.
    """

    def __init__(self, table: NameTable, *, is_stop: Callable[[str], bool], max_ngram: int) -> None:
        self.table = table
        self.is_stop = is_stop
        self.max_ngram = max_ngram

    def question(self, text: str, hinted: list[tuple[int, int]]) -> Question:
        """The question's words, each marked as content (may name an entity) or not.

        In a *cased* question (capitals past its first word) a capitalized stopword still
        counts as content: "the director of Tell No One" names a film.
        """
        tokens = name_tokens(text)
        tail = text[tokens[0][1] :] if tokens else ""
        cased = not text.isupper() and any(c.isupper() for c in tail)
        words = []
        for n, (start, end, norm) in enumerate(tokens):
            if any(a <= start < b for a, b in hinted):
                words.append(Word(start, end, BARRIER, False))
                continue
            raw = text[start:end]
            capital = cased and n > 0 and raw[0].isupper()
            words.append(Word(start, end, norm, not self.is_stop(norm) or capital))
        return Question(text, words, hinted, cased)

    def spans(self, q: Question) -> tuple[list[Span], list[Span]]:
        """Matching spans: the chosen non-overlapping ones (best first), and the others.

        Spans compete on effective length and match precision (longer beats shorter,
        exact case beats folded case; see ``_rank_key``), then on popularity.
        """
        found: list[Span] = []
        words = q.words
        n = len(words)
        entries, prefixes = self.table.entries, self.table.prefixes
        for i in range(n):
            key = ""
            for j in range(i, min(n, i + self.max_ngram)):
                w = words[j]
                prefix = key
                key = w.norm if j == i else f"{key} {w.norm}"
                if _POSSESSIVE.search(q.text[w.start : w.end]):  # "Nolan's" -> "nolan"
                    bare = w.norm[:-1] if j == i else f"{prefix} {w.norm[:-1]}"
                    if bare in entries:
                        found.append(self._span(q, i, j + 1, bare, w.end - 2))
                if key not in prefixes:
                    break
                if key in entries:
                    found.append(self._span(q, i, j + 1, key, w.end))
        found.extend(self._fuzzy_spans(q, found))
        found.extend(self._symbol_spans(q))
        ranked = sorted(found, key=self._rank_key)
        chosen: list[Span] = []
        taken = [False] * n
        for span in ranked:
            if span.content and not any(taken[span.i : span.j]):
                chosen.append(span)
                taken[span.i : span.j] = [True] * (span.j - span.i)
        others = [_nested(s, chosen) for s in ranked if not any(s is c for c in chosen)]
        return chosen, others

    def _rank_key(self, s: Span) -> tuple[float, int, float, int]:
        """Effective length less a penalty for an inexact match, then words, popularity.

        Additive, so a near-miss that explains one more word wins at any length: "The
        Best Man Hliday" is "The Best Man Holiday", not "The Best Man" and a stray word.
        """
        top, precision = s.hits[0][0], s.hits[0][1]
        return (
            -(s.length - 2.0 * (1.0 - precision)),
            -(s.j - s.i),
            -self.table.popularity[top],
            s.i,
        )

    def _span(
        self,
        q: Question,
        i: int,
        j: int,
        key: str,
        end: int,
        hits: list[Hit] | None = None,
    ) -> Span:
        start = q.words[i].start
        if hits is None:
            lookup = self.table.lookup
            hits = lookup(q.text[start:end], key)
            # punctuation glued to the span may be part of the name: "Moulin Rouge!", "+1"
            left = start - len(_GLUED_BEFORE.search(q.text, 0, start).group())
            right = _GLUED.match(q.text, end).end()
            for a, b in ((start, right), (left, end), (left, right)):
                if (a, b) != (start, end):
                    longer = lookup(q.text[a:b], key)
                    if longer and longer[0][2] == "exact" and longer[0][1] >= hits[0][1]:
                        hits, start, end = longer, a, b
                        break
        inside = q.words[i:j]
        content = sum(w.content for w in inside)
        first = next((n for n, w in enumerate(inside) if w.content), len(inside))
        last = max((n for n, w in enumerate(inside) if w.content), default=-1)
        inner = sum(1 for w in inside[first : last + 1] if not w.content)
        # stopwords count a little, less at the edges: "in Hell" is mostly "Hell"
        length = content + 0.3 * inner + 0.1 * (len(inside) - content - inner)
        # written as the name is, capitals included: a strong sign in a cased question
        exact_case = hits[0][2] == "exact" and not q.text[start:end].islower()
        letters = len(key) - key.count(" ")
        if letters <= 2:  # "Up", "It": real titles, but rarely what a question is about
            length *= 0.95 if exact_case else 0.5
        elif letters == 3:
            length *= 1.0 if exact_case else 0.8
        if exact_case:
            length += 0.25
        weight = 0.4 if not content else min(1.0, 0.7 + 0.15 * length)
        return Span(i, j, start, end, hits, length, weight, content)

    def _symbol_spans(self, q: Question) -> list[Span]:
        """Names with no word in them ("$", a film), as whole whitespace-separated chunks."""
        if not self.table.symbols:
            return []
        out = []
        for m in _SYMBOLS.finditer(q.text):
            if any(a <= m.start() < b for a, b in q.hinted):
                continue
            for text in dict.fromkeys((m.group(), m.group().rstrip("?!.,;:"))):
                hits = self.table.lookup(text, "") if text else []
                if hits:
                    at = sum(1 for w in q.words if w.start < m.start())
                    end = m.start() + len(text)
                    out.append(Span(at, at, m.start(), end, hits, 0.5, 0.75, 1))
                    break
        return out

    def _fuzzy_spans(self, q: Question, exact: list[Span]) -> list[Span]:
        """Fuzzy matches for runs of content words that no single dict match covers.

        A run pieced together from several matches is tried too: "Mary Made" is more
        likely the actress Mary Meade than the films "Mary" and "Made".
        """
        words = q.words
        out: list[Span] = []
        covered = {t for s in exact if s.content for t in range(s.i, s.j)}
        for i, j in self.runs(words)[:3]:
            content = [t for t in range(i, j) if words[t].content]
            if any(s.i <= content[0] and content[-1] < s.j for s in exact if s.content):
                continue
            # a cased question writes names capitalized: a run whose capitalized words a
            # name already covers ("born in Hichinfield") has no misspelt name left to
            # find, and fuzzy search costs more the more names the graph has
            if q.cased and all(t in covered for t in content if not _lower(q, words[t])):
                continue
            windows = [(i, min(j, i + self.max_ngram))]
            if j - i >= 2:
                windows += [(i, j - 1), (i + 1, j)]
            for a, b in windows:
                end, key = words[b - 1].end, " ".join(w.norm for w in words[a:b])
                hits = self.table.fuzzy(q.text[words[a].start : end], key, 5)
                if hits:
                    out.append(self._span(q, a, b, key, end, hits))
                    break
        return out

    @staticmethod
    def runs(words: list[Word]) -> list[tuple[int, int]]:
        """Maximal runs of content words, joined across connectors ("Lord of the Rings")."""
        runs: list[tuple[int, int]] = []
        i, n = 0, len(words)
        while i < n:
            if not words[i].content:
                i += 1
                continue
            j = i + 1
            while j < n:
                if words[j].content:
                    j += 1
                    continue
                k = j
                while k < n and words[k].norm in _CONNECTORS and k - j < 2:
                    k += 1
                if k > j and k < n and words[k].content:
                    j = k
                else:
                    break
            runs.append((i, j))
            i = j
        return runs


def _nested(span: Span, chosen: list[Span]) -> Span:
    """``span`` with its weight halved where it lies inside a longer chosen span matched
    exactly: "Mitchell" in "what films did Maia Mitchell act in" names a film, but the
    question names the actress; left at full weight, the film's relations (read as
    the question asks) outscore the actress's inverse ones."""
    for c in chosen:
        inside = c.i <= span.i and span.j <= c.j and c.j - c.i > span.j - span.i
        if inside and c.hits[0][1] >= _NESTED_PRECISION:
            return replace(span, weight=span.weight * _NESTED_WEIGHT)
    return span


def _lower(q: Question, word: Word) -> bool:
    """Whether a word is written in lower case ("born"; not "Hichinfield", "13")."""
    return q.text[word.start].islower()
