"""Tiny link-prediction fixtures: a synthetic graph with learnable structure."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the tensors are tiny, and a busy machine makes 2 threads crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def ring_triples(n: int = 20) -> list[tuple[str, str, str]]:
    """Entities on a line: next (i -> i+1), skip (i -> i+2), jump (i -> i+3).

    Every model here can fit it (a cycle could not be: TransE's translations must add up
    to zero around it).
    """
    rows = []
    for step, rel in ((1, "next"), (2, "skip"), (3, "jump")):
        rows += [(f"e{i}", rel, f"e{i + step}") for i in range(n - step)]
    return rows


def write_split(path: Path, rows) -> Path:
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def ring_files(tmp_path) -> dict[str, Path]:
    """train/valid/test files of the line graph; every 6th triple held out."""
    rows = ring_triples()
    held = rows[4::6]
    train = [r for r in rows if r not in held]
    return {
        "train": write_split(tmp_path / "train.txt", train),
        "valid": write_split(tmp_path / "valid.txt", held[: len(held) // 2]),
        "test": write_split(tmp_path / "test.txt", held[len(held) // 2 :]),
    }


@pytest.fixture
def ring(ring_files):
    from kgagent.embeddings import TripleSplits

    return TripleSplits.from_files(**ring_files)
