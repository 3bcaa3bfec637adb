"""Checkpoints as dicts with named keys: ``state_dict``, ``optimizer`` and ``meta`` (the resolved spec,
epoch, iteration, CLASSES, versions, time), written atomically, with ``latest.pth`` and ``max_keep_ckpts``."""

from __future__ import annotations

import os
import shutil
import time
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn

from workers.models.init import extract_state_dict

__all__ = ["find_latest_checkpoint", "load_checkpoint", "remove_old_checkpoints", "save_checkpoint",
           "unwrap_model"]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside DDP (or DataParallel)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None, meta: dict,
                    link_latest: bool = True, state_dict: dict | None = None) -> Path:
    """Write ``{'meta', 'state_dict', 'optimizer'}`` to ``path`` (via a temporary file) and point
    ``latest.pth`` beside it at it (a relative symlink, or a copy where links are not possible).

    ``meta`` gets ``time`` and ``torch_version`` added. ``state_dict``, when given, is saved instead of the
    model's own (DeepSpeed's ZeRO-3 weights, gathered from all ranks).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(meta)
    meta.setdefault("time", time.asctime())
    meta.setdefault("torch_version", str(torch.__version__))  # TorchVersion would need unpickling
    weights = state_dict if state_dict is not None else unwrap_model(model).state_dict()
    state_dict = OrderedDict((k, v.detach().cpu()) for k, v in weights.items())
    checkpoint = {"meta": meta, "state_dict": state_dict}
    if optimizer is not None:
        checkpoint["optimizer"] = optimizer.state_dict()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)
    if link_latest:
        latest = path.parent / "latest.pth"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        try:
            latest.symlink_to(path.name)
        except OSError:
            shutil.copyfile(path, latest)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``: specs come from strangers, and so may their paths,
    so no pickled code is ever run."""
    return torch.load(path, map_location=map_location, weights_only=True)


def find_latest_checkpoint(work_dir: str | Path) -> Path | None:
    """``latest.pth`` of ``work_dir``, else its ``epoch_N.pth`` with the largest N, else ``None``."""
    work_dir = Path(work_dir)
    latest = work_dir / "latest.pth"
    if latest.exists():
        return latest
    epochs = []
    for p in work_dir.glob("epoch_*.pth"):
        number = p.stem.removeprefix("epoch_")
        if number.isdigit():
            epochs.append((int(number), p))
    return max(epochs)[1] if epochs else None


def remove_old_checkpoints(work_dir: str | Path, current_epoch: int, interval: int, max_keep_ckpts: int,
                           prefix: str = "epoch") -> None:
    """mmcv's rule: keep the newest ``max_keep_ckpts`` of ``<prefix>_N.pth`` saved every ``interval``
    epochs (``prefix='iter'``: iterations)."""
    if max_keep_ckpts <= 0:
        return
    for epoch in range(current_epoch - max_keep_ckpts * interval, 0, -interval):
        old = Path(work_dir) / f"{prefix}_{epoch}.pth"
        if not old.is_file():
            break
        old.unlink()


def restore_training(checkpoint: dict, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                     hparams_from_spec: bool = False) -> dict:
    """Load weights (strict) and optimizer state from a checkpoint dict; return its ``meta``.

    ``hparams_from_spec``: keep the hyperparameters the optimizer was built with (``lr``, ``weight_decay``,
    ``momentum``, ``betas``, ...) and restore only its state (momentum buffers, Adam moments, step
    counts). The schedules' bookkeeping (``initial_lr``, ``initial_momentum``) is dropped with the
    checkpoint's values, so the lr and momentum schedules start again from the built values.
    """
    unwrap_model(model).load_state_dict(extract_state_dict(checkpoint), strict=True)
    if optimizer is not None and "optimizer" in checkpoint:
        built = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
        optimizer.load_state_dict(checkpoint["optimizer"])
        if hparams_from_spec:
            for group, values in zip(optimizer.param_groups, built, strict=True):
                for key in [k for k in group if k != "params" and k not in values]:
                    del group[key]
                group.update(values)
    return checkpoint.get("meta", {})
