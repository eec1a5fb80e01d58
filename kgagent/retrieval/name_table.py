"""The entity linker's table of names, and the three ways a mention is matched against it.

Every name of every entity is indexed under its normalised key
(:func:`kgagent.text.normalize_name`), and under the key without a leading or trailing
article ("Matrix, The"). A mention is then matched:

- by key (:meth:`NameTable.lookup`): the name as written beats a case-folded match, which
  beats one that differs in accents or punctuation, which beats an alias;
- fuzzily (:meth:`NameTable.fuzzy`, rapidfuzz ``WRatio``), only against names that share
  a word end with the mention, so a lookup stays a few thousand comparisons;
- densely (:meth:`NameTable.dense`), by the nearest preferred labels in a sentence
  encoder's space (faiss inner product over normalized embeddings).

All three return ``(entity id, precision, method)`` on one scale in [0, 1], best first;
the linker decides which spans of a question to look up (:mod:`kgagent.retrieval.spans`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent.text import normalize_name

if TYPE_CHECKING:
    from kgagent.retrieval.encoder import Encoder  # .name, .dim, .encode(texts) -> (n, dim)
    from kgagent.retrieval.index import FactIndex

__all__ = ["Hit", "NameTable", "strip_article"]

#: (entity id, precision in [0, 1], method), the result of every matcher
Hit = tuple[int, float, str]

# precision of each kind of match; a hint-less span's weight multiplies these
_EXACT, _NORMALIZED, _ALIAS, _ALIAS_NORMALIZED, _ARTICLE = 1.0, 0.9, 0.9, 0.85, 0.8
_FUZZY_MIN, _FUZZY_MAX = 0.6, 0.85
_DENSE_MAX = 0.75
#: labels held as exact float32 vectors up to this many (0.5 GB at 256 dims), IVF-PQ above
_EXACT_LABELS = 500_000
_EMBED_CHUNK = 65_536  # labels encoded at once (and IVF-PQ's training sample)
# kinds of index entries: the preferred label, another name, a name without its article
_PREF, _OTHER, _NO_ARTICLE = 0, 1, 2

_ARTICLES = frozenset({"the", "a", "an"})


def strip_article(key: str) -> str | None:
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


def _never(word: str) -> bool:
    return False


class NameTable:
    """Entity names under normalised keys, with exact, fuzzy and dense matchers.

    Args:
        names: entity IRI -> all its names (labels in every language, aliases).
        preferred: IRI -> display label; defaults to the first name.
        popularity: IRI -> a prior such as degree; breaks ties between equal matches.
        encoder: optional sentence encoder for :meth:`dense`.
        fuzzy_threshold: minimum rapidfuzz ``WRatio`` (0-100) of a fuzzy match.
        is_stop: whether a normalised word is a stopword; fuzzy matching blocks on the
            other words of a name ("Another Year" is found by "Year" only if both are).
        memo: name -> ``normalize_name(name)``, shared with (and filled for) the next
            table of the same graph.
        previous: a table whose entities are this one's first entities, with the same
            names; its tables are extended, not rebuilt (an update adds a few entities to
            tens of thousands).
    """

    def __init__(
        self,
        names: Mapping[str, Sequence[str]],
        *,
        preferred: Mapping[str, str] | None = None,
        popularity: Mapping[str, float] | None = None,
        encoder: Encoder | None = None,
        fuzzy_threshold: float = 88.0,
        is_stop: Callable[[str], bool] = _never,
        memo: dict[str, str] | None = None,
        previous: NameTable | None = None,
    ) -> None:
        preferred = preferred or {}
        popularity = popularity or {}
        self.encoder = encoder
        self.fuzzy_threshold = float(fuzzy_threshold)
        self._is_stop = is_stop
        self.iris: list[str] = list(names)
        self.labels: list[str] = []
        self.names: list[list[str]] = []
        for iri in self.iris:
            value = names[iri]
            given = [
                " ".join(str(n).split()) for n in ([value] if isinstance(value, str) else value)
            ]
            label = " ".join(str(preferred.get(iri) or "").split()) or next(
                (n for n in given if n), iri
            )
            self.labels.append(label)
            self.names.append(list(dict.fromkeys([label, *(n for n in given if n)])))
        #: (n,) float64 tie-breaking prior of each entity
        self.popularity = np.array(
            [float(popularity.get(i, 0.0)) for i in self.iris], dtype=np.float64
        )
        self._vectors: FactIndex | None = None  # label vectors, id = entity row
        self._blocks: dict[str, np.ndarray] | None = None  # word-end block -> key ids
        #: name -> normalize_name(name); handed to the next build of the same graph
        self.memo: dict[str, str] = memo if memo is not None else {}
        self._build(previous if self.extends(previous) else None)

    def __len__(self) -> int:
        return len(self.iris)

    # -- building -----------------------------------------------------------------------

    def _build(self, previous: NameTable | None = None) -> None:
        """Indexes every name under its normalized key (and its article-free variant)."""
        start = 0
        index: dict[str, list[tuple[int, int]]] = {}
        symbols: dict[str, list[int]] = {}  # names with no word at all ("$", "!!!")
        prefixes: set[str] = set()
        if previous is not None:
            start = len(previous.iris)
            index, symbols = dict(previous.entries), dict(previous.symbols)
            prefixes = set(previous.prefixes)
        memo = self.memo

        def norm(name: str) -> str:
            key = memo.get(name)
            if key is None:
                key = memo[name] = normalize_name(name)
            return key

        def append(table: dict, key: str, item: Any) -> None:
            if previous is None:
                table.setdefault(key, []).append(item)
            else:  # the lists are shared with ``previous``: copy on write
                table[key] = [*table.get(key, ()), item]

        new_keys: list[str] = []
        for e in range(start, len(self.iris)):
            label, names = self.labels[e], self.names[e]
            label_key = norm(label)
            kinds: dict[str, int] = {}
            for name in names:
                key = norm(name)
                if not key:
                    append(symbols, name.casefold(), e)
                    continue
                kind = _PREF if key == label_key else _OTHER
                kinds[key] = min(kind, kinds.get(key, kind))
                bare = strip_article(key)
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
        #: normalised key -> (entity id, kind of name) entries
        self.entries = index
        #: names with no word in them ("$"), casefolded -> entity ids
        self.symbols = {k: list(dict.fromkeys(v)) for k, v in symbols.items()}
        #: every word prefix of a key: an n-gram walk stops where no name starts so
        self.prefixes = prefixes
        self.keys = list(index)

    def extends(self, previous: NameTable | None) -> bool:
        """Whether ``previous`` holds this table's first entities, named the same."""
        if previous is None:
            return False
        m = len(previous.iris)
        return (
            m <= len(self.iris)
            and self.iris[:m] == previous.iris
            and self.labels[:m] == previous.labels
            and self.names[:m] == previous.names
        )

    # -- matching -----------------------------------------------------------------------

    def lookup(self, text: str, key: str) -> list[Hit]:
        """Dict matches of a mention ``text`` whose normalised key is ``key``, best first.

        The name as written wins over one that differs in case ("love" the tag over
        "Love" the film: MetaQA writes each name as it is), which wins over one that
        differs in accents or punctuation ("Moulin Rouge" over "Moulin Rouge!"). An empty
        ``key`` looks ``text`` up among the names that have no word ("$").
        """
        best: dict[int, tuple[float, str]] = {}
        folded = text.casefold()

        def keep(e: int, score: float, method: str) -> None:
            if score > best.get(e, (-1.0, ""))[0]:
                best[e] = (score, method)

        entries = self.entries.get(key, [])
        for e, kind in entries:
            if kind == _PREF:
                label = self.labels[e]
                if text == label:
                    keep(e, _EXACT, "exact")
                else:
                    near = folded == label.casefold()
                    keep(e, _NORMALIZED if near else _NORMALIZED - 0.02, "normalized")
            elif kind == _OTHER:
                keep(e, _ALIAS if text in self.names[e] else _ALIAS_NORMALIZED, "alias")
            else:
                keep(e, _ARTICLE, "alias")
        bare = strip_article(key) if key else None
        if bare and not entries:  # "The Matrix" asked, "Matrix" known
            for e, _kind in self.entries.get(bare, []):
                keep(e, _ARTICLE, "alias")
        if not key:
            for e in self.symbols.get(text.casefold(), []):
                keep(e, _EXACT if text in self.names[e] else _NORMALIZED, "exact")
        return self.rank(best)

    def rank(self, best: Mapping[int, tuple[float, str]]) -> list[Hit]:
        """Entity -> (score, method) as hits: by score, then popularity, label, id."""
        order = sorted(best, key=lambda e: (-best[e][0], -self.popularity[e], self.labels[e], e))
        return [(e, *best[e]) for e in order]

    def fuzzy(self, text: str, key: str, limit: int) -> list[Hit]:
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
        words = [w for w in key.split(" ") if not self._is_stop(w)] or key.split(" ")
        found = [blocks[b] for w in words for b in _block_keys(w, 6) if b in blocks]
        if not found:
            return []
        ids = np.unique(np.concatenate(found))
        lengths = self._key_lengths[ids]
        ids = ids[(lengths >= 0.75 * len(key)) & (lengths <= len(key) / 0.75)]
        choices = [self.keys[i] for i in ids]
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
            for e, kind in self.entries[choice]:
                as_written = fuzz.ratio(text, self.labels[e]) / 100.0
                score = min(precision, _FUZZY_MAX) * (1.0 if kind == _PREF else 0.97)
                score += 0.01 * as_written
                if score > best.get(e, (-1.0, ""))[0]:
                    best[e] = (score, "fuzzy")
        return self.rank(best)[:limit]

    def _fuzzy_blocks(self) -> dict[str, np.ndarray]:
        if self._blocks is None:
            blocks: dict[str, list[int]] = {}
            for k, key in enumerate(self.keys):
                words = key.split(" ")
                words = [w for w in words if not self._is_stop(w)] or words  # "Another Year"
                for block in {b for w in words for b in _block_keys(w, 7)}:
                    blocks.setdefault(block, []).append(k)
            self._blocks = {p: np.array(v, dtype=np.int64) for p, v in blocks.items()}
            self._key_lengths = np.array([len(k) for k in self.keys], dtype=np.int64)
        return self._blocks

    def dense(self, text: str, limit: int) -> list[Hit]:
        """Entities whose preferred label embeds nearest to ``text`` (cosine)."""
        if self.encoder is None or not text.strip() or not self.iris or limit <= 0:
            return []
        if self._vectors is None:
            self.embed_labels()
        assert self._vectors is not None
        query = np.asarray(self.encoder.encode([text]), dtype=np.float32).reshape(1, -1)
        sims, ids = self._vectors.search(query, min(limit, len(self.iris)))  # (1, limit)
        best = {
            int(e): (_DENSE_MAX * max(0.0, min(1.0, float(s))), "dense")
            for s, e in zip(sims[0], ids[0], strict=True)
            if e >= 0
        }
        return self.rank(best)

    # -- label embeddings ---------------------------------------------------------------

    @property
    def vectors(self) -> FactIndex | None:
        """The preferred labels' vectors (id = entity row), once embedded or loaded.

        A :class:`~kgagent.retrieval.index.FactIndex` like the facts': exact float32 while
        the graph is small, IVF-PQ codes re-ranked from float16 rows on disk past its
        ``exact_max`` (1.75M labels of a 10M-fact graph held as float32 were 1.8 GB,
        and an exhaustive search of them per fallback cost more than a question)."""
        return self._vectors

    @vectors.setter
    def vectors(self, index: FactIndex | None) -> None:
        self._vectors = index

    def embed_labels(
        self, previous: NameTable | None = None, *, show_progress: bool = False
    ) -> int:
        """Embeds the preferred labels now, reusing ``previous``'s vectors; returns how many
        were encoded (only labels new or changed since ``previous``).

        Chunk by chunk, so at most :data:`_EMBED_CHUNK` float32 rows are held; a random
        sample goes first, so an index that is compact from the start (IVF-PQ) trains on
        labels of every kind, not on the first IRIs in id order."""
        from kgagent.retrieval.index import FactIndex

        if self.encoder is None or not self.iris:
            return 0
        dim, n = int(self.encoder.dim), len(self.iris)
        old: dict[tuple[str, str], int] = {}
        if previous is not None and previous.vectors is not None and (
            previous.encoder is not None and previous.encoder.name == self.encoder.name
            and previous.vectors.dim == dim
        ):  # fmt: skip
            old = {key: i for i, key in enumerate(zip(previous.iris, previous.labels, strict=True))}
        # past _EXACT_LABELS IVF-PQ from the first chunk, its lists sized for every label
        nlist = 2 ** int(math.log2(math.sqrt(n)))
        index = FactIndex(dim, storage="pq" if n > _EXACT_LABELS else "float32",
                          exact_max=_EXACT_LABELS, pq={"nlist": nlist})  # fmt: skip
        rng = np.random.default_rng(0)
        order = rng.permutation(n)
        first = np.sort(order[: min(n, _EMBED_CHUNK)])
        rest = np.sort(order[len(first) :])
        encoded = 0
        chunks = [first, *(rest[i : i + _EMBED_CHUNK] for i in range(0, len(rest), _EMBED_CHUNK))]
        for rows in chunks:
            out = np.zeros((len(rows), dim), dtype=np.float32)  # (c, dim)
            found = [old.get((self.iris[e], self.labels[e]), -1) for e in rows.tolist()]
            have = np.array(found, dtype=np.int64)
            if (have >= 0).any():
                out[have >= 0] = previous.vectors.vectors(have[have >= 0])  # type: ignore[union-attr]
            todo = np.flatnonzero(have < 0)
            if len(todo):
                texts = [self.labels[e] for e in rows[todo].tolist()]
                shown = {"show_progress": True} if show_progress and len(chunks) == 1 else {}
                vecs = self.encoder.encode(texts, **shown)
                out[todo] = np.asarray(vecs, np.float32).reshape(len(todo), dim)
                encoded += len(todo)
            index.add(rows.astype(np.int64), out)
        self._vectors = index
        return encoded
