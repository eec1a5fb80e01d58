"""A trained embedding on disk: weights, config, the vocabulary it was trained on, metrics.

Layout of ``DIR`` (for a workspace, ``WS/embeddings/NAME``)::

    config.json          model config + training options + vocabulary digests
    weights.safetensors  entity and relation tables (row = id)
    entities.txt         one entity label / N-Triples term per line (line number = id)
    relations.txt        the same for relations
    heldout.safetensors  the valid/test id triples held out (workspace training)
    metrics.json         filtered MRR, Hits@k, timings

A model is only meaningful with the ids it was trained on, so :meth:`Embedding.load`
refuses a vocabulary that differs (different terms, order or count) with an error that
says what differs, rather than returning scores for the wrong entities.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgagent._io import atomic_dir, atomic_write_json, atomic_write_text
from kgagent.embeddings.data import labels_digest
from kgagent.embeddings.models import KGEModel, read_config
from kgagent.errors import EmbeddingError, VocabularyError

__all__ = [
    "Embedding",
    "check_vocabulary",
    "embedding_dir",
    "evaluate_path",
    "load_workspace",
    "save_embedding",
    "train_workspace",
]


def save_embedding(
    out: str | Path, *, model: KGEModel, data, config, metrics: dict[str, Any]
) -> Path:
    """Writes the artifact directory atomically (a crash leaves the previous version)."""
    out = Path(out)
    extra = {
        "training": dataclasses.asdict(config),
        "vocabulary": data.digests(),
    }
    with atomic_dir(out) as tmp:
        model.save(tmp, extra=extra)
        atomic_write_text(tmp / "entities.txt", "".join(e + "\n" for e in data.entities))
        atomic_write_text(tmp / "relations.txt", "".join(r + "\n" for r in data.relations))
        if len(data.valid) or len(data.test):
            _save_heldout(tmp / "heldout.safetensors", data.valid, data.test)
        atomic_write_json(tmp / "metrics.json", metrics)
    return out


def _save_heldout(path: Path, valid: np.ndarray, test: np.ndarray) -> None:
    import torch
    from safetensors.torch import save_file

    save_file(
        {
            "valid": torch.as_tensor(np.asarray(valid, dtype=np.int64)).reshape(-1, 3),
            "test": torch.as_tensor(np.asarray(test, dtype=np.int64)).reshape(-1, 3),
        },
        str(path),
    )


def check_vocabulary(
    directory: Path, kind: str, saved: list[str], given: list[str], digest: str | None
) -> None:
    """Raises VocabularyError unless ``given`` is exactly the vocabulary trained on."""
    if digest is not None and labels_digest(saved) != digest:
        raise EmbeddingError(f"{directory / (kind + '.txt')}: does not match config.json digest")
    if saved == list(given):
        return
    if len(saved) != len(given):
        detail = f"the embedding has {len(saved):,} {kind}, the graph {len(given):,}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(saved, given, strict=True)) if a != b)
        detail = f"{kind} id {i} is {saved[i]!r} in the embedding but {given[i]!r} in the graph"
    raise VocabularyError(
        f"{directory}: trained on another vocabulary ({detail}); retrain it with "
        "`kgagent kge train` on this graph"
    )


@dataclass
class Embedding:
    """A loaded embedding artifact: the model plus the labels of its rows."""

    model: KGEModel
    entities: list[str]
    relations: list[str]
    config: dict[str, Any]
    metrics: dict[str, Any]
    directory: Path | None = None

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        kg=None,
        entities: list[str] | None = None,
        relations: list[str] | None = None,
    ) -> Embedding:
        """Loads ``directory``; with ``kg`` (or explicit label lists) checks the vocabulary.

        Raises:
            EmbeddingError: missing or corrupt files.
            VocabularyError: the KG's (or given) entity/relation ids differ from the ones
                the model was trained on.
        """
        directory = Path(directory)
        cfg = _checked_config(directory)
        saved = {k: _read_lines(directory / f"{k}.txt") for k in ("entities", "relations")}
        sizes = {"entities": cfg["num_entities"], "relations": cfg["num_relations"]}
        for kind, labels in saved.items():
            if len(labels) != sizes[kind]:
                raise EmbeddingError(
                    f"{directory / (kind + '.txt')}: {len(labels)} lines, but config.json "
                    f"says {sizes[kind]} {kind}"
                )
        if kg is not None:
            vocab = kg.vocab
            entities, relations = list(vocab.entities.terms), list(vocab.relations.terms)
        digests = cfg.get("vocabulary", {})
        for kind, given in (("entities", entities), ("relations", relations)):
            if given is not None:
                check_vocabulary(directory, kind, saved[kind], given, digests.get(kind))
        try:
            model = KGEModel.load(directory)
        except (TypeError, ValueError) as exc:  # hyperparameters the model cannot take
            raise EmbeddingError(
                f"{directory / 'config.json'}: field 'hyperparameters' does not build a "
                f"{cfg['model']} model ({exc})"
            ) from exc
        metrics_path = directory / "metrics.json"
        metrics = json.loads(metrics_path.read_text("utf-8")) if metrics_path.exists() else {}
        return cls(
            model=model,
            entities=saved["entities"],
            relations=saved["relations"],
            config=cfg,
            metrics=metrics,
            directory=directory,
        )

    def heldout(self) -> dict[str, np.ndarray]:
        """The valid/test id triples held out when this model was trained (may be empty)."""
        from safetensors.numpy import load_file

        path = None if self.directory is None else self.directory / "heldout.safetensors"
        if path is None or not path.exists():
            return {"valid": np.zeros((0, 3), np.int64), "test": np.zeros((0, 3), np.int64)}
        return load_file(str(path))

    def map_triples(
        self, rows: list[tuple[str, str, str]], *, as_term: bool = False
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Labelled triples -> (n, 3) ids, dropping (and reporting) unknown labels.

        With ``as_term``, a bare IRI also matches its N-Triples term ``<IRI>``.
        """
        ent, rel = self._entity_index(), self._relation_index()

        def look(index: dict[str, int], label: str) -> int | None:
            i = index.get(label)
            if i is None and as_term and not label.startswith(("<", "_:")):
                i = index.get(f"<{label}>")
            return i

        ids, bad_e, bad_r = [], set(), set()
        for h, r, t in rows:
            hi, ri, ti = look(ent, h), look(rel, r), look(ent, t)
            if hi is None or ri is None or ti is None:
                bad_e.update(x for x, i in ((h, hi), (t, ti)) if i is None)
                if ri is None:
                    bad_r.add(r)
                continue
            ids.append((hi, ri, ti))
        report = {
            "triples": len(rows) - len(ids),
            "entities": sorted(bad_e),
            "relations": sorted(bad_r),
        }
        return np.asarray(ids, dtype=np.int64).reshape(-1, 3), report

    def entity_id(self, label: str) -> int:
        try:
            return self._entity_index()[label]
        except KeyError:
            raise KeyError(f"{label!r} is not an entity of this embedding") from None

    def relation_id(self, label: str) -> int:
        try:
            return self._relation_index()[label]
        except KeyError:
            raise KeyError(f"{label!r} is not a relation of this embedding") from None

    def _entity_index(self) -> dict[str, int]:
        if not hasattr(self, "_ent_index"):
            self._ent_index = {e: i for i, e in enumerate(self.entities)}
        return self._ent_index

    def _relation_index(self) -> dict[str, int]:
        if not hasattr(self, "_rel_index"):
            self._rel_index = {r: i for i, r in enumerate(self.relations)}
        return self._rel_index


def _checked_config(directory: Path) -> dict[str, Any]:
    """``config.json`` with its fields' JSON types checked before anything is built from
    it (a string for ``dim`` or a list for ``hyperparameters`` raised bare TypeErrors)."""
    cfg = read_config(directory)
    where = directory / "config.json"

    def refuse(key: str, expected: str) -> None:
        raise EmbeddingError(f"{where}: field {key!r}: expected {expected}, got {cfg[key]!r:.60}")

    if not isinstance(cfg["model"], str):
        refuse("model", "a model name")
    for key in ("num_entities", "num_relations", "dim"):
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            refuse(key, "a positive integer")
    for key in ("hyperparameters", "vocabulary", "training"):
        if key in cfg and not isinstance(cfg[key], dict):
            refuse(key, "an object")
    digests = cfg.get("vocabulary", {})
    for kind, digest in digests.items():
        if not isinstance(digest, str):
            raise EmbeddingError(f"{where}: field 'vocabulary.{kind}': expected a digest string")
    return cfg


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise EmbeddingError(f"{path}: missing (an incomplete embedding directory)") from None
    return text.split("\n")[:-1] if text else []


def embedding_dir(workspace: str | Path, name: str) -> Path:
    """Where a workspace keeps the embedding called ``name``: ``WS/embeddings/NAME``."""
    from kgagent.workspace import Workspace

    if not name or "/" in name or name.startswith("."):
        raise EmbeddingError(f"embedding name {name!r}: expected a plain directory name")
    return Workspace(workspace).embedding_dir(name)


def train_workspace(
    workspace: str | Path,
    *,
    name: str | None = None,
    model: str = "rotate",
    heldout: float = 0.05,
    progress: bool = True,
    **options: Any,
):
    """Trains on a workspace KG (rows = its stable vocab ids) into ``WS/embeddings/NAME``.

    A seeded ``heldout`` share of the triples (see ``TripleSplits.from_kg``) is kept out
    for early stopping and the metrics; ``options`` are ``TrainConfig`` fields.
    """
    from kgagent.embeddings.data import TripleSplits
    from kgagent.embeddings.training import train
    from kgagent.workspace import open_kg

    out = embedding_dir(workspace, name or model)
    with open_kg(workspace) as kg:
        data = TripleSplits.from_kg(kg, heldout=heldout, seed=options.get("seed", 0))
    data.source = {"workspace": str(Path(workspace).resolve()), **data.source}
    return train(data=data, model=model, out=out, progress=progress, **options)


def load_workspace(workspace: str | Path, name: str, *, kg=None) -> Embedding:
    """Loads ``WS/embeddings/NAME``, checking it against the workspace's current vocabulary."""
    from kgagent.workspace import open_kg

    directory = embedding_dir(workspace, name)
    if not (directory / "config.json").exists():
        raise EmbeddingError(f"{directory}: no such embedding (train it with `kgagent kge train`)")
    if kg is not None:
        return Embedding.load(directory, kg=kg)
    with open_kg(workspace) as opened:
        return Embedding.load(directory, kg=opened)


def evaluate_path(
    path: str | Path,
    *,
    name: str | None = None,
    test: str | Path | None = None,
    train: str | Path | None = None,
    valid: str | Path | None = None,
    sep: str = "\t",
) -> dict[str, Any]:
    """Filtered metrics of a saved embedding (the ``kgagent kge eval`` command).

    ``path`` is a workspace (the embedding ``name`` in it, checked against the KG's
    vocabulary; ``test`` defaults to the triples held out in training, the filter is
    every triple of the KG) or an embedding directory (``test`` required; ``train`` and
    ``valid`` files add to the filter). Test triples naming unknown entities or relations
    are dropped and counted under ``unseen``.
    """
    from kgagent.embeddings.data import read_triples
    from kgagent.embeddings.evaluation import evaluate
    from kgagent.workspace import CONFIG_FILE, open_kg

    path = Path(path)
    known: list[np.ndarray] = []
    if (path / CONFIG_FILE).exists():
        name = name or only_embedding(path)
        with open_kg(path) as kg:
            emb = load_workspace(path, name, kg=kg)
            known.append(kg.adjacency().triples())
        as_term = True
    else:
        emb = Embedding.load(path)
        as_term = False
    files = {"train": train, "valid": valid}
    for f in files.values():
        if f is not None:
            known.append(emb.map_triples(read_triples(f, sep=sep), as_term=as_term)[0])
    unseen: dict[str, Any] = {}
    if test is not None:
        triples, unseen = emb.map_triples(read_triples(test, sep=sep), as_term=as_term)
    elif as_term:
        triples = emb.heldout()["test"]
    else:
        raise EmbeddingError(f"{path}: give --test FILE to evaluate an embedding directory")
    if not len(triples):
        raise EmbeddingError(f"{test or path}: no test triples to evaluate")
    report = evaluate(emb.model, triples, filter_triples=np.concatenate([*known, triples]))
    report["unseen"] = unseen
    return report


def only_embedding(workspace: Path) -> str:
    """The name of the workspace's only embedding (an error names them if not one)."""
    from kgagent.workspace import Workspace

    root = Workspace(workspace).embeddings_dir
    names = (
        sorted(p.name for p in root.iterdir() if (p / "config.json").exists())
        if root.is_dir()
        else []
    )
    if len(names) != 1:
        found = ", ".join(names) if names else "none"
        raise EmbeddingError(f"{root}: give --name (embeddings found: {found})")
    return names[0]
