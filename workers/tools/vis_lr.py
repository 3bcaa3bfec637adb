"""``trainyard vis-lr``: the lr (and momentum) of every iteration of a spec's schedule, without training,
as MMCls 0.25's ``tools/visualizations/vis_lr.py`` (seed 51.2).

Iterations per epoch come from the dataset size (``--dataset-size``, else the size of ``data.train``),
``samples_per_gpu`` and the number of GPUs: each of ``ngpus`` ranks reads ``ceil(N / ngpus)`` samples
(``DistributedSampler`` pads), in ``ceil(. / samples_per_gpu)`` batches, or ``floor`` with ``drop_last``.
"""

from __future__ import annotations

import copy
import math

import torch

__all__ = ["iters_per_epoch", "lr_curve"]


def iters_per_epoch(dataset_size: int, samples_per_gpu: int, ngpus: int = 1, drop_last: bool = False) -> int:
    """Iterations of one epoch on each of ``ngpus`` ranks."""
    if dataset_size <= 0 or samples_per_gpu <= 0 or ngpus <= 0:
        raise ValueError("dataset size, samples_per_gpu and ngpus must be positive")
    per_rank = math.ceil(dataset_size / ngpus)
    return per_rank // samples_per_gpu if drop_last else math.ceil(per_rank / samples_per_gpu)


def lr_curve(spec: dict, *, dataset_size: int | None = None, ngpus: int = 1, data_root=None,
             progress: bool = False) -> dict:
    """Simulate the schedule of ``lr_config`` / ``momentum_config`` over the whole run.

    Args:
        spec: The resolved spec.
        dataset_size: Training samples (default: build ``data.train`` and count them).
        ngpus: GPUs (ranks) the run is spread over.
        data_root: Folder relative data paths are resolved against.
        progress: A tqdm bar.

    Returns:
        ``{'by_epoch', 'iters_per_epoch', 'max_iters', 'lr': [...], 'momentum': [...] or None}``, one value
        per iteration for the first param group (the optimizer's own ``lr``).
    """
    from tqdm import tqdm

    from workers.engine.assembly import runner_length
    from workers.engine.lr_schedules import build_lr_schedule
    from workers.engine.momentum_schedules import build_momentum_schedule, get_momentum
    from workers.engine.optimizers import build_optimizer

    data = spec["data"]
    train_args = dict(data.get("train_dataloader") or {})
    samples_per_gpu = train_args.get("samples_per_gpu", data.get("samples_per_gpu"))
    if samples_per_gpu is None:
        raise KeyError("data.samples_per_gpu is missing")
    if dataset_size is None:
        from workers.data import build_dataset

        try:
            dataset_size = len(build_dataset(data["train"], data_root=data_root))
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{error}; give --dataset-size N (or --data-root) to size the epochs") from None
    epoch_len = iters_per_epoch(dataset_size, samples_per_gpu, ngpus, bool(train_args.get("drop_last", False)))
    unit, length = runner_length(spec)
    max_iters = length * epoch_len if unit == "epoch" else length
    max_epochs = length if unit == "epoch" else math.ceil(max_iters / epoch_len)

    optimizer_cfg = copy.deepcopy(spec["optimizer"])
    optimizer_cfg.pop("paramwise_cfg", None)
    optimizer = build_optimizer(torch.nn.Linear(1, 1, bias=False), optimizer_cfg)
    lr_schedule = build_lr_schedule(spec.get("lr_config"))
    momentum_schedule = build_momentum_schedule(spec.get("momentum_config"))
    lrs, momenta = [], []
    for iteration in tqdm(range(max_iters), desc="lr", disable=not progress, leave=False):
        args = {"epoch": iteration // epoch_len, "iteration": iteration, "max_epochs": max_epochs,
                "epoch_len": epoch_len, "max_iters": max_iters}
        lrs.append(lr_schedule.apply(optimizer, **args)[0])
        if momentum_schedule is not None:
            momentum_schedule.apply(optimizer, **args)
        momenta.append(get_momentum(optimizer.param_groups[0]))
    return {"by_epoch": unit == "epoch", "iters_per_epoch": epoch_len, "max_iters": max_iters,
            "lr": lrs, "momentum": momenta if any(m is not None for m in momenta) else None}
