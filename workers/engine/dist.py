"""The few torch.distributed helpers the engine needs; all are no-ops without a process group.

Ray Train (``workers/distributed/``) or ``torchrun`` sets the process group up; the engine only asks
whether one exists, so the same code runs on a laptop.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["broadcast_object", "gather_to_main", "get_dist_info", "init_random_seed", "is_distributed",
           "resolve_device", "set_random_seed"]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` without a process group."""
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def broadcast_object(obj, src: int = 0):
    """``obj`` of rank ``src`` on every rank."""
    if not is_distributed():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def gather_to_main(obj) -> list | None:
    """Every rank's ``obj``, in rank order, on rank 0 (``None`` elsewhere)."""
    if not is_distributed():
        return [obj]
    rank, world_size = get_dist_info()
    out = [None] * world_size if rank == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def init_random_seed(seed: int | None = None) -> int:
    """``seed``, or a random one drawn on rank 0 and shared with all ranks (MMCls's ``init_random_seed``)."""
    if seed is not None:
        return int(seed)
    return int(broadcast_object(int(np.random.randint(2**31))))


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; ``deterministic`` also pins cuDNN to deterministic kernels."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def resolve_device(device: str | torch.device) -> torch.device:
    """The device of this process: ``'cuda'`` without an index becomes this rank's local GPU."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for but CUDA is not available")
        if device.index is None:
            local_rank = int(os.environ.get("LOCAL_RANK", get_dist_info()[0] % torch.cuda.device_count()))
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device
