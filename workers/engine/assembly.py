"""A run's parts built from its resolved spec, apart from the loop that drives them: :func:`assemble`
reads ``runner``, ``workflow``, ``optimizer_config``/``fp16`` (or ``resources.strategy='deepspeed'``),
``lr_config``, ``momentum_config``, ``log_config``, ``evaluation``, ``checkpoint_config``,
``custom_hooks``, ``data``, ``model`` and ``optimizer`` and returns them built, as one :class:`Assembly`.

The order is the one MMCls's ``train_model`` builds in (datasets, model, optimizer, then loaders), so a
seed gives the same initial weights as before. Nothing is restored here (see ``resume.py``) and the model
is wrapped for DDP or DeepSpeed only by :meth:`Assembly.wrap`, after restoring.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from jobspecs import training
from jobspecs.batch import apply_auto_scale_lr
from workers.data import build_dataloader, build_dataset
from workers.data.builder import build_split_loader, loader_options, loader_settings
from workers.engine.dist import get_dist_info
from workers.engine.hooks import (
    PRIORITIES,
    EMAHook,
    Hook,
    LoggerHook,
    OptimizerHook,
    build_custom_hooks,
)
from workers.engine.logger import RunLogger
from workers.engine.lr_schedules import LrSchedule, build_lr_schedule
from workers.engine.momentum_schedules import MomentumSchedule, build_momentum_schedule
from workers.engine.optimizers import build_optimizer
from workers.engine.sections import CheckpointSettings, EvalSettings
from workers.engine.state import TrainState
from workers.engine.strategy import (
    DeepSpeedOptimizerHook,
    deepspeed_config,
    training_strategy,
    wrap_deepspeed,
)
from workers.models import build_model
from workers.registry import HOOKS, RUNNERS

__all__ = ["Assembly", "assemble", "build_optimizer_hook", "jsonable", "runner_length"]


@dataclass
class Assembly:
    """Everything a run is made of, built and not yet restored or wrapped.

    Attributes:
        unit: ``'epoch'`` (EpochBasedRunner) or ``'iter'`` (IterBasedRunner).
        length: ``max_epochs`` or ``max_iters``.
        model: The classifier, on its device, unwrapped.
        optimizer: Its optimizer (lr scaled by ``auto_scale_lr`` where asked).
        optimizer_hook: Backward and step (``optimizer_config``, ``fp16`` or DeepSpeed's).
        lr_schedule: ``lr_config``'s policy.
        momentum_schedule: ``momentum_config``'s policy, or ``None``.
        hooks: The custom hooks, by priority.
        sinks: Logger hooks writing besides the text/JSON logs (TensorBoard).
        log_interval: ``log_config.interval``.
        eval_settings: ``evaluation``.
        ckpt_settings: ``checkpoint_config``.
        train_loader: Training batches.
        val_loader: Evaluation batches, or ``None`` (no ``data.val`` or not validating).
        workflow_val_loader: Batches of the ``('val', 1)`` workflow phase, or ``None``.
        meta: What every checkpoint's ``meta`` starts with: the spec, CLASSES, seed, world size, version.
        ds_config: DeepSpeed's config under ``resources.strategy='deepspeed'``, else ``None``.
        find_unused_parameters: The spec's DDP option.
    """

    unit: str
    length: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    optimizer_hook: OptimizerHook
    lr_schedule: LrSchedule
    momentum_schedule: MomentumSchedule | None
    hooks: list[Hook]
    sinks: list[Hook]
    log_interval: int
    eval_settings: EvalSettings
    ckpt_settings: CheckpointSettings
    train_loader: DataLoader
    val_loader: DataLoader | None
    workflow_val_loader: DataLoader | None
    meta: dict
    ds_config: dict | None = None
    find_unused_parameters: bool = False

    def start_state(self) -> TrainState:
        """The state of a run at its start (before any resuming)."""
        return TrainState(model=self.model, optimizer=self.optimizer,
                          max_epochs=self.length if self.unit == "epoch" else 0,
                          max_iters=self.length if self.unit == "iter" else 0, iter_based=self.unit == "iter")

    def wrap(self, device: torch.device, world_size: int) -> nn.Module:
        """The model to train: a DeepSpeed engine under ``strategy='deepspeed'``, DDP with more than one
        process, else the model itself."""
        if self.ds_config is not None:
            return wrap_deepspeed(self.model, self.optimizer, self.ds_config, device)
        if world_size > 1:
            ddp_kwargs: dict[str, Any] = {"find_unused_parameters": self.find_unused_parameters}
            if device.type == "cuda":
                ddp_kwargs["device_ids"] = [device.index]
            return DistributedDataParallel(self.model, **ddp_kwargs)
        return self.model

    def hook_order(self) -> list[str]:
        """``'Name (PRIORITY)'`` of every hook in the order they run, as mmcv registers them: default
        hooks first, so that a custom hook of equal priority runs after them."""
        names = {value: name for name, value in PRIORITIES.items()}
        order = ["LrUpdaterHook (VERY_HIGH)"] + (["MomentumUpdaterHook (HIGH)"] if self.momentum_schedule else [])
        order += [f"{type(self.optimizer_hook).__name__} (ABOVE_NORMAL)", "CheckpointHook (NORMAL)",
                  "EvalHook (LOW)", "TextLoggerHook (VERY_LOW)"]
        order += [f"{type(sink).__name__} (VERY_LOW)" for sink in self.sinks]
        order += [f"{type(h).__name__} ({names.get(h.priority, h.priority)})" for h in self.hooks]
        return sorted(order, key=_hook_rank)


def assemble(spec: dict, work_dir: Path, log: RunLogger, *, device: torch.device, seed: int, world_size: int,
             validate: bool = True, data_root: str | Path | None = None) -> Assembly:
    """Build a run's parts from its resolved spec (``spec`` gets ``auto_scale_lr`` applied).

    Args:
        spec: The resolved spec (a copy the run owns).
        work_dir: The run's folder (logger sinks open there, rank 0).
        log: The run's logger.
        device: This process's device.
        seed: The run's seed (the training sampler's shuffle; saved in ``meta``).
        world_size: Processes of the run (``auto_scale_lr``, ``meta``).
        validate: Build the evaluation loader from ``data.val``.
        data_root: Folder that relative dataset paths are resolved against.
    """
    rank = get_dist_info()[0]
    workflow_val = _workflow_has_val(spec)
    unit, length = runner_length(spec)
    if workflow_val and unit == "iter":
        raise ValueError("workflow ('val', 1) is only supported with an EpochBasedRunner")
    ds_config = None
    if training_strategy(spec) == "deepspeed":
        ds_config = deepspeed_config(spec)
        optimizer_hook: OptimizerHook = DeepSpeedOptimizerHook(ds_config)
        log.info("strategy deepspeed, config %s", json.dumps(ds_config, sort_keys=True))
    else:
        optimizer_hook = build_optimizer_hook(spec)
    lr_schedule = build_lr_schedule(spec.get("lr_config"))
    momentum_schedule = build_momentum_schedule(spec.get("momentum_config"))
    log_interval, sinks = _logger_hooks(spec)
    eval_settings = EvalSettings.from_cfg(spec.get("evaluation"), by_epoch=unit == "epoch")
    ckpt_settings = CheckpointSettings.from_cfg(spec.get("checkpoint_config"))
    if unit == "iter" and ckpt_settings.by_epoch:
        raise ValueError("an IterBasedRunner checkpoints by iteration: set checkpoint_config.by_epoch=False")
    hooks = build_custom_hooks(spec.get("custom_hooks"))
    if rank == 0:
        for sink in sinks:
            sink.open(work_dir)
            log.sinks.append(sink)

    data = spec["data"]
    train_set = build_dataset(data["train"], data_root=data_root)
    val_set = None
    if validate and data.get("val") is not None:
        val_set = build_dataset(data["val"], {"test_mode": True}, data_root=data_root)
    elif validate:
        log.warning("validate is on but the spec has no data.val: no evaluation")
    log.info("train set: %d samples, %d classes%s", len(train_set), len(train_set.CLASSES or []),
             f"; val set: {len(val_set)} samples" if val_set is not None else "")

    model = build_model(spec["model"]).to(device)
    for hook in hooks:
        if isinstance(hook, EMAHook):
            hook.register(model)  # before resuming: the checkpoint holds the averages
    scaling = apply_auto_scale_lr(spec, world_size)
    if scaling:
        log.info(scaling)
    optimizer = build_optimizer(model, spec["optimizer"])

    train_loader, val_loader, workflow_val_loader = _loaders(spec, train_set, val_set, workflow_val,
                                                             seed=seed, pin_memory=device.type == "cuda",
                                                             data_root=data_root)
    classes = list(train_set.CLASSES) if train_set.CLASSES is not None else None
    meta = {"spec": jsonable(spec), "CLASSES": classes, "seed": seed, "world_size": world_size,
            "trainyard_version": _version()}
    return Assembly(unit=unit, length=length, model=model, optimizer=optimizer, optimizer_hook=optimizer_hook,
                    lr_schedule=lr_schedule, momentum_schedule=momentum_schedule, hooks=hooks, sinks=sinks,
                    log_interval=log_interval, eval_settings=eval_settings, ckpt_settings=ckpt_settings,
                    train_loader=train_loader, val_loader=val_loader, workflow_val_loader=workflow_val_loader,
                    meta=meta, ds_config=ds_config,
                    find_unused_parameters=bool(spec.get("find_unused_parameters", False)))


def _workflow_has_val(spec: dict) -> bool:
    """Whether ``workflow`` is ``[('train', 1), ('val', 1)]`` (else ``[('train', 1)]``; others raise)."""
    phases = [tuple(phase) for phase in spec.get("workflow") or [("train", 1)]]
    if phases not in ([("train", 1)], [("train", 1), ("val", 1)]):
        raise ValueError(f"workflow {phases} is not supported; use [('train', 1)] or [('train', 1), ('val', 1)]")
    return len(phases) == 2


def _loaders(spec: dict, train_set, val_set, workflow_val: bool, *, seed: int, pin_memory: bool,
             data_root) -> tuple[DataLoader, DataLoader | None, DataLoader | None]:
    """The training loader (shuffled with ``seed``, the spec's ``sampler``), the evaluation loader of
    ``val_set`` and the loader of the ``('val', 1)`` workflow phase; ``pin_memory`` is the default of the
    spec's ``data.pin_memory`` (on with CUDA)."""
    data = spec["data"]
    train_args = loader_settings(data, "train", pin_memory=pin_memory)
    train_loader = build_dataloader(train_set, train_args["samples_per_gpu"], train_args["workers_per_gpu"],
                                    shuffle=True, seed=seed, drop_last=bool(train_args.get("drop_last", False)),
                                    sampler_cfg=spec.get("sampler"), **loader_options(train_args))
    val_loader = None
    if val_set is not None:
        val_loader = build_split_loader(val_set, data, "val", pin_memory=pin_memory)
    workflow_val_loader = None
    if workflow_val:
        # MMCls's tools/train.py: the val phase reads data.val through the *train* pipeline (labels, loss)
        val_cfg = dict(copy.deepcopy(data["val"]), pipeline=copy.deepcopy(data["train"]["pipeline"]))
        phase_set = build_dataset(val_cfg, data_root=data_root)
        workflow_val_loader = build_split_loader(phase_set, data, "val", pin_memory=pin_memory)
    return train_loader, val_loader, workflow_val_loader


def runner_length(spec: dict) -> tuple[str, int]:
    """``('epoch', max_epochs)`` for an EpochBasedRunner, ``('iter', max_iters)`` for an IterBasedRunner
    (``jobspecs.training``'s rule, which the service reads too; an unknown runner type fails in the registry,
    with its close names)."""
    RUNNERS.get((spec.get("runner") or {}).get("type", "EpochBasedRunner"))
    return training.runner_length(spec)


def build_optimizer_hook(spec: dict) -> OptimizerHook:
    """The hook of ``optimizer_config``; ``fp16 = dict(loss_scale=...)`` turns it into its fp16 variant,
    as MMCls's ``train_model`` does."""
    cfg = dict(spec.get("optimizer_config") or {})
    cfg.setdefault("type", "OptimizerHook")
    fp16 = spec.get("fp16")
    if fp16 is not None:
        kind = cfg.pop("type")
        if kind in ("OptimizerHook", "DistOptimizerHook", "Fp16OptimizerHook"):
            cfg["type"] = "Fp16OptimizerHook"
        elif kind in ("GradientCumulativeOptimizerHook", "GradientCumulativeFp16OptimizerHook"):
            cfg["type"] = "GradientCumulativeFp16OptimizerHook"
        else:
            raise ValueError(f"fp16 cannot be combined with optimizer_config.type {kind!r}")
        cfg.update(dict(fp16))
    hook = HOOKS.build(cfg)
    if not isinstance(hook, OptimizerHook):
        raise TypeError(f"optimizer_config.type {cfg['type']!r} is not an optimizer hook")
    return hook


def _logger_hooks(spec: dict) -> tuple[int, list[Hook]]:
    """``log_config.interval`` and the logger hooks that write somewhere besides the text/JSON logs."""
    log_config = spec.get("log_config") or {}
    sinks = []
    for cfg in log_config.get("hooks") or []:
        hook = HOOKS.build(dict(cfg))  # unknown logger types fail here, as at submit time
        if isinstance(hook, LoggerHook):  # TensorBoard, MLflow, W&B; TextLoggerHook is the engine's own
            sinks.append(hook)
    return int(log_config.get("interval", 50)), sinks


def jsonable(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples as lists, other objects as their ``str``)."""
    return json.loads(json.dumps(value, default=str))


def _hook_rank(entry: str) -> int:
    """Sort key of a ``'Name (PRIORITY)'`` entry of the hook list: its priority (stable among equals)."""
    priority = entry.rsplit("(", 1)[1].rstrip(")")
    return PRIORITIES[priority] if priority in PRIORITIES else int(priority)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("trainyard")
    except Exception:  # not installed as a distribution (running from a checkout)
        return "0+unknown"
