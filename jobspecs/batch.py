"""The effective batch of a run and the linear learning-rate scaling rule (``auto_scale_lr``): spec arithmetic,
so it lives with the spec language and the web reads it without importing the engine.

``data.samples_per_gpu`` keeps the seed's meaning: images per worker per step. The batch one
optimizer step sees is that times the number of workers times the gradient accumulation
(``optimizer_config.cumulative_iters``). With ``auto_scale_lr = dict(enable=True,
base_batch_size=256)`` (MMClassification 0.24+'s key; Goyal et al., "Accurate, Large Minibatch SGD",
2017) the spec's ``optimizer.lr`` is taken to be right for ``base_batch_size`` and is multiplied by
``effective / base_batch_size`` when training starts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class BatchFacts:
    samples_per_gpu: int
    num_workers: int
    cumulative_iters: int
    effective_batch: int
    lr: float | None
    scaled_lr: float | None  # None when auto_scale_lr is off
    base_batch_size: int | None

    def as_dict(self) -> dict:
        return asdict(self)


def batch_facts(spec: dict, num_workers: int | None = None) -> BatchFacts:
    """The batch arithmetic of ``spec`` on ``num_workers`` workers (default: its ``resources``)."""
    data = spec.get("data") or {}
    per_gpu = (data.get("train_dataloader") or {}).get("samples_per_gpu", data.get("samples_per_gpu", 1))
    workers = int(num_workers or (spec.get("resources") or {}).get("num_workers", 1) or 1)
    accumulate = int((spec.get("optimizer_config") or {}).get("cumulative_iters", 1) or 1)
    effective = int(per_gpu) * workers * accumulate
    lr = (spec.get("optimizer") or {}).get("lr")
    auto = spec.get("auto_scale_lr") or {}
    scaled = base = None
    if auto.get("enable") and lr is not None:
        base = int(auto.get("base_batch_size", 256))
        scaled = float(lr) * effective / base
    return BatchFacts(int(per_gpu), workers, accumulate, effective, lr, scaled, base)


def apply_auto_scale_lr(spec: dict, world_size: int) -> str | None:
    """Scale ``spec['optimizer']['lr']`` in place when ``auto_scale_lr`` asks; returns the log line."""
    facts = batch_facts(spec, world_size)
    if facts.scaled_lr is None:
        return None
    spec["optimizer"]["lr"] = facts.scaled_lr
    return (f"LR is set based on batch size of {facts.base_batch_size} and the current batch size is "
            f"{facts.effective_batch}. Scaling the original LR by {facts.effective_batch / facts.base_batch_size:g} "
            f"({facts.lr:g} -> {facts.scaled_lr:g}).")
