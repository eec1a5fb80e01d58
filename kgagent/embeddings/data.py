"""Link-prediction data: id maps and (head, relation, tail) id arrays for train/valid/test.

Two sources. Split files (``head<TAB>relation<TAB>tail``, the format of the standard
benchmarks): ids come from the training split, sorted by label as PyKEEN does; valid/test
triples naming an entity or relation the training split never saw cannot be scored, so
they are dropped from evaluation — as PyKEEN and the published protocols do — and counted
in :attr:`TripleSplits.unseen`. A workspace KG: the triples of ``kg.adjacency()`` over the
stable ids of ``kg.vocab``, with a small seeded held-out valid/test split whose entities and
relations all stay in the training part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kgagent.errors import KGLoadError, VocabularyError

__all__ = ["TripleSplits", "labels_digest", "map_triples", "read_triples"]


def labels_digest(labels: Iterable[str]) -> str:
    """sha256 of the labels in id order (the same scheme as ``TermTable.digest``)."""
    h = hashlib.sha256()
    for label in labels:
        h.update(label.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def read_triples(path: str | Path, *, sep: str = "\t") -> list[tuple[str, str, str]]:
    """Reads a split file; a malformed line raises ``KGLoadError`` naming file and line.

    Blank lines are skipped; every other line must have exactly three non-empty fields.
    """
    path = Path(path)
    rows: list[tuple[str, str, str]] = []
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, errors name the file
    except OSError as exc:
        raise KGLoadError(f"cannot read ({exc.strerror or exc})", path=path) from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                parts = line.split(sep)
                if len(parts) != 3 or not all(p.strip() for p in parts):
                    shown = line if len(line) <= 80 else line[:77] + "..."
                    raise KGLoadError(
                        f"expected 3 fields separated by {sep!r} (head, relation, tail), "
                        f"got {len(parts)}: {shown!r}",
                        path=path,
                        line=lineno,
                    )
                rows.append((parts[0].strip(), parts[1].strip(), parts[2].strip()))
        except UnicodeDecodeError as exc:
            raise KGLoadError(f"not UTF-8 text ({exc.reason})", path=path) from None
    return rows


@dataclass
class TripleSplits:
    """Entity/relation labels (index = id) and (n, 3) int64 id arrays per split.

    Attributes:
        entities: label (or N-Triples term) of each entity id.
        relations: label of each relation id.
        train, valid, test: (n, 3) int64 arrays of (head, relation, tail) ids.
        unseen: per evaluation split, what was dropped because training never saw it:
            ``{"valid": {"triples": n, "entities": [...], "relations": [...]}, ...}``.
        source: where the data came from (paths, or the workspace), for metrics.json.
    """

    entities: list[str]
    relations: list[str]
    train: np.ndarray
    valid: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    test: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    unseen: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def all_triples(self) -> np.ndarray:
        """Every known triple (the filter of filtered evaluation)."""
        return np.concatenate([self.train, self.valid, self.test])

    def digests(self) -> dict[str, str]:
        return {
            "entities": labels_digest(self.entities),
            "relations": labels_digest(self.relations),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "entities": self.num_entities,
            "relations": self.num_relations,
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
            "unseen": self.unseen,
            "source": self.source,
        }

    def __repr__(self) -> str:
        return (
            f"TripleSplits(entities={self.num_entities}, relations={self.num_relations}, "
            f"train={len(self.train)}, valid={len(self.valid)}, test={len(self.test)})"
        )

    # -- constructors --------------------------------------------------------------------

    @classmethod
    def from_labeled(
        cls,
        train: Sequence[tuple[str, str, str]],
        valid: Sequence[tuple[str, str, str]] = (),
        test: Sequence[tuple[str, str, str]] = (),
        *,
        source: dict[str, Any] | None = None,
    ) -> TripleSplits:
        """Maps labelled triples to ids taken from ``train`` (sorted labels)."""
        if not train:
            raise KGLoadError("the training split has no triples", path=(source or {}).get("train"))
        entities = sorted({e for h, _, t in train for e in (h, t)})
        relations = sorted({r for _, r, _ in train})
        ent_id = {e: i for i, e in enumerate(entities)}
        rel_id = {r: i for i, r in enumerate(relations)}
        out = cls(
            entities=entities, relations=relations, train=map_triples(train, ent_id, rel_id)[0]
        )
        for name, rows in (("valid", valid), ("test", test)):
            ids, report = map_triples(rows, ent_id, rel_id)
            setattr(out, name, ids)
            if report["triples"]:
                out.unseen[name] = report
        out.source = dict(source or {})
        return out

    @classmethod
    def from_files(
        cls,
        *,
        train: str | Path,
        valid: str | Path | None = None,
        test: str | Path | None = None,
        sep: str = "\t",
    ) -> TripleSplits:
        """Reads split files (``head<sep>relation<sep>tail`` per line)."""
        paths = {"train": train, "valid": valid, "test": test}
        rows = {k: read_triples(p, sep=sep) if p is not None else [] for k, p in paths.items()}
        return cls.from_labeled(
            rows["train"],
            rows["valid"],
            rows["test"],
            source={k: str(p) for k, p in paths.items() if p is not None},
        )

    @classmethod
    def from_kg(
        cls,
        kg,
        *,
        heldout: float = 0.05,
        max_heldout: int = 5000,
        seed: int = 0,
    ) -> TripleSplits:
        """Triples of a KnowledgeGraph over its stable vocab ids, with a held-out split.

        ``heldout`` of the triples (at most ``max_heldout``) each go to valid and test,
        chosen at random (seeded) among triples whose head, relation and tail keep at
        least one other training triple: held-out triples are then always scorable.
        """
        vocab = kg.vocab
        adj = kg.adjacency()
        triples = adj.triples()
        if not len(triples):
            raise VocabularyError(f"{kg!r}: no entity-to-entity triples to train on")
        return cls.from_id_triples(
            triples,
            entities=list(vocab.entities.terms),
            relations=list(vocab.relations.terms),
            heldout=heldout,
            max_heldout=max_heldout,
            seed=seed,
            source={"kg": repr(kg)},
        )

    @classmethod
    def from_id_triples(
        cls,
        triples: np.ndarray,
        *,
        entities: list[str],
        relations: list[str],
        heldout: float = 0.05,
        max_heldout: int = 5000,
        seed: int = 0,
        source: dict[str, Any] | None = None,
    ) -> TripleSplits:
        """Splits one id-triple array into train/valid/test (see :meth:`from_kg`)."""
        triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
        n_each = min(max_heldout, int(len(triples) * heldout))
        keep = _pick_heldout(triples, 2 * n_each, len(entities), len(relations), seed)
        mask = np.zeros(len(triples), dtype=bool)
        mask[keep] = True
        held = triples[keep]
        return cls(
            entities=entities,
            relations=relations,
            train=np.ascontiguousarray(triples[~mask]),
            valid=np.ascontiguousarray(held[: len(held) // 2]),
            test=np.ascontiguousarray(held[len(held) // 2 :]),
            source={**(source or {}), "heldout": heldout, "seed": seed},
        )


def map_triples(
    rows: Sequence[tuple[str, str, str]], ent_id: dict[str, int], rel_id: dict[str, int]
) -> tuple[np.ndarray, dict[str, Any]]:
    """(ids (n, 3), report): labelled triples as id rows over the given id maps.

    A triple naming an entity or relation the maps lack cannot be scored, so it is dropped
    and counted in the report (``triples``, ``entities``, ``relations``), the form of
    :attr:`TripleSplits.unseen`; callers that build ids over a subset of the labels use
    it to map the rest.
    """
    ids = np.empty((len(rows), 3), dtype=np.int64)
    n = 0
    bad_e: set[str] = set()
    bad_r: set[str] = set()
    for h, r, t in rows:
        hi, ri, ti = ent_id.get(h), rel_id.get(r), ent_id.get(t)
        if hi is None or ri is None or ti is None:
            bad_e.update(x for x, i in ((h, hi), (t, ti)) if i is None)
            if ri is None:
                bad_r.add(r)
            continue
        ids[n] = (hi, ri, ti)
        n += 1
    dropped = len(rows) - n
    report = {"triples": dropped, "entities": sorted(bad_e), "relations": sorted(bad_r)}
    return ids[:n], report


def _pick_heldout(
    triples: np.ndarray, n: int, num_entities: int, num_relations: int, seed: int
) -> np.ndarray:
    """Indices of up to ``n`` triples whose removal leaves every id in the rest."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    ent = np.bincount(triples[:, [0, 2]].ravel(), minlength=num_entities)
    rel = np.bincount(triples[:, 1], minlength=num_relations)
    order = np.random.default_rng(seed).permutation(len(triples))
    picked = []
    for i in order:  # a Python loop over at most a few candidates per pick
        h, r, t = triples[i]
        need = 2 if h == t else 1
        if ent[h] > need and ent[t] > need and rel[r] > 1:
            ent[h] -= 1
            ent[t] -= 1
            rel[r] -= 1
            picked.append(i)
            if len(picked) == n:
                break
    return np.asarray(picked, dtype=np.int64)
