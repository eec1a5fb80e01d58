"""The graph's ids and its entity-to-entity edges, from one streamed scan, kept on disk.

Opening an agent needs the vocabulary synced with the store and the adjacency (CSR) over
its ids. Both used to come from :meth:`KnowledgeGraph.triples_frame`, every triple as a
DataFrame of Python strings, read once for each: at 10M triples that is 4.4 GiB and most
of the 400 s an agent took to open. Here one scan in chunks of bounded size
(:func:`kgagent.kg.scan.triple_chunks`) extends the vocabulary and turns each chunk's
edges into integer arrays at once, so what is held is the ids, never the strings.

A persistent graph also keeps the result: the CSR arrays go to ``vocab/snapshot/``
beside the id tables, with the store fingerprint and the id counts they were built at,
and a later open whose store has that fingerprint maps them (read-only) instead of
scanning. Every change made through :class:`KnowledgeGraph` drops the snapshot's
manifest as it completes (:func:`invalidate`), so a change that keeps the fingerprint
(an update that deletes as many triples as it inserts) does not leave a stale one; a
graph on a remote endpoint, which others change behind our back, is never snapshotted.

The fingerprint itself counts the distinct triples of the union, a ``COUNT`` over a
``DISTINCT`` that Oxigraph answers by hashing every triple: 5 s and 700 MB at 3M
triples, every time a process opens the graph. So the count is kept too
(``vocab/count.json``, keyed by the sources it was taken at, dropped with the snapshot).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgagent._io import atomic_dir, atomic_write_json, random_access
from kgagent.kg.adjacency import Adjacency

if TYPE_CHECKING:
    from kgagent.kg.graph import KnowledgeGraph
    from kgagent.kg.vocab import Vocabulary

__all__ = ["FORMAT", "invalidate", "load", "scan", "sync", "triple_count"]

FORMAT = "kgagent-snapshot/1"
_ARRAYS = ("indptr", "relations", "targets")
_COUNT = "count.json"
#: TSV bytes a chunk of the scan reads: ~400k triples, a few hundred MB of strings
#: while one is parsed (larger chunks mean fewer rehashes of the growing id table)
CHUNK_BYTES = 64 << 20


def sync(kg: KnowledgeGraph, vocab: Vocabulary, *, state: Path | None) -> Adjacency:
    """Syncs ``vocab`` with ``kg`` and returns the adjacency: mapped from ``state /
    "snapshot"`` (``state``: the vocabulary's directory) when it was saved at ``kg``'s
    fingerprint, else scanned (and saved there, when ``state`` is given)."""
    directory = state / "snapshot" if state is not None else None
    fingerprint = kg.fingerprint() if directory is not None else None
    if directory is not None:
        found = load(directory, fingerprint, vocab)
        if found is not None:
            return found
    adjacency = scan(kg, vocab)
    if directory is not None:
        save(directory, adjacency, fingerprint)
    return adjacency


def scan(kg: KnowledgeGraph, vocab: Vocabulary, *, chunk_bytes: int = CHUNK_BYTES) -> Adjacency:
    """One pass over every distinct triple: unseen terms appended to ``vocab`` (each
    chunk's new terms sorted, so ids follow the store's order chunk by chunk; the id
    tables are saved once, at the end) and the entity-to-entity edges as ids."""
    import pandas as pd

    from kgagent.kg.backends import literal_mask
    from kgagent.kg.scan import triple_chunks

    heads, rels, tails = [], [], []
    for frame in triple_chunks(kg, chunk_bytes=chunk_bytes):
        edge = ~literal_mask(frame[2]).to_numpy()
        subjects, predicates, objects = (frame[i].to_numpy() for i in range(3))
        terms = pd.unique(np.concatenate([subjects, objects[edge]]))
        predicates_seen = pd.unique(predicates)
        vocab.extend(
            _unseen(vocab.entities, terms), _unseen(vocab.relations, predicates_seen), save=False
        )
        heads.append(vocab.entities.lookup(subjects[edge]).astype(np.int32))  # (e,)
        rels.append(vocab.relations.lookup(predicates[edge]).astype(np.int32))
        tails.append(vocab.entities.lookup(objects[edge]).astype(np.int32))
        del frame, subjects, predicates, objects, terms
    vocab.save()
    triples = np.stack([_joined(heads), _joined(rels), _joined(tails)], axis=1)  # (n, 3)
    del heads, rels, tails
    return Adjacency.from_triples(
        triples, num_entities=len(vocab.entities), num_relations=len(vocab.relations)
    )


def _unseen(table, terms: np.ndarray) -> list[str]:
    """The non-empty terms of ``terms`` (distinct) that ``table`` does not hold yet."""
    new = terms[table.lookup(terms) < 0] if len(table) else terms
    return [t for t in new.tolist() if t]


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)


def save(directory: Path, adjacency: Adjacency, fingerprint: str) -> None:
    """Writes the CSR arrays and, last, the manifest that vouches for them (atomic)."""
    with atomic_dir(directory) as tmp:
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(adjacency, name), allow_pickle=False)
        manifest = {
            "format": FORMAT,
            "fingerprint": fingerprint,
            "entities": adjacency.num_entities,
            "relations": adjacency.num_relations,
            "edges": adjacency.num_edges,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def load(directory: Path, fingerprint: str, vocab: Vocabulary) -> Adjacency | None:
    """The saved adjacency if it was built at ``fingerprint`` over ``vocab``'s ids as
    they are now, mapped read-only; None otherwise (a scan is then due)."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if (
        manifest.get("format") != FORMAT
        or manifest.get("fingerprint") != fingerprint
        or manifest.get("entities") != len(vocab.entities)
        or manifest.get("relations") != len(vocab.relations)
    ):
        return None
    try:
        arrays = {
            name: random_access(
                np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            )
            for name in _ARRAYS
        }
    except (OSError, ValueError):
        return None
    n = manifest["entities"]
    edges = manifest.get("edges")
    if (
        arrays["indptr"].shape != (n + 1,)
        or arrays["relations"].shape != (edges,)
        or arrays["targets"].shape != (edges,)
        or int(arrays["indptr"][-1]) != edges
    ):
        return None
    return Adjacency(
        indptr=arrays["indptr"],
        relations=arrays["relations"],
        targets=arrays["targets"],
        num_entities=n,
        num_relations=manifest["relations"],
        num_base_relations=manifest["relations"],
    )


def triple_count(kg: KnowledgeGraph, state: Path | None, count) -> int:
    """The distinct triples of ``kg``'s union: ``count()`` (the query), or the count kept
    in ``state`` (the vocabulary's directory) while the sources are those it was taken
    at; a new count is kept there."""
    key = [[s.graph, s.triples, s.loaded_at] for s in kg.sources()]
    path = state / _COUNT if state is not None else None
    if path is not None:
        try:
            kept = json.loads(path.read_text("utf-8"))
            if kept["sources"] == key and isinstance(kept["triples"], int):
                return kept["triples"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    n = int(count())
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only copy: counted again next time
            atomic_write_json(path, {"sources": key, "triples": n})
    return n


def invalidate(state: Path | None) -> None:
    """Drops the kept count and the snapshot's manifest (the graph has just changed):
    the arrays stay until the next save replaces them, but nothing reads them without
    their manifest."""
    if state is not None:
        (state / _COUNT).unlink(missing_ok=True)
        (state / "snapshot" / "manifest.json").unlink(missing_ok=True)
