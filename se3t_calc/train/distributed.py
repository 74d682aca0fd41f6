"""Data-parallel training over processes launched by ``torchrun`` (gloo on CPU, nccl on CUDA)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Cluster:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and prints."""
        return self.rank == 0


def init_cluster(device_type: str) -> Cluster:
    """Join the process group when ``torchrun`` set ``WORLD_SIZE`` > 1; else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Cluster()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Cluster(dist.get_rank(), dist.get_world_size(), local_rank)


def average_gradients(model: torch.nn.Module, cluster: Cluster) -> None:
    """Replace every gradient by its mean over the processes (one flat all-reduce)."""
    if cluster.world_size == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= cluster.world_size
    offset = 0
    for p, g in zip(model.parameters(), grads, strict=True):
        p.grad = flat[offset : offset + g.numel()].view_as(g).clone()
        offset += g.numel()


def barrier(cluster: Cluster) -> None:
    """Wait for all processes (no-op for one)."""
    if cluster.world_size > 1:
        dist.barrier()


def shutdown(cluster: Cluster) -> None:
    """Leave the process group."""
    if cluster.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
