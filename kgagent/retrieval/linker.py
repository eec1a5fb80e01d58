"""Entity linking: mentions in a question -> entity IRIs, best first.

Linking is the first step of every question, and a miss here is the most common cause of
an empty answer in peers (LlamaIndex issue 13397). So the linker tries matchers from the
most to the least precise and falls back rather than return nothing:

1. ``[brackets]`` in the question are an explicit mention hint (MetaQA style), linked
   first and ranked first.
2. Word n-grams of the question are looked up in a dict of normalized names (exact,
   normalized, alias, article-insensitive); see :mod:`kgagent.retrieval.spans`.
3. Runs of content words that no single name covers are matched fuzzily (rapidfuzz),
   only against names sharing a word end with them, so the cost stays bounded.
4. With an encoder, the nearest preferred labels (faiss inner product over normalized
   embeddings) stand in when nothing else matched.

The names and the three matchers are a :class:`~kgagent.retrieval.name_table.NameTable`;
the choice of spans is a :class:`~kgagent.retrieval.spans.SpanFinder`. Scores lie in
[0, 1] on one scale for all methods: the match's precision (exact 1.0 down to dense)
times, for spans found without a hint, how much the span looks like a name.

Which words rarely name an entity (stopwords) is English plus the graph's own lexicon:
the question and function words of English are listed here; the words of the graph's
relation and class labels, and their inflections ("director", "directing" for
"directed by"), are derived from the graph by :meth:`EntityLinker.from_kg`; a dataset's
own list (MetaQA's "movie", "film", ...) is passed in as ``stopwords``.

On MetaQA dev (43k entities) with the brackets removed, the top candidate is the topic
entity for 100% of the questions whose entity is in the KB, at ~0.1 ms a question.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD

from kgagent._io import atomic_dir, load_rows
from kgagent.artifact import read_manifest, write_manifest
from kgagent.errors import IndexLoadError, IndexMismatchError
from kgagent.retrieval.name_table import NameTable
from kgagent.retrieval.spans import BARRIER, Question, Span, SpanFinder
from kgagent.text import normalize_name, stem

if TYPE_CHECKING:
    from kgagent.kg.graph import KnowledgeGraph
    from kgagent.retrieval.encoder import Encoder  # .name, .dim, .encode(texts) -> (n, dim)

__all__ = ["ENGLISH_STOPWORDS", "EntityCandidate", "EntityLinker", "normalize"]

log = logging.getLogger(__name__)

#: 2: the library's stopwords are English only; the graph's lexicon is saved beside them
FORMAT = "kgagent-linker/2"

#: the lookup key of a name or mention (the linker's old name for it)
normalize = normalize_name

_SKIP_NAMESPACES = tuple(str(ns) for ns in (RDF, RDFS, OWL, XSD, SKOS))

_ENGLISH = """
a about after all also am an and another any are as at be been before being between both
but by can could did do does doing done each either every few for from get give had has
have having he her here hers him his how i if in into is it its just know let list many
me might more most much must my name named names neither no nor not of on one ones only
onto or other our out over please s same shall she should show so some such tell than
that the their them then there these they this those to too under until us very was we
were what whats when where which while who whom whos whose why will with would yes you
your kind kinds type types sort sorts
people person year years date dates popular popularity famous good considered together
main primary
"""
#: English question and function words, and the general nouns questions use to ask;
#: a span made only of these is rarely the entity meant ("what", "In", "Another")
ENGLISH_STOPWORDS = frozenset(_ENGLISH.split())
_HINT = re.compile(r"\[([^\[\]]*)\]")


@lru_cache(maxsize=65_536)
def _stem(word: str) -> str:
    return stem(word)


def _popularity(adj: Any) -> np.ndarray:
    """(num_entities,) distinct relation kinds (in and out) + log-degree scaled into [0, 1)."""
    heads = np.repeat(np.arange(adj.num_entities, dtype=np.int64), np.diff(adj.indptr))
    return edge_popularity(heads, adj.relations, adj.targets, adj.num_entities)


def edge_popularity(
    heads: np.ndarray, relations: np.ndarray, tails: np.ndarray, num_entities: int
) -> np.ndarray:
    """(num_entities,) the linker's prior from distinct (head, relation, tail) edges, (e,)
    each: distinct relation kinds (in and out) + log-degree scaled into [0, 1). Any edge
    list will do (the adjacency's, or a streamed build's), no CSR needed."""
    n = int(num_entities)
    heads, tails = np.asarray(heads, np.int64), np.asarray(tails, np.int64)
    relations = np.asarray(relations, np.int64)
    r = int(relations.max()) + 1 if len(relations) else 1
    out_pairs = np.unique(heads * r + relations)  # distinct (entity, relation), both ways
    in_pairs = np.unique(tails * r + relations)
    kinds = np.bincount(out_pairs // r, minlength=n) + np.bincount(in_pairs // r, minlength=n)
    degree = np.bincount(heads, minlength=n) + np.bincount(tails, minlength=n)
    degree = np.log1p(degree.astype(np.float64))
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
        stopwords: extra words that rarely name an entity on their own, matched as
            written (normalized): a dataset's question vocabulary, such as MetaQA's
            "movie" and "film" (``retrieval.linker_stopwords`` in the configuration).
        lexicon: the graph's own words, those of its relation and class labels
            (``from_kg`` derives them): stopwords too, and so is any word with the same
            stem ("director", "directing" for "directed by"; "actor" for "starred
            actors"), as questions inflect the words that name relations.
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
        lexicon: Iterable[str] = (),
        _memo: dict[str, str] | None = None,
        _previous: EntityLinker | None = None,
    ) -> None:
        self.max_ngram = max(1, int(max_ngram))
        self.extra_stopwords = sorted({normalize_name(w) for w in stopwords} - {""})
        self.lexicon = sorted({normalize_name(w) for w in lexicon} - {""})
        self._stop = frozenset(
            {normalize_name(w) for w in ENGLISH_STOPWORDS}
            | set(self.extra_stopwords)
            | set(self.lexicon)
            | {BARRIER}
        )
        self._stop_stems = frozenset(_stem(w) for key in self.lexicon for w in key.split(" "))
        #: the names and the exact, fuzzy and dense matchers over them
        self.table = NameTable(
            names,
            preferred=preferred,
            popularity=popularity,
            encoder=encoder,
            fuzzy_threshold=fuzzy_threshold,
            is_stop=self.is_stopword,
            memo=_memo,
            previous=_previous.table if _previous is not None else None,
        )
        self._finder = SpanFinder(self.table, is_stop=self.is_stopword, max_ngram=self.max_ngram)
        #: the KG state this linker was built from (``kg.fingerprint()``), if known
        self.fingerprint: str | None = None

    @property
    def encoder(self) -> Encoder | None:
        return self.table.encoder

    @property
    def fuzzy_threshold(self) -> float:
        return self.table.fuzzy_threshold

    def is_stopword(self, word: str) -> bool:
        """Whether a normalized word rarely names an entity on its own: an English
        question word, one of ``stopwords``, or a word of the lexicon up to inflection."""
        return word in self._stop or (bool(self._stop_stems) and _stem(word) in self._stop_stems)

    @classmethod
    def from_kg(
        cls,
        kg: KnowledgeGraph,
        *,
        encoder: Encoder | None = None,
        previous: EntityLinker | None = None,
        stopwords: Iterable[str] = (),
        popularity: np.ndarray | None = None,
        **kwargs: Any,
    ) -> EntityLinker:
        """A linker over the entities of ``kg``: its labelled nodes, or local names if unlabelled.

        Classes and properties are left out: questions name them to say *what* is asked
        ("which film"), not *about whom*; the words of their labels become the linker's
        ``lexicon`` instead (stopwords, inflections included), so the graph, not a list
        written for one dataset, says which words name relations. ``stopwords`` adds a
        dataset's own question words (``retrieval.linker_stopwords``).

        Popularity, the tie-breaker between equally good matches, is the number of
        distinct relations (each direction) the entity takes part in, plus its log-degree
        scaled below 1: a film with a director, a cast and a genre outranks a tag or a
        year of the same name ("Love", "love"), however many films carry the tag.

        ``previous``, an earlier linker of this graph, lends its normalized names and, when
        the update only added entities, its name tables, which are extended in place of a
        rebuild. ``popularity``: that prior per vocabulary entity id, where the caller has
        it (a streamed index build, :func:`edge_popularity`), so the graph's adjacency,
        and the scan of every triple it takes, is not built for it.
        """
        onto = kg.ontology
        table = kg.vocab.entities
        schema = set(onto.classes) | set(onto.properties)
        prior = _popularity(kg.adjacency()) if popularity is None else popularity
        names: dict[str, list[str]] = {}
        preferred: dict[str, str] = {}
        popularity: dict[str, float] = {}
        for idx, iri in enumerate(table.iris()):
            if iri in schema or iri.startswith(("_:", *_SKIP_NAMESPACES)):
                continue
            names[iri] = [*onto.names(iri), *onto.alt_labels(iri)]
            preferred[iri] = onto.label(iri)
            popularity[iri] = float(prior[idx]) if idx < len(prior) else 0.0
        words = {w for iri in schema for w in onto.label(iri).split()}
        kwargs["lexicon"] = [*kwargs.get("lexicon", ()), *words]
        if previous is not None:
            kwargs["_memo"] = dict(previous.table.memo)
            kwargs["_previous"] = previous
        linker = cls(
            names,
            preferred=preferred,
            popularity=popularity,
            encoder=encoder,
            stopwords=stopwords,
            **kwargs,
        )
        linker.fingerprint = kg.fingerprint()
        return linker

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        enc = getattr(self.encoder, "name", None)
        return f"EntityLinker({len(self)} entities, {len(self.table.entries)} keys, encoder={enc})"

    def embed_labels(
        self, previous: EntityLinker | None = None, *, show_progress: bool = False
    ) -> int:
        """Embeds the preferred labels now (index time), reusing ``previous``'s vectors.

        Called when the index is built so the dense fallback never stalls a question; only
        labels that are new (or changed) since ``previous`` are encoded. Returns how
        many were encoded.
        """
        old = previous.table if previous is not None else None
        return self.table.embed_labels(old, show_progress=show_progress)

    def _candidate(
        self, e: int, score: float, method: str, mention: str, start: int, end: int
    ) -> EntityCandidate:
        return EntityCandidate(
            iri=self.table.iris[e],
            label=self.table.labels[e],
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
        key = normalize_name(text)
        t = self.table
        hits = t.lookup(text, key) or t.fuzzy(text, key, k) or t.dense(text, k)
        return [self._candidate(e, s, m, text, -1, -1) for e, s, m in hits[:k]]

    # -- a whole question ---------------------------------------------------------------

    def link(self, question: str, *, top_k: int = 5, dense: bool = True) -> list[EntityCandidate]:
        """The entities ``question`` mentions, best first.

        First the top entity of each ``[hint]``, then of each non-overlapping span found
        without hints (the most name-like first), then the alternatives by score. With
        nothing found and an encoder (and ``dense``), the entities nearest to the whole
        question; ``dense=False`` asks only for names written out ("and its genre?"
        names none, and the encoder pass is most of the cost).
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
        q = self._finder.question(question, hinted)
        chosen, others = self._finder.spans(q)
        if not chosen and others and not primary:  # only stopword spans: "Another Year"
            chosen, others = others[:1], others[1:]
        for span in chosen:
            found = self._span_candidates(q, span, top_k)
            primary.extend(found[:1])
            rest.extend(found[1:])
        for span in others:
            rest.extend(self._span_candidates(q, span, top_k))
        if not primary and dense and self.encoder is not None:
            primary = self._dense_fallback(q, top_k)
        rest.sort(key=lambda c: -c.score)
        out: list[EntityCandidate] = []
        seen: set[str] = set()
        for c in primary + rest:
            if c.iri not in seen:
                seen.add(c.iri)
                out.append(c)
        return out[:top_k]

    def _dense_fallback(self, q: Question, k: int) -> list[EntityCandidate]:
        """Nearest labels to the longest run of content words, else to the whole question.

        A run ("Brbara Bates") embeds far closer to the name than the question around
        it does, whose template words pull towards unrelated titles.
        """
        runs = [(i, j) for i, j in SpanFinder.runs(q.words) if i < j]
        if runs:
            i, j = max(runs, key=lambda r: (q.words[r[1] - 1].end - q.words[r[0]].start, -r[0]))
            start, end = q.words[i].start, q.words[j - 1].end
            text = q.text[start:end]
        else:
            text, start, end = " ".join(_HINT.sub(r"\1", q.text).split()), -1, -1
        mention = text if start >= 0 else ""
        return [
            self._candidate(e, s, m, mention, start, end) for e, s, m in self.table.dense(text, k)
        ]

    def _span_candidates(self, q: Question, span: Span, k: int) -> list[EntityCandidate]:
        mention = q.text[span.start : span.end]
        return [
            self._candidate(e, s * span.weight, m, mention, span.start, span.end)
            for e, s, m in span.hits[:k]
        ]

    # -- persistence --------------------------------------------------------------------

    def save(self, directory: str | Path, *, reuse: str | Path | None = None) -> None:
        """Writes names, priors and (if computed) label embeddings; JSON and .npy, no pickle.

        ``reuse``: a previous save; its label embeddings are hard-linked where they are
        this linker's leading rows (see :func:`kgagent._io.save_rows`).
        """
        with atomic_dir(directory) as tmp:
            t = self.table
            entities = {"iris": t.iris, "labels": t.labels, "names": t.names}
            (tmp / "entities.json").write_text(
                json.dumps(entities, ensure_ascii=False), encoding="utf-8"
            )
            np.save(tmp / "popularity.npy", t.popularity, allow_pickle=False)
            encoder = None
            if t.vectors is not None and self.encoder is not None:
                old = Path(reuse) / "labels" if reuse is not None else None
                t.vectors.save(tmp / "labels", reuse=old)
                encoder = {"name": str(self.encoder.name), "dim": int(t.vectors.dim)}
            write_manifest(
                tmp,
                "manifest.json",
                format=FORMAT,
                count=len(t.iris),
                fuzzy_threshold=self.fuzzy_threshold,
                max_ngram=self.max_ngram,
                stopwords=self.extra_stopwords,
                lexicon=self.lexicon,
                encoder=encoder,
                fingerprint=self.fingerprint,
                inventory=True,  # sizes and digests, checked on load
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
            IndexLoadError: a file differs from the manifest's inventory (size, sha256).
        """
        directory = Path(directory)
        manifest = read_manifest(
            directory,
            "manifest.json",
            format=FORMAT,
            error=IndexMismatchError,
            broken=IndexLoadError,  # a file differs from the manifest's inventory
            what="a saved entity linker",
            hint="rebuild the index (`kgagent index`)",
        )
        try:
            data = json.loads((directory / "entities.json").read_text("utf-8"))
            iris, labels, names = data["iris"], data["labels"], data["names"]
            pop = np.load(directory / "popularity.npy", allow_pickle=False)
            if not len(iris) == len(labels) == len(names) == len(pop) == manifest["count"]:
                raise ValueError("entity count differs between files and manifest")
            keys = ("fuzzy_threshold", "max_ngram", "stopwords", "lexicon")
            options = {k: manifest[k] for k in keys}
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
        if encoder is not None and saved:
            if saved.get("name") == str(encoder.name) and saved.get("dim") == int(encoder.dim):
                linker.table.vectors = _label_vectors(directory, int(saved["dim"]), len(iris))
            else:
                log.warning(
                    "%s: label embeddings were made by %s; re-encoding with %s on first use",
                    directory,
                    saved.get("name"),
                    encoder.name,
                )
        return linker


def _label_vectors(directory: Path, dim: int, count: int):
    """The saved label vectors: ``labels/`` (a FactIndex), or ``embeddings.npy`` as
    linkers saved them before (float32 rows, read into an exact index)."""
    from kgagent.retrieval.index import FactIndex

    if (directory / "labels").is_dir():
        index = FactIndex.load(directory / "labels", expect={"dim": dim})  # names the file
        if len(index) != count:
            raise IndexMismatchError(f"{directory}/labels: {len(index)} vectors for {count} labels")
        return index
    path = directory / "embeddings.npy"
    try:
        rows = load_rows(directory, "embeddings")
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(f"{path}: unreadable ({exc})") from exc
    if rows.shape != (count, dim):
        raise IndexMismatchError(f"{path}: shape {rows.shape}, expected ({count}, {dim})")
    index = FactIndex(dim)
    index.add(np.arange(count, dtype=np.int64), rows)
    return index
