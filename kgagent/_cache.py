"""The user cache directory, where models built from shipped files are kept.

One place for every cached artifact (the de-quantized LLM, distilled static encoders), below
the layers that write there, so the retrieval layer need not import the LLM layer for it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$KGAGENT_CACHE``, else ``$XDG_CACHE_HOME/kgagent``, else ``~/.cache/kgagent``."""
    if os.environ.get("KGAGENT_CACHE"):
        return Path(os.environ["KGAGENT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kgagent"
