"""Stable integer ids for entities and relations.

Embeddings and policies index their weight rows by these ids, so an id, once given, never
changes: later loads only append, and removing a source leaves its ids reserved (the
entity simply has no edges). Terms are kept in N-Triples syntax (``<iri>``, ``_:b``), the
form SPARQL TSV results use, so syncing with the store is a vectorized set difference.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from kgagent._io import atomic_write_text
from kgagent.artifact import read_manifest, write_manifest
from kgagent.errors import VocabularyError

__all__ = ["TermTable", "Vocabulary"]

FORMAT = "kgagent-vocab/1"


def _to_term(value: object) -> str:
    """An IRI (str/URIRef/NamedNode) or an N-Triples term -> N-Triples term syntax."""
    text = getattr(value, "value", None) if not isinstance(value, str) else value
    if text is None:
        text = str(value)
    if text.startswith("<") and text.endswith(">"):
        return text
    if text.startswith("_:"):
        return text
    if type(value).__name__ in ("BNode", "BlankNode"):
        return f"_:{text}"
    return f"<{text}>"


def _from_term(term: str) -> str:
    return term[1:-1] if term.startswith("<") else term


class TermTable:
    """An append-only table term <-> id."""

    def __init__(self, terms: Sequence[str] = ()) -> None:
        self._terms: list[str] = list(terms)
        self._index: dict[str, int] = {t: i for i, t in enumerate(self._terms)}
        if len(self._index) != len(self._terms):
            raise VocabularyError("duplicate terms in id table")
        self._hashed = None  # pandas Index of the first terms, for vectorized lookups

    def __len__(self) -> int:
        return len(self._terms)

    def __contains__(self, value: object) -> bool:
        return _to_term(value) in self._index

    def id(self, value: object) -> int:
        """The id of an IRI (``str``, ``URIRef``) or N-Triples term; KeyError if unknown."""
        term = _to_term(value)
        try:
            return self._index[term]
        except KeyError:
            raise KeyError(f"{_from_term(term)} has no id (not in the graph)") from None

    def get(self, value: object, default: int | None = None) -> int | None:
        return self._index.get(_to_term(value), default)

    def iri(self, idx: int) -> str:
        """The IRI (or ``_:label`` for a blank node) with id ``idx``."""
        return _from_term(self._terms[idx])

    @property
    def terms(self) -> list[str]:
        """All terms in id order, N-Triples syntax (read-only by convention)."""
        return self._terms

    def iris(self) -> list[str]:
        return [_from_term(t) for t in self._terms]

    def add(self, terms: Iterable[str]) -> int:
        """Appends the terms not yet present, sorted for determinism; returns how many."""
        new = sorted({t for t in terms if t not in self._index})
        for t in new:
            self._index[t] = len(self._terms)
            self._terms.append(t)
        return len(new)

    def lookup(self, terms) -> np.ndarray:
        """Vectorized term -> id for an array-like of N-Triples terms (-1 if unknown).

        Two hash tables: one over the first terms, kept between calls, and one over the
        terms added since, rebuilt per call and folded into the first once it holds a
        quarter as many. A streamed scan (:mod:`kgagent.kg.snapshot`) looks up every
        chunk while the table grows, so rehashing every term per chunk would cost
        O(terms x chunks); this costs O(terms log terms) over the whole scan.
        """
        import pandas as pd

        n = len(self._terms)
        hashed = self._hashed
        if hashed is None or n - len(hashed) > max(len(hashed) // 4, 1 << 16):
            hashed = self._hashed = pd.Index(self._terms[:n], dtype=object)
        query = pd.Index(terms, dtype=object)
        ids = hashed.get_indexer(query).astype(np.int64)
        missing = np.flatnonzero(ids < 0)
        if len(missing) and n > len(hashed):
            recent = pd.Index(self._terms[len(hashed) : n], dtype=object)
            found = recent.get_indexer(query[missing])
            ids[missing] = np.where(found >= 0, found + len(hashed), -1)
        return ids

    def digest(self) -> str:
        h = hashlib.sha256()
        for t in self._terms:
            h.update(t.encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()


class Vocabulary:
    """Entity and relation id tables, optionally persisted in a directory.

    Files: ``entities.txt`` and ``relations.txt`` (one N-Triples term per line; line
    number = id) and ``manifest.json`` (counts and digests, checked on load).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.entities = TermTable()
        self.relations = TermTable()
        self._lock = threading.Lock()
        if self.directory is not None and (self.directory / "manifest.json").exists():
            self._read()

    def __repr__(self) -> str:
        return f"Vocabulary(entities={len(self.entities)}, relations={len(self.relations)})"

    def _read(self) -> None:
        assert self.directory is not None
        manifest = read_manifest(
            self.directory,
            "manifest.json",
            format=FORMAT,
            require=("entities", "relations"),
            error=VocabularyError,
            what="an id table",
        )
        try:
            tables = {}
            for name in ("entities", "relations"):
                path = self.directory / f"{name}.txt"
                text = path.read_text("utf-8")
                terms = text.split("\n")[:-1] if text else []
                if len(terms) != manifest[name]["count"]:
                    raise VocabularyError(
                        f"{path}: {len(terms)} ids, but manifest.json says "
                        f"{manifest[name]['count']}; the id table is corrupt"
                    )
                tables[name] = TermTable(terms)
                if tables[name].digest() != manifest[name]["sha256"]:
                    raise VocabularyError(f"{path}: content does not match manifest.json digest")
        except (OSError, KeyError, ValueError) as exc:
            raise VocabularyError(f"{self.directory}: unreadable id tables ({exc})") from exc
        self.entities, self.relations = tables["entities"], tables["relations"]

    def save(self) -> None:
        """Writes the tables atomically (each file, then the manifest that vouches for them)."""
        if self.directory is None:
            return
        manifest = {}
        for name, table in (("entities", self.entities), ("relations", self.relations)):
            atomic_write_text(
                self.directory / f"{name}.txt", "".join(t + "\n" for t in table.terms)
            )
            manifest[name] = {"count": len(table), "sha256": table.digest()}
        write_manifest(self.directory, "manifest.json", format=FORMAT, **manifest)

    def extend(
        self, entity_terms: Iterable[str], relation_terms: Iterable[str], *, save: bool = True
    ) -> tuple[int, int]:
        """Adds unseen terms (N-Triples syntax); persists if anything changed (and
        ``save``: a scan in chunks saves once, at its end)."""
        with self._lock:
            n_ent = self.entities.add(entity_terms)
            n_rel = self.relations.add(relation_terms)
            if save and (n_ent or n_rel):
                self.save()
            return n_ent, n_rel
