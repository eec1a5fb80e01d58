"""Entity linking: mentions in a question -> entity IRIs, best first.

Linking is the first step of every question, and a miss here is the most common cause of
an empty answer in peers (LlamaIndex issue 13397). So the linker tries matchers from the
most to the least precise and falls back rather than return nothing:

1. ``[brackets]`` in the question are an explicit mention hint (MetaQA style), linked
   first and ranked first.
2. Word n-grams of the question are looked up in a dict of normalized names (exact,
   normalized, alias, article-insensitive). A prefix set stops the n-gram walk as soon
   as no name can start that way, so a question costs a few dozen dict probes, not an
   automaton (pyahocorasick would add a dependency for no measurable gain here).
3. Runs of content words that no single name covers are matched fuzzily (rapidfuzz),
   only against names sharing a word end with them, so the cost stays bounded.
4. With an encoder, the nearest preferred labels (faiss inner product over normalized
   embeddings) stand in when nothing else matched.

Without hints, overlapping spans compete on length (content words, not stopwords or
two-letter titles such as "Up"), match precision and then popularity. Scores lie in
[0, 1] on one scale for all methods: the match's precision (exact 1.0 down to dense)
times, for spans found without a hint, how much the span looks like a name.

On MetaQA dev (43k entities) with the brackets removed, the top candidate is the topic
entity for 100% of the questions whose entity is in the KB, at ~0.1 ms a question.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent._io import atomic_dir, load_rows, save_rows
from kgagent.errors import IndexMismatchError

if TYPE_CHECKING:
    from kgagent.kg.graph import KnowledgeGraph
    from kgagent.retrieval.encoder import Encoder  # .name, .dim, .encode(texts) -> (n, dim)

__all__ = ["EntityCandidate", "EntityLinker", "normalize"]

log = logging.getLogger(__name__)

FORMAT = "kgagent-linker/1"

# precision of each kind of match; a hint-less span's weight multiplies these
_EXACT, _NORMALIZED, _ALIAS, _ALIAS_NORMALIZED, _ARTICLE = 1.0, 0.9, 0.9, 0.85, 0.8
_FUZZY_MIN, _FUZZY_MAX = 0.6, 0.85
_DENSE_MAX = 0.75
# kinds of index entries: the preferred label, another name, a name without its article
_PREF, _OTHER, _NO_ARTICLE = 0, 1, 2

_ARTICLES = frozenset({"the", "a", "an"})
# connectors allowed inside a run of content words handed to the fuzzy matcher
_CONNECTORS = frozenset(
    {"of", "the", "and", "or", "a", "an", "as", "in", "on", "at", "to", "for", "from", "with"}
    | {"by", "my", "s"}
    | {"your", "i", "de", "la", "le", "du", "del", "da", "do", "dos", "di", "der", "von", "van"}
)
_SKIP_NAMESPACES = (
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "http://www.w3.org/2000/01/rdf-schema#",
    "http://www.w3.org/2002/07/owl#",
    "http://www.w3.org/2001/XMLSchema#",
    "http://www.w3.org/2004/02/skos/core#",
)

# question words, function words and the nouns/verbs questions use to name relations;
# a span made only of these is rarely the entity meant ("what", "In", "Movie")
_STOPWORDS = """
a about after all also am an and another any are as at be been before being between both
but by can could did do does doing done each either every few for from get give had has
have having he her here hers him his how i if in into is it its just know let list many
me might more most much must my name named names neither no nor not of on one ones only
onto or other our out over please s same shall she should show so some such tell than
that the their them then there these they this those to too under until us very was we
were what whats when where which while who whom whos whose why will with would yes you
your kind kinds type types sort sorts
movie movies film films act acts acted acting actor actors actress actresses cast star
stars starred starring co direct directs directed director directors directing write
writes wrote written writer writers writing screenwriter screenwriters screenplay script
scriptwriter author authors creator creators appear appears appeared release releases
released genre genres language languages spoken year years date dates people person
describe describes described describing word words topic topics tag tags rating ratings
rated rate vote votes popular popularity famous good considered together share shares fall
shared main primary book books song songs work works
"""
_BARRIER = "\x00"  # stands for a [hint] in the token stream: no name spans across it
_HINT = re.compile(r"\[([^\[\]]*)\]")
_MARK = "\u0300-\u036f"
_TOKEN = re.compile(rf"(?:[^\W_]|[{_MARK}])+(?:['’‘`.·](?:[^\W_]|[{_MARK}])+)*|&")
_GLUED = re.compile(r"[^\w\s\[\]]*")  # punctuation right after a word: "Taxi!", "W.E."
_GLUED_BEFORE = re.compile(r"[^\w\s\[\]]*$")  # ... and right before one: "+1"
_SYMBOLS = re.compile(r"(?<!\S)[^\w\s\[\]]+(?!\S)")  # a chunk with no word: "$"
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_FOLD = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
    | dict.fromkeys("'’‘`.·")
)


@lru_cache(maxsize=262_144)
def _norm_token(token: str) -> str:
    """One token, folded so that case, accents, quotes and inner dots do not matter."""
    if token == "&":
        return "and"
    text = unicodedata.normalize("NFKD", token)
    if not text.isascii():
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.casefold().translate(_FOLD)
    return "".join(text.split()) if " " in text else text


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalized) for each word of ``text``; punctuation separates words."""
    out = []
    for m in _TOKEN.finditer(text):
        norm = _norm_token(m.group())
        if norm:
            out.append((m.start(), m.end(), norm))
    return out


def normalize(text: str) -> str:
    """The lookup key of a name or mention: ``"The Matrix: Reloaded"`` -> ``the matrix reloaded``.

    Casefolded, accents stripped (NFKD), apostrophes and inner dots dropped ("Dr." and
    "Dr", "U.S." and "US" meet), other punctuation a word break, whitespace collapsed.
    """
    return " ".join(t[2] for t in _tokens(text))


def _strip_article(key: str) -> str | None:
    """The key without a leading (or trailing, as in "Matrix, The") English article."""
    words = key.split(" ")
    if len(words) > 1 and words[0] in _ARTICLES:
        return " ".join(words[1:])
    if len(words) > 1 and words[-1] in _ARTICLES:
        return " ".join(words[:-1])
    return None


def _block_keys(word: str, short: int) -> tuple[str, ...]:
    """Fuzzy-matching blocks of a word: its first and last three letters, and for a short
    word, whose ends one typo may both touch ("Tral", "Trial"), its first + last letter."""
    ends = ("<" + word[:3], ">" + word[-3:])
    return (*ends, "=" + word[0] + word[-1]) if len(word) <= short else ends


def _popularity(adj: Any) -> np.ndarray:
    """(num_entities,) distinct relation kinds (in and out) + log-degree scaled into [0, 1)."""
    n, r = adj.num_entities, max(adj.num_relations, 1)
    out_degree = np.diff(adj.indptr)
    heads = np.repeat(np.arange(n, dtype=np.int64), out_degree)  # (edges,)
    out_keys = heads * r + adj.relations  # sorted: CSR rows are sorted by relation
    out_pairs = out_keys[np.r_[True, out_keys[1:] != out_keys[:-1]]] if len(out_keys) else out_keys
    in_pairs = np.unique(adj.targets * r + adj.relations)  # distinct (entity, relation)
    kinds = np.bincount(out_pairs // r, minlength=n) + np.bincount(in_pairs // r, minlength=n)
    degree = np.log1p((out_degree + np.bincount(adj.targets, minlength=n)).astype(np.float64))
    return kinds.astype(np.float64) + degree / (1.0 + (degree.max() if n else 0.0))


@dataclass(frozen=True)
class EntityCandidate:
    """One entity a mention may refer to.

    Attributes:
        iri: the entity.
        label: the entity's preferred label (for display and prompts).
        mention: the text that matched ('' for a dense match on the whole question).
        start: char offset of the mention in the question (-1 if none).
        end: char offset just past the mention (-1 if none).
        score: in [0, 1], comparable across methods; higher is better.
        method: "hint" (a ``[bracketed]`` mention found by name), "exact", "normalized",
            "alias" (another label, an altLabel, or the name without its article),
            "fuzzy" or "dense".
    """

    iri: str
    label: str
    mention: str
    start: int
    end: int
    score: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Word:
    """A word of the question: char offsets, lookup form, and whether it may name a thing."""

    start: int
    end: int
    norm: str
    content: bool  # not a stopword, or capitalized inside a cased question


@dataclass(frozen=True)
class _Question:
    text: str
    words: list[_Word]
    hinted: list[tuple[int, int]]  # char ranges of [hints], already linked


@dataclass
class _Span:
    """A run of question tokens [i, j) and what it matched."""

    i: int
    j: int
    start: int
    end: int
    hits: list[tuple[int, float, str]]  # (entity, precision, method), best first
    length: float  # content words count 1, stopwords 0.3 inside, 0.1 at the edges
    weight: float  # in (0, 1]: how much the span looks like a name; scales the scores
    content: int  # number of non-stopword tokens


class EntityLinker:
    """Finds the entities a question mentions, from a table of entity names.

    Args:
        names: entity IRI -> all its names (labels in every language, aliases).
        preferred: IRI -> display label; defaults to the first name.
        popularity: IRI -> a prior such as degree; breaks ties between equal matches.
        encoder: optional sentence encoder (``encode(list[str])`` -> L2-normalized
            float32 rows, ``dim``, ``name``) for the dense fallback.
        fuzzy_threshold: minimum rapidfuzz ``WRatio`` (0-100) of a fuzzy match.
        max_ngram: longest mention, in words, looked for without a hint.
        stopwords: extra words that rarely name an entity on their own (``from_kg``
            adds the words of relation and class labels).
    """

    def __init__(
        self,
        names: Mapping[str, Sequence[str]],
        *,
        preferred: Mapping[str, str] | None = None,
        popularity: Mapping[str, float] | None = None,
        encoder: Encoder | None = None,
        fuzzy_threshold: float = 88.0,
        max_ngram: int = 12,
        stopwords: Iterable[str] = (),
        _memo: dict[str, str] | None = None,
        _previous: EntityLinker | None = None,
    ) -> None:
        preferred = preferred or {}
        popularity = popularity or {}
        self.encoder = encoder
        self.fuzzy_threshold = float(fuzzy_threshold)
        self.max_ngram = max(1, int(max_ngram))
        self.extra_stopwords = sorted({normalize(w) for w in stopwords} - {""})
        self._stop = frozenset(
            {normalize(w) for w in _STOPWORDS.split()} | set(self.extra_stopwords) | {_BARRIER}
        )
        self._iris: list[str] = list(names)
        self._labels: list[str] = []
        self._names: list[list[str]] = []
        for iri in self._iris:
            value = names[iri]
            given = [
                " ".join(str(n).split()) for n in ([value] if isinstance(value, str) else value)
            ]
            label = " ".join(str(preferred.get(iri) or "").split()) or next(
                (n for n in given if n), iri
            )
            self._labels.append(label)
            self._names.append(list(dict.fromkeys([label, *(n for n in given if n)])))
        self._pop = np.array([float(popularity.get(i, 0.0)) for i in self._iris], dtype=np.float64)
        self._embeddings: np.ndarray | None = None  # (n, dim) float32, on first dense use
        self._faiss: Any = None
        self._blocks: dict[str, np.ndarray] | None = None  # word-end block -> key ids
        #: the KG state this linker was built from (``kg.fingerprint()``), if known
        self.fingerprint: str | None = None
        #: name -> normalize(name); handed to the next build of the same graph
        self._memo: dict[str, str] = _memo if _memo is not None else {}
        self._build(_previous if self._extends(_previous) else None)

    # -- building -----------------------------------------------------------------------

    def _build(self, previous: EntityLinker | None = None) -> None:
        """Indexes every name under its normalized key (and its article-free variant).

        ``previous``: a linker whose entities are this one's first entities, with the same
        names; its tables are extended, not rebuilt (an update adds a few entities to
        tens of thousands).
        """
        start = 0
        index: dict[str, list[tuple[int, int]]] = {}
        symbols: dict[str, list[int]] = {}  # names with no word at all ("$", "!!!")
        prefixes: set[str] = set()
        if previous is not None:
            start = len(previous._iris)
            index, symbols = dict(previous._index), dict(previous._symbols)
            prefixes = set(previous._prefixes)
        memo = self._memo

        def norm(name: str) -> str:
            key = memo.get(name)
            if key is None:
                key = memo[name] = normalize(name)
            return key

        def append(table: dict, key: str, item: Any) -> None:
            if previous is None:
                table.setdefault(key, []).append(item)
            else:  # the lists are shared with ``previous``: copy on write
                table[key] = [*table.get(key, ()), item]

        new_keys: list[str] = []
        for e in range(start, len(self._iris)):
            label, names = self._labels[e], self._names[e]
            label_key = norm(label)
            kinds: dict[str, int] = {}
            for name in names:
                key = norm(name)
                if not key:
                    append(symbols, name.casefold(), e)
                    continue
                kind = _PREF if key == label_key else _OTHER
                kinds[key] = min(kind, kinds.get(key, kind))
                bare = _strip_article(key)
                if bare:
                    kinds.setdefault(bare, _NO_ARTICLE)
            for key, kind in kinds.items():
                if key not in index:
                    new_keys.append(key)
                append(index, key, (e, kind))
        for key in new_keys:
            words = key.split(" ")
            for n in range(1, len(words) + 1):
                prefixes.add(" ".join(words[:n]))
        self._index = index
        self._symbols = {k: list(dict.fromkeys(v)) for k, v in symbols.items()}
        self._prefixes = prefixes
        self._keys = list(index)

    def _extends(self, previous: EntityLinker | None) -> bool:
        """Whether ``previous`` holds this linker's first entities, named the same."""
        if previous is None:
            return False
        m = len(previous._iris)
        return (
            m <= len(self._iris)
            and self._iris[:m] == previous._iris
            and self._labels[:m] == previous._labels
            and self._names[:m] == previous._names
        )

    @classmethod
    def from_kg(
        cls,
        kg: KnowledgeGraph,
        *,
        encoder: Encoder | None = None,
        previous: EntityLinker | None = None,
        **kwargs: Any,
    ) -> EntityLinker:
        """A linker over the entities of ``kg``: its labelled nodes, or local names if unlabelled.

        Classes and properties are left out: questions name them to say *what* is asked
        ("which film"), not *about whom*; their label words become stopwords instead.
        Popularity, the tie-breaker between equally good matches, is the number of
        distinct relations (each direction) the entity takes part in, plus its log-degree
        scaled below 1: a film with a director, a cast and a genre outranks a tag or a
        year of the same name ("Love", "love"), however many films carry the tag.

        ``previous``, an earlier linker of this graph, lends its normalized names and, when
        the update only added entities, its name tables, which are extended in place of a
        rebuild.
        """
        onto = kg.ontology
        table = kg.vocab.entities
        schema = set(onto.classes) | set(onto.properties)
        labelled = onto.labelled()
        prior = _popularity(kg.adjacency())
        names: dict[str, list[str]] = {}
        preferred: dict[str, str] = {}
        popularity: dict[str, float] = {}
        for idx, iri in enumerate(table.iris()):
            if iri in schema or iri.startswith(("_:", *_SKIP_NAMESPACES)):
                continue
            labels = labelled.get(iri)
            names[iri] = [*(labels.values() if labels else ()), *onto.alt_labels(iri)]
            preferred[iri] = onto.label(iri)
            popularity[iri] = float(prior[idx]) if idx < len(prior) else 0.0
        stop = {w for iri in schema for w in onto.label(iri).split()}
        kwargs["stopwords"] = [*kwargs.get("stopwords", ()), *stop]
        if previous is not None:
            kwargs["_memo"] = dict(previous._memo)
            kwargs["_previous"] = previous
        linker = cls(names, preferred=preferred, popularity=popularity, encoder=encoder, **kwargs)
        linker.fingerprint = kg.fingerprint()
        return linker

    def __len__(self) -> int:
        return len(self._iris)

    def __repr__(self) -> str:
        enc = getattr(self.encoder, "name", None)
        return f"EntityLinker({len(self)} entities, {len(self._index)} keys, encoder={enc})"

    # -- one mention --------------------------------------------------------------------

    def _lookup(self, text: str, key: str) -> list[tuple[int, float, str]]:
        """Dict matches of a mention: (entity, precision, method), best first.

        The name as written wins over one that differs in case ("love" the tag over
        "Love" the film: MetaQA writes each name as it is), which wins over one that
        differs in accents or punctuation ("Moulin Rouge" over "Moulin Rouge!").
        """
        best: dict[int, tuple[float, str]] = {}
        folded = text.casefold()

        def keep(e: int, score: float, method: str) -> None:
            if score > best.get(e, (-1.0, ""))[0]:
                best[e] = (score, method)

        entries = self._index.get(key, [])
        for e, kind in entries:
            if kind == _PREF:
                label = self._labels[e]
                if text == label:
                    keep(e, _EXACT, "exact")
                else:
                    near = folded == label.casefold()
                    keep(e, _NORMALIZED if near else _NORMALIZED - 0.02, "normalized")
            elif kind == _OTHER:
                keep(e, _ALIAS if text in self._names[e] else _ALIAS_NORMALIZED, "alias")
            else:
                keep(e, _ARTICLE, "alias")
        bare = _strip_article(key) if key else None
        if bare and not entries:  # "The Matrix" asked, "Matrix" known
            for e, _kind in self._index.get(bare, []):
                keep(e, _ARTICLE, "alias")
        if not key:
            for e in self._symbols.get(text.casefold(), []):
                keep(e, _EXACT if text in self._names[e] else _NORMALIZED, "exact")
        return self._rank(best)

    def _rank(self, best: Mapping[int, tuple[float, str]]) -> list[tuple[int, float, str]]:
        order = sorted(best, key=lambda e: (-best[e][0], -self._pop[e], self._labels[e], e))
        return [(e, *best[e]) for e in order]

    def _fuzzy(self, text: str, key: str, limit: int) -> list[tuple[int, float, str]]:
        """Names within ``fuzzy_threshold`` of ``key`` (rapidfuzz WRatio).

        Only names sharing a word's first or last three letters with the mention are
        scored (a typo rarely hits both ends of a word), which keeps a lookup to a few
        thousand comparisons on a 43k-name KG. Ties between names that differ only in
        case go to the one closer to the mention as written.
        """
        if not key or limit <= 0:
            return []
        from rapidfuzz import fuzz, process

        blocks = self._fuzzy_blocks()
        words = [w for w in key.split(" ") if w not in self._stop] or key.split(" ")
        found = [blocks[b] for w in words for b in _block_keys(w, 6) if b in blocks]
        if not found:
            return []
        ids = np.unique(np.concatenate(found))
        lengths = self._key_lengths[ids]
        ids = ids[(lengths >= 0.75 * len(key)) & (lengths <= len(key) / 0.75)]
        choices = [self._keys[i] for i in ids]
        matches = process.extract(
            key,
            choices,
            scorer=fuzz.WRatio,
            limit=limit * 3,
            score_cutoff=self.fuzzy_threshold,
        )
        span = max(100.0 - self.fuzzy_threshold, 1e-9)
        best: dict[int, tuple[float, str]] = {}
        for choice, ratio, _pos in matches:
            precision = (
                _FUZZY_MIN + (_FUZZY_MAX - _FUZZY_MIN) * (ratio - self.fuzzy_threshold) / span
            )
            for e, kind in self._index[choice]:
                as_written = fuzz.ratio(text, self._labels[e]) / 100.0
                score = min(precision, _FUZZY_MAX) * (1.0 if kind == _PREF else 0.97)
                score += 0.01 * as_written
                if score > best.get(e, (-1.0, ""))[0]:
                    best[e] = (score, "fuzzy")
        return self._rank(best)[:limit]

    def _fuzzy_blocks(self) -> dict[str, np.ndarray]:
        if self._blocks is None:
            blocks: dict[str, list[int]] = {}
            for k, key in enumerate(self._keys):
                words = key.split(" ")
                words = [w for w in words if w not in self._stop] or words  # "Another Year"
                for block in {b for w in words for b in _block_keys(w, 7)}:
                    blocks.setdefault(block, []).append(k)
            self._blocks = {p: np.array(v, dtype=np.int64) for p, v in blocks.items()}
            self._key_lengths = np.array([len(k) for k in self._keys], dtype=np.int64)
        return self._blocks

    def _dense(self, text: str, limit: int) -> list[tuple[int, float, str]]:
        """Entities whose preferred label embeds nearest to ``text`` (cosine)."""
        if self.encoder is None or not text.strip() or not self._iris or limit <= 0:
            return []
        index = self._dense_index()
        query = np.asarray(self.encoder.encode([text]), dtype=np.float32).reshape(1, -1)
        sims, ids = index.search(query, min(limit, len(self._iris)))  # (1, limit) each
        best = {
            int(e): (_DENSE_MAX * max(0.0, min(1.0, float(s))), "dense")
            for s, e in zip(sims[0], ids[0], strict=True)
            if e >= 0
        }
        return self._rank(best)

    def embed_labels(
        self, previous: EntityLinker | None = None, *, show_progress: bool = False
    ) -> int:
        """Embeds the preferred labels now (index time), reusing ``previous``'s vectors.

        Called by ``Agent.index`` so the dense fallback never stalls a question; only
        labels that are new (or changed) since ``previous`` are encoded. Returns how
        many were encoded.
        """
        if self.encoder is None or not self._iris:
            return 0
        dim = int(self.encoder.dim)
        out = np.zeros((len(self._iris), dim), dtype=np.float32)  # (n, dim)
        todo = list(range(len(self._iris)))
        if (
            previous is not None
            and previous._embeddings is not None
            and previous.encoder is not None
            and previous.encoder.name == self.encoder.name
            and previous._embeddings.shape[1] == dim
        ):
            old = {
                (iri, label): i
                for i, (iri, label) in enumerate(zip(previous._iris, previous._labels, strict=True))
            }
            todo = []
            for i, key in enumerate(zip(self._iris, self._labels, strict=True)):
                j = old.get(key)
                if j is None:
                    todo.append(i)
                else:
                    out[i] = previous._embeddings[j]
        if todo:
            texts = [self._labels[i] for i in todo]
            vecs = np.asarray(self.encoder.encode(texts, show_progress=show_progress), np.float32)
            out[np.array(todo)] = vecs.reshape(len(todo), dim)
        self._embeddings = out
        self._faiss = None
        return len(todo)

    def _dense_index(self) -> Any:
        if self._faiss is None:
            import faiss

            if self._embeddings is None:
                assert self.encoder is not None
                vectors = np.asarray(self.encoder.encode(list(self._labels)), dtype=np.float32)
                self._embeddings = vectors.reshape(len(self._iris), -1)  # (n, dim)
            index = faiss.IndexFlatIP(self._embeddings.shape[1])
            index.add(np.ascontiguousarray(self._embeddings))
            self._faiss = index
        return self._faiss

    def _candidate(
        self, e: int, score: float, method: str, mention: str, start: int, end: int
    ) -> EntityCandidate:
        return EntityCandidate(
            iri=self._iris[e],
            label=self._labels[e],
            mention=mention,
            start=start,
            end=end,
            score=round(float(min(1.0, max(0.0, score))), 6),
            method=method,
        )

    def candidates(self, mention: str, *, k: int = 5) -> list[EntityCandidate]:
        """Entities for one mention: dict matches, else fuzzy ones, else dense neighbours.

        The mention is taken whole (no span search); offsets are -1 as there is no
        question around it.
        """
        text = " ".join(str(mention).split())
        if not text or k <= 0:
            return []
        key = normalize(text)
        hits = self._lookup(text, key) or self._fuzzy(text, key, k) or self._dense(text, k)
        return [self._candidate(e, s, m, text, -1, -1) for e, s, m in hits[:k]]

    # -- a whole question ---------------------------------------------------------------

    def link(self, question: str, *, top_k: int = 5) -> list[EntityCandidate]:
        """The entities ``question`` mentions, best first.

        First the top entity of each ``[hint]``, then of each non-overlapping span found
        without hints (the most name-like first), then the alternatives by score. With
        nothing found and an encoder, the entities nearest to the whole question.
        """
        if not isinstance(question, str) or not question.strip() or top_k <= 0:
            return []
        primary: list[EntityCandidate] = []
        rest: list[EntityCandidate] = []
        hinted: list[tuple[int, int]] = []
        for m in _HINT.finditer(question):
            hinted.append((m.start(), m.end()))
            raw = m.group(1)
            text = raw.strip()
            if not text:
                continue
            start = m.start(1) + len(raw) - len(raw.lstrip())
            found = [
                replace(
                    c,
                    start=start,
                    end=start + len(text),
                    method="hint" if c.method in ("exact", "normalized", "alias") else c.method,
                )
                for c in self.candidates(text, k=top_k)
            ]
            primary.extend(found[:1])
            rest.extend(found[1:])
        q = self._question(question, hinted)
        chosen, others = self._spans(q)
        if not chosen and others and not primary:  # only stopword spans: "Another Year"
            chosen, others = others[:1], others[1:]
        for span in chosen:
            found = self._span_candidates(q, span, top_k)
            primary.extend(found[:1])
            rest.extend(found[1:])
        for span in others:
            rest.extend(self._span_candidates(q, span, top_k))
        if not primary and self.encoder is not None:
            primary = self._dense_fallback(q, top_k)
        rest.sort(key=lambda c: -c.score)
        out: list[EntityCandidate] = []
        seen: set[str] = set()
        for c in primary + rest:
            if c.iri not in seen:
                seen.add(c.iri)
                out.append(c)
        return out[:top_k]

    def _dense_fallback(self, q: _Question, k: int) -> list[EntityCandidate]:
        """Nearest labels to the longest run of content words, else to the whole question.

        A run ("Brbara Bates") embeds far closer to the name than the question around
        it does, whose template words pull towards unrelated titles.
        """
        runs = [(i, j) for i, j in self._runs(q.words) if i < j]
        if runs:
            i, j = max(runs, key=lambda r: (q.words[r[1] - 1].end - q.words[r[0]].start, -r[0]))
            start, end = q.words[i].start, q.words[j - 1].end
            text = q.text[start:end]
        else:
            text, start, end = " ".join(_HINT.sub(r"\1", q.text).split()), -1, -1
        mention = text if start >= 0 else ""
        return [self._candidate(e, s, m, mention, start, end) for e, s, m in self._dense(text, k)]

    def _question(self, text: str, hinted: list[tuple[int, int]]) -> _Question:
        """The question's words, each marked as content (may name an entity) or not.

        In a *cased* question (capitals past its first word) a capitalized stopword still
        counts as content: "the director of Tell No One" names a film.
        """
        tokens = _tokens(text)
        tail = text[tokens[0][1] :] if tokens else ""
        cased = not text.isupper() and any(c.isupper() for c in tail)
        words = []
        for n, (start, end, norm) in enumerate(tokens):
            if any(a <= start < b for a, b in hinted):
                words.append(_Word(start, end, _BARRIER, False))
                continue
            raw = text[start:end]
            capital = cased and n > 0 and raw[0].isupper()
            words.append(_Word(start, end, norm, norm not in self._stop or capital))
        return _Question(text, words, hinted)

    def _span_candidates(self, q: _Question, span: _Span, k: int) -> list[EntityCandidate]:
        mention = q.text[span.start : span.end]
        return [
            self._candidate(e, s * span.weight, m, mention, span.start, span.end)
            for e, s, m in span.hits[:k]
        ]

    def _spans(self, q: _Question) -> tuple[list[_Span], list[_Span]]:
        """Matching spans: the chosen non-overlapping ones (best first), and the others.

        Spans compete on effective length and match precision (longer beats shorter,
        exact case beats folded case; see ``_rank_key``), then on popularity.
        """
        found: list[_Span] = []
        words = q.words
        n = len(words)
        for i in range(n):
            key = ""
            for j in range(i, min(n, i + self.max_ngram)):
                w = words[j]
                prefix = key
                key = w.norm if j == i else f"{key} {w.norm}"
                if _POSSESSIVE.search(q.text[w.start : w.end]):  # "Nolan's" -> "nolan"
                    bare = w.norm[:-1] if j == i else f"{prefix} {w.norm[:-1]}"
                    if bare in self._index:
                        found.append(self._span(q, i, j + 1, bare, w.end - 2))
                if key not in self._prefixes:
                    break
                if key in self._index:
                    found.append(self._span(q, i, j + 1, key, w.end))
        found.extend(self._fuzzy_spans(q, found))
        found.extend(self._symbol_spans(q))
        ranked = sorted(found, key=self._rank_key)
        chosen: list[_Span] = []
        taken = [False] * n
        for span in ranked:
            if span.content and not any(taken[span.i : span.j]):
                chosen.append(span)
                taken[span.i : span.j] = [True] * (span.j - span.i)
        others = [s for s in ranked if not any(s is c for c in chosen)]
        return chosen, others

    def _rank_key(self, s: _Span) -> tuple[float, int, float, int]:
        """Effective length less a penalty for an inexact match, then words, popularity.

        Additive, so a near-miss that explains one more word wins at any length: "The
        Best Man Hliday" is "The Best Man Holiday", not "The Best Man" and a stray word.
        """
        top, precision = s.hits[0][0], s.hits[0][1]
        return (-(s.length - 2.0 * (1.0 - precision)), -(s.j - s.i), -self._pop[top], s.i)

    def _span(
        self,
        q: _Question,
        i: int,
        j: int,
        key: str,
        end: int,
        hits: list[tuple[int, float, str]] | None = None,
    ) -> _Span:
        start = q.words[i].start
        if hits is None:
            hits = self._lookup(q.text[start:end], key)
            # punctuation glued to the span may be part of the name: "Moulin Rouge!", "+1"
            left = start - len(_GLUED_BEFORE.search(q.text, 0, start).group())
            right = _GLUED.match(q.text, end).end()
            for a, b in ((start, right), (left, end), (left, right)):
                if (a, b) != (start, end):
                    longer = self._lookup(q.text[a:b], key)
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
        return _Span(i, j, start, end, hits, length, weight, content)

    def _symbol_spans(self, q: _Question) -> list[_Span]:
        """Names with no word in them ("$", a film), as whole whitespace-separated chunks."""
        if not self._symbols:
            return []
        out = []
        for m in _SYMBOLS.finditer(q.text):
            if any(a <= m.start() < b for a, b in q.hinted):
                continue
            for text in dict.fromkeys((m.group(), m.group().rstrip("?!.,;:"))):
                hits = self._lookup(text, "") if text else []
                if hits:
                    at = sum(1 for w in q.words if w.start < m.start())
                    end = m.start() + len(text)
                    out.append(_Span(at, at, m.start(), end, hits, 0.5, 0.75, 1))
                    break
        return out

    def _fuzzy_spans(self, q: _Question, exact: list[_Span]) -> list[_Span]:
        """Fuzzy matches for runs of content words that no single dict match covers.

        A run pieced together from several matches is tried too: "Mary Made" is more
        likely the actress Mary Meade than the films "Mary" and "Made".
        """
        words = q.words
        out: list[_Span] = []
        for i, j in self._runs(words)[:3]:
            content = [t for t in range(i, j) if words[t].content]
            if any(s.i <= content[0] and content[-1] < s.j for s in exact if s.content):
                continue
            windows = [(i, min(j, i + self.max_ngram))]
            if j - i >= 2:
                windows += [(i, j - 1), (i + 1, j)]
            for a, b in windows:
                end, key = words[b - 1].end, " ".join(w.norm for w in words[a:b])
                hits = self._fuzzy(q.text[words[a].start : end], key, 5)
                if hits:
                    out.append(self._span(q, a, b, key, end, hits))
                    break
        return out

    @staticmethod
    def _runs(words: list[_Word]) -> list[tuple[int, int]]:
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

    # -- persistence --------------------------------------------------------------------

    def save(self, directory: str | Path, *, reuse: str | Path | None = None) -> None:
        """Writes names, priors and (if computed) label embeddings; JSON and .npy, no pickle.

        ``reuse``: a previous save; its label embeddings are hard-linked where they are
        this linker's leading rows (see :func:`kgagent._io.save_rows`).
        """
        with atomic_dir(directory) as tmp:
            entities = {"iris": self._iris, "labels": self._labels, "names": self._names}
            (tmp / "entities.json").write_text(
                json.dumps(entities, ensure_ascii=False), encoding="utf-8"
            )
            np.save(tmp / "popularity.npy", self._pop, allow_pickle=False)
            encoder = None
            if self._embeddings is not None and self.encoder is not None:
                old = Path(reuse) if reuse is not None else None
                save_rows(tmp, "embeddings", self._embeddings, old)
                encoder = {"name": str(self.encoder.name), "dim": int(self._embeddings.shape[1])}
            manifest = {
                "format": FORMAT,
                "count": len(self._iris),
                "fuzzy_threshold": self.fuzzy_threshold,
                "max_ngram": self.max_ngram,
                "stopwords": self.extra_stopwords,
                "encoder": encoder,
                "fingerprint": self.fingerprint,
            }
            (tmp / "manifest.json").write_text(
                json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        encoder: Encoder | None = None,
        fingerprint: str | None = None,
    ) -> EntityLinker:
        """Reads a saved linker.

        Args:
            directory: what ``save`` wrote.
            encoder: for the dense fallback; saved label embeddings are reused only if
                this encoder (same name and dim) made them, else re-encoded on first use.
            fingerprint: the KG's ``fingerprint()``; if given and the linker was built
                from another state of the graph, loading fails rather than link to
                entities that are gone and miss the new ones.

        Raises:
            IndexMismatchError: unreadable or inconsistent files, or a stale fingerprint.
        """
        directory = Path(directory)
        try:
            manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
            if manifest.get("format") != FORMAT:
                raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT!r}")
            data = json.loads((directory / "entities.json").read_text("utf-8"))
            iris, labels, names = data["iris"], data["labels"], data["names"]
            pop = np.load(directory / "popularity.npy", allow_pickle=False)
            if not len(iris) == len(labels) == len(names) == len(pop) == manifest["count"]:
                raise ValueError("entity count differs between files and manifest")
            options = {k: manifest[k] for k in ("fuzzy_threshold", "max_ngram", "stopwords")}
            saved, built_from = manifest.get("encoder"), manifest.get("fingerprint")
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise IndexMismatchError(f"{directory}: unreadable entity linker ({exc})") from exc
        if fingerprint is not None and built_from is not None and fingerprint != built_from:
            raise IndexMismatchError(
                f"{directory}: built from KG state {built_from}, but the graph is now "
                f"{fingerprint}; rebuild it with EntityLinker.from_kg"
            )
        linker = cls(
            dict(zip(iris, names, strict=True)),
            preferred=dict(zip(iris, labels, strict=True)),
            popularity=dict(zip(iris, pop.tolist(), strict=True)),
            encoder=encoder,
            **options,
        )
        linker.fingerprint = built_from
        vectors_file = directory / "embeddings.npy"
        if encoder is not None and saved and vectors_file.exists():
            if saved.get("name") == str(encoder.name) and saved.get("dim") == int(encoder.dim):
                try:
                    vectors = load_rows(directory, "embeddings")
                except (OSError, ValueError) as exc:
                    raise IndexMismatchError(f"{vectors_file}: unreadable ({exc})") from exc
                if vectors.shape != (len(iris), saved["dim"]):
                    raise IndexMismatchError(
                        f"{vectors_file}: shape {vectors.shape}, expected "
                        f"({len(iris)}, {saved['dim']})"
                    )
                linker._embeddings = vectors.astype(np.float32, copy=False)
            else:
                log.warning(
                    "%s: label embeddings were made by %s; re-encoding with %s on first use",
                    directory,
                    saved.get("name"),
                    encoder.name,
                )
        return linker
