"""The training loop, written out as torchvision's reference scripts do: :func:`train_one_epoch`,
:func:`evaluate`, :func:`fit`, and :func:`train`, which turns a resolved spec into those calls.

It behaves as MMClassification 0.25's ``EpochBasedRunner`` with its default hooks: the lr is set
before every iteration (``lr_config``), losses are logged every ``log_config.interval`` iterations as
averages over the interval, evaluation runs every ``evaluation.interval`` epochs and checkpoints every
``checkpoint_config.interval`` epochs (and after the last). Deliberate difference: evaluation runs
*before* the checkpoint of the same epoch, so each checkpoint record carries its epoch's metrics.

Under ``torch.distributed`` (Ray Train sets up the process group) the model is wrapped in DDP, each
rank reads its share of the data, predictions are gathered so that metrics cover the whole val set,
and only rank 0 writes logs and checkpoints and calls the reporter.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from workers.data import build_dataloader, build_dataset
from workers.engine.checkpoint import (
    find_latest_checkpoint,
    load_checkpoint,
    remove_old_checkpoints,
    restore_training,
    save_checkpoint,
    unwrap_model,
)
from workers.engine.dist import (
    broadcast_object,
    gather_to_main,
    get_dist_info,
    init_random_seed,
    is_distributed,
    resolve_device,
    set_random_seed,
)
from workers.engine.hooks import Hook, OptimizerHook, build_custom_hooks
from workers.engine.logger import RunLogger, eta_string
from workers.engine.lr_schedules import LrSchedule, build_lr_schedule
from workers.engine.optimizers import build_optimizer
from workers.models import build_model, load_weights
from workers.registry import HOOKS, RUNNERS

__all__ = ["CheckpointSettings", "EvalSettings", "TrainState", "evaluate", "fit", "parse_losses", "predict",
           "train", "train_one_epoch"]


@dataclass
class TrainState:
    """Where a run is; hooks receive it.

    Attributes:
        model: The model being trained (DDP-wrapped when distributed).
        optimizer: Its optimizer.
        max_epochs: Epochs of the run.
        epoch: Epochs completed.
        iter: Iterations completed over the run.
        epoch_len: Iterations per epoch.
        inner_iter: Iterations completed in the current epoch.
        best: ``{'key', 'score', 'epoch', 'metrics', 'checkpoint'}`` of the best evaluation so far.
        last_train: Averages of the last logged training interval.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    max_epochs: int
    epoch: int = 0
    iter: int = 0
    epoch_len: int = 0
    inner_iter: int = 0
    best: dict = field(default_factory=dict)
    last_train: dict = field(default_factory=dict)


@dataclass
class EvalSettings:
    """The spec's ``evaluation`` section (mmcv's ``EvalHook`` arguments)."""

    interval: int = 1
    start: int | None = None
    metric: str | list[str] = "accuracy"
    metric_options: dict = field(default_factory=lambda: {"topk": (1, 5)})
    save_best: str | None = None
    rule: str | None = None

    _IGNORED = ("gpu_collect", "tmpdir", "by_epoch", "broadcast_bn_buffer", "efficient_test")

    @classmethod
    def from_cfg(cls, cfg: dict | None) -> EvalSettings:
        cfg = dict(cfg or {})
        if cfg.get("by_epoch", True) is False:
            raise NotImplementedError("evaluation.by_epoch=False (evaluation every N iterations) is not supported yet")
        for key in cls._IGNORED:
            cfg.pop(key, None)
        known = {"interval", "start", "metric", "metric_options", "save_best", "rule"}
        unknown = set(cfg) - known
        if unknown:
            raise KeyError(f"unknown evaluation keys {sorted(unknown)}; known: {sorted(known)}")
        settings = cls(**cfg)
        if settings.metric_options is None:
            settings.metric_options = {"topk": (1, 5)}
        if settings.rule not in (None, "greater", "less"):
            raise ValueError(f"evaluation.rule must be 'greater' or 'less', got {settings.rule!r}")
        return settings

    def should_evaluate(self, epochs_done: int) -> bool:
        """mmcv's rule: every ``interval`` epochs, counted from ``start`` when given."""
        if self.start is None:
            return epochs_done % self.interval == 0
        if epochs_done < self.start:
            return False
        return (epochs_done - self.start) % self.interval == 0

    def greater_is_better(self, key: str) -> bool:
        if self.rule is not None:
            return self.rule == "greater"
        return "loss" not in key.lower()


@dataclass
class CheckpointSettings:
    """The spec's ``checkpoint_config`` section (mmcv's ``CheckpointHook`` arguments)."""

    interval: int = -1
    save_optimizer: bool = True
    max_keep_ckpts: int = -1
    save_last: bool = True
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_cfg(cls, cfg: dict | None) -> CheckpointSettings:
        cfg = dict(cfg or {})
        if cfg.pop("by_epoch", True) is False:
            raise NotImplementedError("checkpoint_config.by_epoch=False is not supported yet")
        if cfg.pop("out_dir", None) is not None:
            raise NotImplementedError("checkpoint_config.out_dir is not supported; checkpoints go to the work dir")
        for key in ("filename_tmpl", "create_symlink", "type"):  # mmcv's defaults are what happens here
            cfg.pop(key, None)
        known = {"interval", "save_optimizer", "max_keep_ckpts", "save_last", "meta"}
        unknown = set(cfg) - known
        if unknown:
            raise KeyError(f"unknown checkpoint_config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**cfg)

    def should_save(self, epochs_done: int, max_epochs: int) -> bool:
        every = self.interval > 0 and epochs_done % self.interval == 0
        return every or (self.save_last and epochs_done == max_epochs)


class _IntervalMeter:
    """Sample-weighted averages of named values since the last ``reset`` (mmcv's ``LogBuffer.average``)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}

    def update(self, values: dict[str, float], n: float = 1) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * n
            self.counts[key] = self.counts.get(key, 0.0) + n

    def averages(self) -> dict[str, float]:
        return {key: self.sums[key] / self.counts[key] for key in self.sums}


def parse_losses(losses: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum the entries whose name contains 'loss' into the loss to optimise; return it with plain
    numbers to log (averaged over ranks when distributed), as MMCls's ``_parse_losses``."""
    log_vars: dict[str, torch.Tensor] = {}
    for name, value in losses.items():
        if isinstance(value, torch.Tensor):
            log_vars[name] = value.mean()
        elif isinstance(value, list):
            log_vars[name] = sum(v.mean() for v in value)
        elif isinstance(value, dict):
            for inner_name, inner_value in value.items():
                log_vars[inner_name] = torch.as_tensor(inner_value).mean()
        else:
            raise TypeError(f"{name} is not a tensor or list of tensors")
    loss = sum(value for key, value in log_vars.items() if "loss" in key)
    log_vars["loss"] = loss
    names = list(log_vars)
    stacked = torch.stack([log_vars[k].detach().float().reshape(()) for k in names])
    if is_distributed():
        stacked = stacked.clone()
        dist.all_reduce(stacked.div_(dist.get_world_size()))
    return loss, dict(zip(names, stacked.cpu().tolist(), strict=True))


def _max_memory_mb(device: torch.device) -> int:
    memory = torch.cuda.max_memory_allocated(device) // (1024 * 1024)
    torch.cuda.reset_peak_memory_stats(device)
    return int(memory)


def train_one_epoch(
    state: TrainState,
    data_loader: DataLoader,
    *,
    optimizer_hook: OptimizerHook,
    lr_schedule: LrSchedule,
    device: torch.device,
    log: RunLogger,
    log_interval: int,
    hooks: Sequence[Hook] = (),
    progress: bool = False,
) -> dict[str, float]:
    """Train ``state.model`` for one epoch over ``data_loader``; advances ``state.iter``.

    Returns:
        The epoch's sample-weighted averages of the logged values (``loss``, ...).
    """
    model, optimizer = state.model, state.optimizer
    model.train()
    if isinstance(data_loader.sampler, DistributedSampler):
        data_loader.sampler.set_epoch(state.epoch)
    state.epoch_len = len(data_loader)
    interval_meter, epoch_meter = _IntervalMeter(), _IntervalMeter()
    bar = None
    if progress and log.enabled:
        from tqdm import tqdm

        bar = tqdm(total=state.epoch_len, desc=f"epoch {state.epoch + 1}/{state.max_epochs}", leave=False,
                   dynamic_ncols=True)
    total_iters = state.max_epochs * state.epoch_len
    tick = time.perf_counter()
    time_sum, time_count = 0.0, 0
    for inner, batch in enumerate(data_loader):
        state.inner_iter = inner
        data_time = time.perf_counter() - tick
        lrs = lr_schedule.apply(optimizer, epoch=state.epoch, iteration=state.iter, max_epochs=state.max_epochs,
                                epoch_len=state.epoch_len)
        for hook in hooks:
            hook.before_train_iter(state)
        img = batch["img"].to(device, non_blocking=True)
        gt_label = batch["gt_label"].to(device, non_blocking=True)
        losses = model(img, return_loss=True, gt_label=gt_label)
        loss, log_vars = parse_losses(losses)
        grad_norm = optimizer_hook.step(loss, optimizer, model)
        if grad_norm is not None:
            log_vars["grad_norm"] = grad_norm
        state.iter += 1
        state.inner_iter = inner + 1
        n = img.size(0)
        interval_meter.update({"data_time": data_time}, 1)
        interval_meter.update(log_vars, n)
        epoch_meter.update(log_vars, n)
        iter_time = time.perf_counter() - tick
        interval_meter.update({"time": iter_time}, 1)
        time_sum, time_count = time_sum + iter_time, time_count + 1
        for hook in hooks:
            hook.after_train_iter(state)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{log_vars['loss']:.4f}", lr=f"{lrs[0]:.2e}", refresh=False)
        if (inner + 1) % log_interval == 0:
            averages = interval_meter.averages()
            record: dict[str, Any] = {"mode": "train", "epoch": state.epoch + 1, "iter": inner + 1, "lr": lrs[0]}
            if device.type == "cuda":
                record["memory"] = _max_memory_mb(device)
            record["data_time"] = averages.pop("data_time")
            iter_avg = averages.pop("time")
            record.update(averages)
            record["time"] = iter_avg
            record["eta"] = eta_string(time_sum / time_count * (total_iters - state.iter))
            state.last_train = dict(record)
            log.train_record(record, state.epoch_len, step=state.iter)
            interval_meter.reset()
        tick = time.perf_counter()
    if bar is not None:
        bar.close()
    return epoch_meter.averages()


@torch.no_grad()
def predict(model: nn.Module, data_loader: DataLoader, device: torch.device) -> np.ndarray | None:
    """Softmax scores ``(len(dataset), C)`` in dataset order, on rank 0 (``None`` on other ranks).

    Distributed, each rank scores its share (a ``DistributedSampler`` without shuffle, padded to equal
    length); the shares are gathered, interleaved back into dataset order and the padding dropped.
    """
    module = unwrap_model(model)
    was_training = module.training
    module.eval()
    parts = []
    for batch in data_loader:
        scores = module.simple_test(batch["img"].to(device, non_blocking=True))
        parts.append(scores.float().cpu().numpy())
    module.train(was_training)
    local = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    gathered = gather_to_main(local)
    if gathered is None:
        return None
    size = len(data_loader.dataset)
    if len(gathered) == 1:
        return gathered[0][:size]
    width = max(part.shape[1] for part in gathered if part.size) if any(p.size for p in gathered) else 0
    longest = max(len(part) for part in gathered)
    ordered = []
    for i in range(longest):  # rank r holds samples r, r + W, r + 2W, ...
        for part in gathered:
            if i < len(part):
                ordered.append(part[i])
    return np.stack(ordered)[:size] if ordered else np.zeros((0, width), dtype=np.float32)


def evaluate(model: nn.Module, data_loader: DataLoader, device: torch.device, *,
             metric: str | list[str] = "accuracy", metric_options: dict | None = None) -> dict[str, float]:
    """Score the whole dataset of ``data_loader`` with MMCls's metrics (on every rank).

    Returns:
        E.g. ``{'accuracy_top-1': 97.2, 'accuracy_top-5': 99.7}`` (percent).
    """
    scores = predict(model, data_loader, device)
    metrics = None
    if scores is not None:
        metrics = data_loader.dataset.evaluate(scores, metric=metric, metric_options=metric_options)
    return broadcast_object(metrics)


def _is_better(settings: EvalSettings, key: str, score: float, best: dict) -> bool:
    if not best:
        return True
    return score > best["score"] if settings.greater_is_better(key) else score < best["score"]


def fit(
    state: TrainState,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    *,
    work_dir: Path,
    optimizer_hook: OptimizerHook,
    lr_schedule: LrSchedule,
    device: torch.device,
    log: RunLogger,
    log_interval: int,
    eval_settings: EvalSettings,
    ckpt_settings: CheckpointSettings,
    meta: dict,
    hooks: Sequence[Hook] = (),
    progress: bool = False,
) -> dict:
    """Train from ``state.epoch`` to ``state.max_epochs``, evaluating and checkpointing on schedule.

    Args:
        state: The run's state (possibly restored from a checkpoint).
        train_loader: Training batches.
        val_loader: Validation batches, or ``None`` to skip evaluation.
        work_dir: Where checkpoints go (rank 0).
        optimizer_hook: Backward and step.
        lr_schedule: The lr policy.
        device: This process's device.
        log: The run's logger / reporter.
        log_interval: Iterations between training records.
        eval_settings: When and what to evaluate.
        ckpt_settings: When and how to checkpoint.
        meta: Saved in every checkpoint's ``meta`` (spec, CLASSES, seed, ...).
        hooks: Custom hooks, by priority.
        progress: Show tqdm bars (rank 0).

    Returns:
        ``state.best``: ``{'key', 'score', 'epoch', 'metrics', 'checkpoint'}`` (empty without evaluation).
    """
    rank = get_dist_info()[0]
    for hook in hooks:
        hook.before_run(state)
    while state.epoch < state.max_epochs:
        for hook in hooks:
            hook.before_train_epoch(state)
        train_one_epoch(state, train_loader, optimizer_hook=optimizer_hook, lr_schedule=lr_schedule,
                        device=device, log=log, log_interval=log_interval, hooks=hooks, progress=progress)
        for hook in hooks:
            hook.after_train_epoch(state)
        state.epoch += 1
        lr = state.optimizer.param_groups[0]["lr"]

        metrics: dict[str, float] = {}
        if val_loader is not None and eval_settings.should_evaluate(state.epoch):
            metrics = evaluate(state.model, val_loader, device, metric=eval_settings.metric,
                               metric_options=eval_settings.metric_options)
            record = {"mode": "val", "epoch": state.epoch, "iter": len(val_loader), "lr": lr, **metrics}
            log.val_record(record, step=state.iter)
            key = eval_settings.save_best
            if key in (None, "auto"):
                key = next(iter(metrics))
            if key not in metrics:
                raise KeyError(f"evaluation.save_best={key!r} is not one of the metrics {list(metrics)}")
            if _is_better(eval_settings, key, metrics[key], state.best):
                previous = state.best.get("checkpoint")
                state.best = {"key": key, "score": metrics[key], "epoch": state.epoch, "metrics": dict(metrics),
                              "checkpoint": None}
                if eval_settings.save_best and rank == 0:
                    path = work_dir / f"best_{key}_epoch_{state.epoch}.pth"
                    save_checkpoint(path, state.model, state.optimizer if ckpt_settings.save_optimizer else None,
                                    {**meta, "epoch": state.epoch, "iter": state.iter, "best": state.best},
                                    link_latest=False)
                    if previous and Path(previous).is_file():
                        Path(previous).unlink()
                    state.best["checkpoint"] = str(path)
                    log.info("Now best checkpoint is saved as %s. Best %s is %.4f at %d epoch.", path.name, key,
                             metrics[key], state.epoch)
                    log.checkpoint(path, state.epoch, state.iter, metrics)

        if ckpt_settings.should_save(state.epoch, state.max_epochs) and rank == 0:
            path = work_dir / f"epoch_{state.epoch}.pth"
            save_checkpoint(path, state.model, state.optimizer if ckpt_settings.save_optimizer else None,
                            {**meta, **ckpt_settings.meta, "epoch": state.epoch, "iter": state.iter,
                             "best": state.best})
            log.info("Saving checkpoint at %d epochs", state.epoch)
            if ckpt_settings.interval > 0:
                remove_old_checkpoints(work_dir, state.epoch, ckpt_settings.interval, ckpt_settings.max_keep_ckpts)
            log.checkpoint(path, state.epoch, state.iter, metrics)
    for hook in hooks:
        hook.after_run(state)
    return state.best


def _loader_args(data: dict, split: str) -> dict:
    """``samples_per_gpu``/``workers_per_gpu`` of ``data``, overridden by ``data.<split>_dataloader``."""
    args = {key: data[key] for key in ("samples_per_gpu", "workers_per_gpu") if key in data}
    args.update(data.get(f"{split}_dataloader") or {})
    args.setdefault("workers_per_gpu", 2)
    if "samples_per_gpu" not in args:
        raise KeyError("data.samples_per_gpu is missing")
    return args


def _max_epochs(spec: dict) -> int:
    runner = dict(spec.get("runner") or {"type": "EpochBasedRunner"})
    RUNNERS.get(runner.pop("type", "EpochBasedRunner"))
    max_epochs = runner.pop("max_epochs", spec.get("total_epochs"))
    if runner:
        raise KeyError(f"unknown runner keys {sorted(runner)}; EpochBasedRunner takes max_epochs")
    if not isinstance(max_epochs, int) or max_epochs <= 0:
        raise ValueError(f"runner.max_epochs must be a positive int, got {max_epochs!r}")
    return max_epochs


def _optimizer_hook(spec: dict) -> OptimizerHook:
    cfg = dict(spec.get("optimizer_config") or {})
    cfg.setdefault("type", "OptimizerHook")
    hook = HOOKS.build(cfg)
    if not isinstance(hook, OptimizerHook):
        raise TypeError(f"optimizer_config.type {cfg['type']!r} is not an optimizer hook")
    return hook


def _log_interval(spec: dict) -> int:
    log_config = spec.get("log_config") or {}
    for hook in log_config.get("hooks") or []:
        HOOKS.get(hook.get("type"))  # unknown logger types fail here, as at submit time
    return int(log_config.get("interval", 50))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@RUNNERS.register("EpochBasedRunner")
def train(
    spec: dict,
    work_dir: str | Path,
    *,
    reporter: Any = None,
    device: str | torch.device = "cpu",
    resume_from: str | Path | None = None,
    load_from: str | Path | None = None,
    validate: bool = True,
    seed: int | None = None,
    deterministic: bool = False,
    data_root: str | Path | None = None,
    progress: bool = False,
    console: bool = True,
) -> dict:
    """Train the classifier a resolved spec describes.

    Args:
        spec: The resolved spec (``jobspecs.load`` output): model, data, optimizer, optimizer_config,
            lr_config, runner, evaluation, checkpoint_config, log_config, custom_hooks.
        work_dir: Logs and checkpoints go here (rank 0 writes).
        reporter: Receives log lines, metric points and checkpoint records (see ``logger.py``).
        device: ``'cpu'``, ``'cuda'`` (this rank's local GPU) or an explicit device.
        resume_from: Checkpoint to continue (model, optimizer, epoch, iteration); ``'auto'`` takes
            ``latest.pth`` of ``work_dir`` if there is one. Defaults to the spec's ``resume_from``.
        load_from: Checkpoint whose weights start the run (nothing else). Defaults to the spec's.
        validate: Evaluate on ``data.val`` during training.
        seed: Random seed (default: the spec's ``seed``, else a random one shared by all ranks).
        deterministic: Deterministic cuDNN kernels.
        data_root: Folder that relative dataset paths are resolved against (default: the current dir).
        progress: tqdm progress bars (rank 0).
        console: Print log lines to stderr (rank 0).

    Returns:
        The best evaluation's metrics (e.g. ``{'accuracy_top-1': 97.5, 'accuracy_top-5': 100.0}``) plus
        ``'epoch'``, the epoch it was reached at; ``{}`` when nothing was evaluated.
    """
    spec = copy.deepcopy(spec)
    rank, world_size = get_dist_info()
    work_dir = Path(work_dir).expanduser().absolute()
    if rank == 0:
        work_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    seed = init_random_seed(seed if seed is not None else spec.get("seed"))
    set_random_seed(seed, deterministic)
    timestamp = broadcast_object(time.strftime("%Y%m%d_%H%M%S", time.localtime()))
    log = RunLogger(work_dir, timestamp, reporter=reporter, enabled=rank == 0, console=console, progress=progress)
    try:
        return _train(spec, work_dir, log, device=device, resume_from=resume_from, load_from=load_from,
                      validate=validate, seed=seed, deterministic=deterministic, data_root=data_root,
                      progress=progress, world_size=world_size)
    finally:
        log.close()


def _train(spec: dict, work_dir: Path, log: RunLogger, *, device: torch.device, resume_from, load_from,
           validate: bool, seed: int, deterministic: bool, data_root, progress: bool, world_size: int) -> dict:
    rank = get_dist_info()[0]
    log.info("torch %s, device %s, world size %d, seed %d, deterministic %s", torch.__version__, device,
             world_size, seed, deterministic)
    if rank == 0:
        (work_dir / "spec.json").write_text(json.dumps(_jsonable(spec), indent=2))
    for phase, _ in spec.get("workflow") or []:
        if phase != "train":
            log.warning("workflow phase %r is ignored: evaluation follows the 'evaluation' section", phase)
    if spec.get("fp16"):
        raise NotImplementedError("fp16 training is not supported yet")

    max_epochs = _max_epochs(spec)
    optimizer_hook = _optimizer_hook(spec)
    lr_schedule = build_lr_schedule(spec.get("lr_config"))
    if spec.get("momentum_config"):
        raise NotImplementedError("momentum_config is not supported yet")
    log_interval = _log_interval(spec)
    eval_settings = EvalSettings.from_cfg(spec.get("evaluation"))
    ckpt_settings = CheckpointSettings.from_cfg(spec.get("checkpoint_config"))
    hooks = build_custom_hooks(spec.get("custom_hooks"))

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
    optimizer = build_optimizer(model, spec["optimizer"])
    state = TrainState(model=model, optimizer=optimizer, max_epochs=max_epochs)

    resume_from = resume_from if resume_from is not None else spec.get("resume_from")
    load_from = load_from if load_from is not None else spec.get("load_from")
    if resume_from == "auto":
        found = broadcast_object(str(find_latest_checkpoint(work_dir) or "") if rank == 0 else None)
        resume_from = found or None
        log.info("auto resume: %s", resume_from or "no checkpoint in the work dir, starting afresh")
    if resume_from:
        # rank 0 reads, every rank restores: DDP needs equal weights and optimizer states everywhere
        checkpoint = broadcast_object(load_checkpoint(resume_from) if rank == 0 else None)
        meta = restore_training(checkpoint, model, optimizer)
        state.epoch, state.iter = int(meta.get("epoch", 0)), int(meta.get("iter", 0))
        state.best = dict(meta.get("best") or {})
        log.info("resumed epoch %d, iter %d from %s", state.epoch, state.iter, resume_from)
    elif load_from:
        checkpoint = broadcast_object(load_checkpoint(load_from) if rank == 0 else None)
        load_weights(model, checkpoint, strict=False)
        log.info("load checkpoint from %s", load_from)

    if world_size > 1:
        ddp_kwargs: dict[str, Any] = {"find_unused_parameters": bool(spec.get("find_unused_parameters", False))}
        if device.type == "cuda":
            ddp_kwargs["device_ids"] = [device.index]
        state.model = DistributedDataParallel(model, **ddp_kwargs)

    pin = device.type == "cuda"
    train_args = _loader_args(data, "train")
    train_loader = build_dataloader(train_set, train_args["samples_per_gpu"], train_args["workers_per_gpu"],
                                    shuffle=True, seed=seed, drop_last=bool(train_args.get("drop_last", False)),
                                    pin_memory=pin, persistent_workers=bool(train_args.get("persistent_workers")))
    val_loader = None
    if val_set is not None:
        val_args = _loader_args(data, "val")
        val_loader = build_dataloader(val_set, val_args["samples_per_gpu"], val_args["workers_per_gpu"],
                                      shuffle=False, pin_memory=pin)

    classes = list(train_set.CLASSES) if train_set.CLASSES is not None else None
    meta = {"spec": _jsonable(spec), "CLASSES": classes, "seed": seed, "world_size": world_size,
            "trainyard_version": _version()}
    log.info("Start running, work_dir: %s, max: %d epochs", work_dir, max_epochs)
    best = fit(state, train_loader, val_loader, work_dir=work_dir, optimizer_hook=optimizer_hook,
               lr_schedule=lr_schedule, device=device, log=log, log_interval=log_interval,
               eval_settings=eval_settings, ckpt_settings=ckpt_settings, meta=meta, hooks=hooks,
               progress=progress)
    if is_distributed():
        dist.barrier()  # every rank returns once rank 0's last checkpoint is on disk
    if best:
        log.info("best %s: %.4f at epoch %d", best["key"], best["score"], best["epoch"])
        return {**best["metrics"], "epoch": best["epoch"]}
    return {}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("trainyard")
    except Exception:  # not installed as a distribution (running from a checkout)
        return "0+unknown"
