"""Data-parallel training: batch sharding, and a real 2-process gloo run."""

from __future__ import annotations

import pytest
import torch

from kgagent.embeddings import TrainConfig, train
from kgagent.embeddings.training import _batches


def test_ranks_split_every_global_batch():
    cfg = TrainConfig(batch_size=8)
    full = list(_batches(30, cfg, torch.Generator().manual_seed(0), 0, 1))
    shards = [list(_batches(30, cfg, torch.Generator().manual_seed(0), rank, 2)) for rank in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == len(full)  # same step count on every rank
    for i, batch in enumerate(full):
        merged = torch.cat([shards[0][i], shards[1][i]])
        assert sorted(merged.tolist()) == sorted(batch.tolist())


@pytest.mark.slow
def test_two_gloo_processes_train_and_learn(ring, tmp_path):
    kw = {"model": "complex", "dim": 32, "epochs": 60, "batch_size": 16, "lr": 0.02}
    single = train(data=ring, progress=False, **kw)
    res = train(data=ring, nproc=2, out=tmp_path / "dp", progress=False, **kw)
    assert res.metrics["world_size"] == 2
    assert res.model.entity.shape == single.model.entity.shape
    assert res.metrics["mrr"] > 0.45
    assert (tmp_path / "dp" / "metrics.json").exists()
