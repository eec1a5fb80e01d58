"""The offline SmolLM2 is converted once into the user cache: on a machine without it
cached, the first conversion must finish (its lock and the atomic write's lock are two
files; one file locked twice by one process waits for ever)."""

from __future__ import annotations

import threading

from kgagent._io import atomic_dir
from kgagent.llm import models


def test_the_first_conversion_into_an_empty_cache_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv("KGAGENT_CACHE", str(tmp_path))
    monkeypatch.setattr(models, "_gguf", lambda: tmp_path / "model.gguf")

    def convert(gguf, target):  # what _convert does, less the model: an atomic write
        with atomic_dir(target) as tmp:
            for name in ("config.json", "model.safetensors", "tokenizer.json"):
                (tmp / name).write_text("{}")

    monkeypatch.setattr(models, "_convert", convert)
    done = {}
    worker = threading.Thread(target=lambda: done.update(path=models._smollm2()), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the conversion waits on its own lock"
    assert (done["path"] / "model.safetensors").is_file()
    assert models._smollm2() == done["path"]  # cached now: no second conversion
