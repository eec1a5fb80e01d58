"""A static encoder: a text is the normalized sum of its word pieces' vectors.

The vectors are distilled from a sentence transformer with model2vec's recipe
(:mod:`kgagent.retrieval.distill`), so encoding runs no transformer: tokenize, look up,
sum, normalize, all vectorized. Much faster than MiniLM on the CPU at some loss of quality
(``bench/static_encoder.py``, docs/benchmarks.md). model2vec's own inference package would
install beside transformers 5, but ours is a few numpy lines and needs no dependency.

The default source, the shipped all-MiniLM-L6-v2, is distilled on first use (~20 s on 2
cores) and cached in the user cache (:func:`kgagent._cache.cache_dir`, as the LLM is),
keyed by a hash of the source's files and of the recipe: another model or recipe gets
another entry, a damaged entry is rebuilt. Everything is offline.

A static model directory (safetensors, never pickle): ``model.safetensors`` (one float32
tensor ``embeddings``, (vocab, dim), model2vec's name), ``tokenizer.json`` (the source's
fast tokenizer) and ``config.json`` (format, recipe, source and its fingerprint, dim, vocab
size, kgagent version).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from kgagent._cache import cache_dir
from kgagent._io import atomic_dir
from kgagent.errors import EncoderError
from kgagent.retrieval.encoder import as_texts, dedup, resolve_model

__all__ = [
    "DEFAULT_DIM",
    "DEFAULT_SIF",
    "FORMAT",
    "RECIPE_VERSION",
    "StaticEncoder",
    "StaticModel",
    "cached_model",
    "load_tokenizer",
]

log = logging.getLogger(__name__)

FORMAT = "kgagent-static/1"
#: bump when the recipe changes what vectors it makes: cached models are rebuilt
RECIPE_VERSION = 1
DEFAULT_DIM = 256
#: the SIF ``a``: model2vec's default. The SIF paper's 1e-3 damps fewer frequent pieces, and
#: dense recall@10 on 2,000 MetaQA questions fell from 0.837 to 0.808 with it (1e-4 vs 1e-3;
#: 5e-5: 0.817; no SIF: ~0.82)
DEFAULT_SIF = 1e-4
_TENSOR = "embeddings"  # the tensor's name (model2vec's)
_CHUNK = 4096  # texts tokenized and summed at once: bounds the (tokens, dim) gather


# -- the model ----------------------------------------------------------------------------


@dataclass
class StaticModel:
    """A distilled static model: SIF-weighted token rows, the tokenizer, and the recipe."""

    vectors: np.ndarray  # (V, d) float32; rows of tokens never embedded are zero
    tokenizer_json: str  # the fast tokenizer, serialized
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def save(self, directory: str | Path) -> None:
        """Writes the three files into ``directory`` at once (a crash leaves the old one)."""
        from safetensors.numpy import save_file

        config = {**self.config, "format": FORMAT, "dim": self.dim}
        config["vocab_size"] = int(self.vectors.shape[0])
        with atomic_dir(directory) as tmp:
            vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
            save_file({_TENSOR: vectors}, str(tmp / "model.safetensors"))
            (tmp / "tokenizer.json").write_text(self.tokenizer_json, encoding="utf-8")
            (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")

    @staticmethod
    def read_config(directory: str | Path) -> dict[str, Any]:
        """A saved model's ``config.json``, checked (not its weights)."""
        return _read_config(Path(directory) / "config.json")

    @classmethod
    def load(cls, directory: str | Path) -> StaticModel:
        """Reads and checks a saved model.

        Raises:
            EncoderError: a missing, unreadable or inconsistent file (named).
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        d = Path(directory)
        config = _read_config(d / "config.json")
        weights = d / "model.safetensors"
        try:
            tensors = load_file(str(weights))
        except FileNotFoundError:
            raise EncoderError(f"{weights}: missing") from None
        except (SafetensorError, OSError, ValueError) as exc:
            raise EncoderError(f"{weights}: not a readable safetensors file ({exc})") from None
        vectors = tensors.get(_TENSOR)
        shape = (config["vocab_size"], config["dim"])
        if vectors is None or vectors.dtype != np.float32 or vectors.shape != shape:
            got = "no tensor" if vectors is None else f"{vectors.dtype} {vectors.shape}"
            raise EncoderError(
                f"{weights}: expected a float32 tensor {_TENSOR!r} of shape {shape} "
                f"(config.json), found {got}"
            )
        if not np.isfinite(vectors).all():
            raise EncoderError(f"{weights}: tensor {_TENSOR!r} holds NaN or infinite values")
        tok_path = d / "tokenizer.json"
        try:
            text = tok_path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise EncoderError(f"{tok_path}: unreadable ({exc})") from None
        vocab = load_tokenizer(text, tok_path).get_vocab(with_added_tokens=True)
        if len(vocab) != shape[0] or max(vocab.values(), default=-1) >= shape[0]:
            raise EncoderError(
                f"{tok_path}: {len(vocab)} tokens (ids up to {max(vocab.values(), default=-1)}),"
                f" but {weights} has {shape[0]} rows: the files come from different models"
            )
        return cls(vectors=vectors, tokenizer_json=text, config=config)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise EncoderError(f"{path}: missing (not a static model directory)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EncoderError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(config, dict):
        raise EncoderError(f"{path}: expected a JSON object")
    if config.get("format") != FORMAT:
        raise EncoderError(f"{path}: field 'format' is {config.get('format')!r}, not {FORMAT!r}")
    for key in ("dim", "vocab_size"):
        v = config.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise EncoderError(f"{path}: field {key!r} must be a positive integer, not {v!r}")
    return config


def load_tokenizer(text: str, where: Path | str) -> Any:
    """A ``tokenizers.Tokenizer`` from its JSON, set up for encoding single sentences."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises plain Exception on bad JSON
        raise EncoderError(f"{where}: not a fast tokenizer file ({exc})") from None
    tok.no_padding()  # the source's file pads every text to 128 tokens
    tok.no_truncation()
    return tok


# -- the cache ----------------------------------------------------------------------------

#: files of a source model directory whose bytes decide the distilled vectors
_SOURCE_FILES = ("config.json", "tokenizer.json")


def _source_fingerprint(path: Path) -> str:
    """sha256 over the source's config, tokenizer and safetensors weights (~0.1 s/100 MB)."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text("utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EncoderError(f"{index}: unreadable weight map ({exc})") from None
        weights = [str(s) for s in shards]
    else:
        weights = ["model.safetensors"]
    digest = hashlib.sha256()
    for name in (*_SOURCE_FILES, *weights):
        f = path / name
        if "/" in name or "\\" in name:
            raise EncoderError(f"{index}: names a weights file outside the directory: {name!r}")
        if not f.is_file():
            what = "fast tokenizer" if name == "tokenizer.json" else "file"
            raise EncoderError(
                f"{f}: missing; distilling a static encoder needs the source model's {what} "
                "(and safetensors weights: kgagent never unpickles .bin files)"
            )
        digest.update(name.encode() + b"\0")
        with open(f, "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def cached_model(
    model: str | Path = "all-MiniLM-L6-v2",
    *,
    dim: int = DEFAULT_DIM,
    sif_coefficient: float = DEFAULT_SIF,
    root: Path | None = None,
) -> tuple[StaticModel, Path]:
    """The static model distilled from ``model`` and its cache directory, built if missing.

    The entry is keyed by the source's fingerprint and the recipe (version, dim, SIF
    coefficient), under ``root`` (default: ``cache_dir()/static``). One process builds at a
    time (a lock file beside it); the others wait, then load it. An entry that does not
    load, or whose config records another source or recipe, is rebuilt with a warning
    naming the file.
    """
    from kgagent.retrieval.distill import distill_dir

    path, source = resolve_model(model)
    fingerprint = _source_fingerprint(path)
    want = {
        "source": source,
        "source_fingerprint": fingerprint,
        "recipe_version": RECIPE_VERSION,
        "dim": dim,
        "sif_coefficient": sif_coefficient,
    }
    key = hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", source.rsplit("/", 1)[-1])[:60]
    target = (root or cache_dir() / "static") / f"{slug}-d{dim}-{key}"
    found = _load_fitting(target, want, warn=False)
    if found is not None:
        return found, target
    target.parent.mkdir(parents=True, exist_ok=True)
    # not ``.NAME.lock``: atomic_dir's own lock, which this process could then not take
    with open(target.parent / f".{target.name}.build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one distiller at a time; the others reuse
        found = _load_fitting(target, want, warn=True)
        if found is not None:
            return found, target
        log.info("distilling %s into a static encoder (dim %d), once", source, dim)
        t0 = time.perf_counter()
        built = distill_dir(
            path, dim=dim, sif_coefficient=sif_coefficient,
            source=source, source_fingerprint=fingerprint,
        )  # fmt: skip
        built.save(target)
        log.info(
            "distilled %s into a static encoder in %.1f s, cached in %s",
            source, time.perf_counter() - t0, target,
        )  # fmt: skip
    return built, target


def _load_fitting(target: Path, want: dict[str, Any], *, warn: bool) -> StaticModel | None:
    """The model in ``target`` if it loads and was made from ``want``'s source and recipe."""
    if not target.exists():
        return None
    try:
        found = StaticModel.load(target)
    except EncoderError as exc:
        if warn:
            log.warning("rebuilding the cached static encoder: %s", exc)
        return None
    bad = sorted(k for k, v in want.items() if found.config.get(k) != v)
    if bad:
        if warn:
            log.warning(
                "rebuilding the cached static encoder: %s records another %s",
                target / "config.json", ", ".join(bad),
            )  # fmt: skip
        return None
    return found


# -- the encoder --------------------------------------------------------------------------


class StaticEncoder:
    """Texts as the normalized sum of their word pieces' static vectors (no transformer).

    Args:
        model: the sentence transformer to distil (default: the shipped all-MiniLM-L6-v2; a
            local directory with ``tokenizer.json`` and safetensors weights also works).
            Distilled once (~20 s for MiniLM on 2 cores) and cached in the user cache.
        path: a static model directory instead (written by :meth:`StaticModel.save`), used
            as is: no source model, no cache. Tests use it with tiny models.
        dim: PCA size of the distilled vectors (not with ``path``).
        sif_coefficient: the SIF ``a`` (not with ``path``).
        max_tokens: word pieces read per text (more are ignored, as MiniLM cuts at 256).
        name: the identifier for manifests (default: source, dim, SIF and recipe version;
            with ``path``, the directory).

    The model is loaded (or distilled) on first use. Thread-safe: loading takes a lock;
    encoding only reads the tokenizer and the matrix. ``batch_size`` is unused: texts are
    tokenized and summed 4,096 at a time.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        path: str | Path | None = None,
        dim: int | None = None,
        sif_coefficient: float | None = None,
        max_tokens: int = 512,
        name: str | None = None,
    ) -> None:
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise EncoderError(f"static encoder: max_tokens must be >= 1, not {max_tokens!r}")
        self.max_tokens = max_tokens
        self._model: StaticModel | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        if path is not None:
            if model is not None or dim is not None or sif_coefficient is not None:
                raise EncoderError(
                    "static encoder: path= names a distilled model; model, dim and "
                    "sif_coefficient apply only to distilling one"
                )
            self.path: Path | None = Path(path).expanduser().resolve()
            self.source = None
            self.dim = _read_config(self.path / "config.json")["dim"]
            self.sif_coefficient = None
            self.name = name or f"static:{self.path}"
            return
        self.path = None
        self.source = model if model is not None else "all-MiniLM-L6-v2"
        self.dim = DEFAULT_DIM if dim is None else dim
        self.sif_coefficient = DEFAULT_SIF if sif_coefficient is None else sif_coefficient
        if not isinstance(self.dim, int) or self.dim < 1:
            raise EncoderError(f"static encoder: dim must be a positive int, not {self.dim!r}")
        sif = self.sif_coefficient
        if isinstance(sif, bool) or not isinstance(sif, int | float) or not 0 < sif < 1:
            raise EncoderError(f"static encoder: sif_coefficient must be in (0, 1), not {sif!r}")
        _, source_name = resolve_model(self.source)  # fails now, not at first encode
        self.name = name or (
            f"static:{source_name}:d{self.dim}:sif{self.sif_coefficient:g}:r{RECIPE_VERSION}"
        )

    @classmethod
    def from_model(cls, model: StaticModel, *, name: str, max_tokens: int = 512) -> StaticEncoder:
        """An encoder over a model in memory (a fit not saved anywhere: an agent without a
        workspace); ``name`` goes into manifests."""
        encoder = cls.__new__(cls)
        encoder.max_tokens = max_tokens
        encoder._lock = threading.Lock()
        encoder.path = encoder.source = encoder.sif_coefficient = None
        encoder.dim, encoder.name = model.dim, name
        tokenizer = load_tokenizer(model.tokenizer_json, "tokenizer.json")
        tokenizer.enable_truncation(max_tokens)
        encoder._model, encoder._tokenizer = model, tokenizer
        return encoder

    def __repr__(self) -> str:
        return f"StaticEncoder(name={self.name!r}, dim={self.dim})"

    @property
    def model(self) -> StaticModel:
        """The static model (loaded, or distilled and cached, on first access)."""
        with self._lock:
            return self._loaded()

    def _loaded(self) -> StaticModel:
        """The model, loading it first if needed; the caller holds the lock."""
        if self._model is None:
            if self.path is not None:
                model = StaticModel.load(self.path)
            else:
                model, _ = cached_model(
                    self.source, dim=self.dim, sif_coefficient=self.sif_coefficient
                )
            if model.dim != self.dim:  # config.json rewritten since __init__ read it
                raise EncoderError(f"{self.path}: dim {model.dim}, not {self.dim} as before")
            tokenizer = load_tokenizer(model.tokenizer_json, self.path or "tokenizer.json")
            tokenizer.enable_truncation(self.max_tokens)
            self._tokenizer = tokenizer  # set once; encoding never changes it
            self._model = model
        return self._model

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 256, show_progress: bool = False
    ) -> np.ndarray:
        """Embeds ``texts``: (n, dim) float32, L2-normalized (a text with no known word
        piece, e.g. empty, gets a zero row); each distinct text once."""
        texts = as_texts(texts)
        with self._lock:
            vectors = self._loaded().vectors  # (V, d)
        unique, inverse = dedup(texts)
        out = np.zeros((len(unique), self.dim), dtype=np.float32)  # (u, d)
        bar = None
        if show_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(unique), desc="encoding", unit="text")
        try:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                out[start : start + len(chunk)] = self._sum_rows(chunk, vectors)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        norms = np.linalg.norm(out, axis=1, keepdims=True)  # (u, 1)
        return (out / np.maximum(norms, 1e-12))[inverse]  # (n, d)

    def _sum_rows(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        """(c, d): for each text, the sum of its word pieces' rows (no special tokens).

        The mean would only rescale a row that is normalized next, so it is the sum.
        """
        encodings = self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        ids = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))  # (c,)
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)  # (c, d)
        some = lengths > 0
        if flat.size:
            starts = (np.cumsum(lengths) - lengths)[some]  # (c',) increasing
            # the segments of the texts with tokens tile ``flat`` exactly, so reduceat over
            # their starts sums each text's rows (empty texts stay zero)
            out[some] = np.add.reduceat(vectors[flat], starts, axis=0)  # (c', d)
        return out
