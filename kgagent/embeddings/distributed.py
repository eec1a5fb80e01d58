"""Data-parallel training with torch.distributed (gloo on CPU, NCCL-free).

The same training code runs in one process, in ``nproc`` local processes started by
:func:`spawn_training` (``kgagent kge train --nproc N``), or on several machines under
``torchrun`` (``torchrun --nnodes 2 --nproc_per_node 4 ... -m kgagent.cli kge train ...``),
which sets ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR``: :func:`setup_from_env` joins that
process group. Every rank takes its slice of each global batch; gradients are averaged
with one all-reduce of a flat buffer per step (the models are two tables, so bucketing as
DistributedDataParallel does buys nothing); rank 0 evaluates and saves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "average_gradients",
    "barrier",
    "broadcast_parameters",
    "decide",
    "is_distributed",
    "setup_from_env",
    "spawn_training",
]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def setup_from_env() -> tuple[int, int]:
    """(rank, world size): the current process group, one from torchrun's env, or (0, 1)."""
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Makes every rank start from rank 0's weights."""
    if is_distributed():
        with torch.no_grad():
            for p in module.parameters():
                dist.broadcast(p.data, src=0)


def average_gradients(module: torch.nn.Module) -> None:
    """All-reduces the gradients as one flat buffer and divides by the world size."""
    params = [p for p in module.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p)
        offset += n


def decide(flag: bool, *, world: int) -> bool:
    """Rank 0's value of ``flag`` on every rank (early stopping is decided there)."""
    if world == 1:
        return flag
    t = torch.tensor([int(flag)])
    dist.broadcast(t, src=0)
    return bool(t.item())


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def spawn_training(*, nproc: int, data, config, out: str | Path | None, progress: bool = True):
    """Trains in ``nproc`` local gloo processes; returns rank 0's saved result.

    Each process gets ``cpu_count // nproc`` torch threads (at least one).
    """
    import torch.multiprocessing as mp

    from kgagent.embeddings.artifact import Embedding
    from kgagent.embeddings.training import TrainResult

    scratch = Path(tempfile.mkdtemp(prefix="kgagent-kge-"))
    target = Path(out) if out is not None else scratch / "model"
    try:
        mp.spawn(
            _worker,
            args=(nproc, str(scratch / "rendezvous"), data, config, str(target), progress),
            nprocs=nproc,
            join=True,
        )
        emb = Embedding.load(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return TrainResult(
        model=emb.model, metrics=emb.metrics, config=config, out=None if out is None else target
    )


def _worker(rank: int, world: int, rendezvous: str, data, config, out: str, progress: bool) -> None:
    from kgagent.embeddings.training import train

    threads = config.num_threads or max(1, (os.cpu_count() or 1) // world)
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        kwargs: dict[str, Any] = {"num_threads": threads}
        train(data=data, config=config, out=out, progress=progress and rank == 0, **kwargs)
    finally:
        dist.destroy_process_group()
