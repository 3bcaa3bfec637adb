"""The training loop, written out as torchvision's reference scripts do: :func:`train_one_epoch`,
:func:`evaluate`, :func:`fit`, and :func:`train`, which turns a resolved spec into those calls.

It behaves as MMClassification 0.25's ``EpochBasedRunner`` / ``IterBasedRunner`` with their default hooks
(seed 10.2.1, in their priority order): lr and momentum set before every iteration (``lr_config``,
``momentum_config``), the optimizer step of ``optimizer_config`` (clipping, accumulation, fp16),
losses logged every ``log_config.interval`` iterations as averages over the interval, evaluation every
``evaluation.interval`` epochs (iterations) and checkpoints every ``checkpoint_config.interval``
(and after the last); ``workflow = [('train', 1), ('val', 1)]`` adds a val-loss epoch after each one. Deliberate difference: evaluation runs
*before* the checkpoint of the same epoch, so each checkpoint record carries its epoch's metrics.

Under ``torch.distributed`` (Ray Train sets up the process group) the model is wrapped in DDP, each
rank reads its share of the data, predictions are gathered so that metrics cover the whole val set,
and only rank 0 writes logs and checkpoints and calls the reporter.

With ``resources.strategy='deepspeed'`` (``strategy.py``) the model and optimizer are built as usual and
handed to ``deepspeed.initialize`` instead of DDP; :class:`~workers.engine.strategy.DeepSpeedOptimizerHook`
then does ``engine.backward`` / ``engine.step`` (clipping and accumulation are DeepSpeed's, from
``optimizer_config``), the lr and momentum schedules still set the torch optimizer's ``param_groups``
(which the engine steps) and evaluation runs on ``engine.module``. Every rank takes part in a checkpoint:
DeepSpeed's own goes to ``<folder>/deepspeed/epoch_N`` (optimizer partitions included), and rank 0
writes ``epoch_N.pth`` with the full weights, ``meta['deepspeed_tag']`` and no ``optimizer`` key.
``resume_from`` (``'auto'`` too) loads the weights from the ``.pth``, then the optimizer state from the
DeepSpeed checkpoint of its tag when that exists. Without a process group (``trainyard train``) a
1-process gloo group is set up (and kept: DeepSpeed caches groups derived from it).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from jobspecs.batch import apply_auto_scale_lr
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
from workers.engine.hooks import (
    PRIORITIES,
    EMAHook,
    Hook,
    OptimizerHook,
    TensorboardLoggerHook,
    build_custom_hooks,
)
from workers.engine.logger import RunLogger, eta_string
from workers.engine.lr_schedules import LrSchedule, build_lr_schedule
from workers.engine.momentum_schedules import MomentumSchedule, build_momentum_schedule
from workers.engine.optimizers import build_optimizer
from workers.engine.sections import CheckpointSettings, EvalSettings
from workers.engine.strategy import (
    DeepSpeedOptimizerHook,
    broadcast_buffers,
    deepspeed_config,
    full_state_dict,
    init_single_process_group,
    is_deepspeed_engine,
    load_deepspeed_checkpoint,
    prune_deepspeed_checkpoints,
    save_deepspeed_checkpoint,
    training_strategy,
    wrap_deepspeed,
)
from workers.models import build_model, load_weights
from workers.registry import HOOKS, RUNNERS
from workers.storage import fetched, redact

__all__ = ["CheckpointSettings", "EvalSettings", "TrainState", "evaluate", "fit", "parse_losses", "predict",
           "train", "train_one_epoch", "val_loss_epoch"]


@dataclass
class TrainState:
    """Where a run is; hooks receive it.

    Attributes:
        model: The model being trained (DDP-wrapped when distributed).
        optimizer: Its optimizer.
        max_epochs: Epochs of the run (for an IterBasedRunner: the epochs ``max_iters`` spans).
        epoch: Epochs completed.
        iter: Iterations completed over the run.
        epoch_len: Iterations per epoch.
        inner_iter: Iterations completed in the current epoch.
        max_iters: Iterations of the run.
        iter_based: The run is an IterBasedRunner's (``max_iters``; logs, checkpoints by iteration).
        best: ``{'key', 'score', 'epoch', 'metrics', 'checkpoint'}`` of the best evaluation so far.
        last_train: Averages of the last logged training interval.
        data_loader: The training loader, set by :func:`fit` for hooks that read training data
            (``PreciseBNHook``; mmcv's ``runner.data_loader``).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    max_epochs: int
    epoch: int = 0
    iter: int = 0
    epoch_len: int = 0
    inner_iter: int = 0
    max_iters: int = 0
    iter_based: bool = False
    best: dict = field(default_factory=dict)
    last_train: dict = field(default_factory=dict)
    data_loader: DataLoader | None = None


class _IntervalMeter:
    """Sample-weighted averages of named values since the last ``reset`` (mmcv's ``LogBuffer.average``).

    Loss values arrive as one stacked tensor per iteration (:meth:`update_stacked`) and are summed on
    their device; they become Python numbers only when averages are asked for, so a CUDA run is not
    synchronised every iteration just to log (mmcv calls ``.item()`` on each).
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}
        self._names: tuple[str, ...] | None = None
        self._tensor_sum: torch.Tensor | None = None
        self._tensor_count = 0.0

    def update(self, values: dict[str, float], n: float = 1) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * n
            self.counts[key] = self.counts.get(key, 0.0) + n

    def update_stacked(self, names: tuple[str, ...], values: torch.Tensor, n: float = 1) -> None:
        """Add ``values[i]`` of ``names[i]`` with weight ``n``, without leaving the tensor's device."""
        if self._names is not None and names != self._names:
            self._flush()
        if self._names is None:
            self._names, self._tensor_sum, self._tensor_count = names, values * n, 0.0
            for name in names:  # keep the names' order in the records
                self.sums.setdefault(name, 0.0)
                self.counts.setdefault(name, 0.0)
        else:
            self._tensor_sum.add_(values, alpha=n)
        self._tensor_count += n

    def _flush(self) -> None:
        if self._names is None:
            return
        for name, total in zip(self._names, self._tensor_sum.cpu().tolist(), strict=True):
            self.sums[name] += total
            self.counts[name] += self._tensor_count
        self._names, self._tensor_sum, self._tensor_count = None, None, 0.0

    def averages(self) -> dict[str, float]:
        self._flush()
        return {key: self.sums[key] / self.counts[key] for key in self.sums if self.counts[key]}


def _stack_losses(losses: dict) -> tuple[torch.Tensor, tuple[str, ...], torch.Tensor]:
    """The loss to optimise (the sum of entries named '*loss*'), the names of the values to log and those
    values stacked in one detached float tensor, averaged over ranks when distributed."""
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
    names = tuple(log_vars)
    stacked = torch.stack([log_vars[k].detach().float().reshape(()).to(loss.device) for k in names])
    if is_distributed():
        dist.all_reduce(stacked.div_(dist.get_world_size()))
    return loss, names, stacked


def parse_losses(losses: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum the entries whose name contains 'loss' into the loss to optimise; return it with plain
    numbers to log (averaged over ranks when distributed), as MMCls's ``_parse_losses``."""
    loss, names, stacked = _stack_losses(losses)
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
    momentum_schedule: MomentumSchedule | None = None,
    after_iter: Callable[[TrainState], None] | None = None,
) -> dict[str, float]:
    """Train ``state.model`` for one epoch over ``data_loader`` (or until ``state.max_iters``).

    Per iteration, in mmcv's hook priority order: lr (VERY_HIGH) and momentum (HIGH) updates, custom
    ``before_train_iter`` hooks, the forward pass, custom ``after_train_iter`` hooks above ABOVE_NORMAL
    (e.g. ``EMAHook`` at HIGH), the optimizer step (ABOVE_NORMAL), the other custom hooks, ``after_iter``
    (by-iteration checkpoints and evaluation) and the log record (VERY_LOW). Hooks see ``state.iter``
    counting this iteration.

    Returns:
        The epoch's sample-weighted averages of the logged values (``loss``, ...).
    """
    model, optimizer = state.model, state.optimizer
    model.train()
    if hasattr(data_loader.sampler, "set_epoch"):  # DistributedSampler, RepeatAugSampler
        data_loader.sampler.set_epoch(state.epoch)
    state.epoch_len = len(data_loader)
    if not state.max_iters:
        state.max_iters = state.max_epochs * state.epoch_len
    before_step = [h for h in hooks if h.priority < PRIORITIES["ABOVE_NORMAL"]]
    after_step = [h for h in hooks if h.priority >= PRIORITIES["ABOVE_NORMAL"]]
    interval_meter, epoch_meter = _IntervalMeter(), _IntervalMeter()
    bar = None
    if progress and log.enabled:
        from tqdm import tqdm

        total = min(state.epoch_len, state.max_iters - state.iter)
        bar = tqdm(total=total, desc=f"epoch {state.epoch + 1}/{state.max_epochs}", leave=False, dynamic_ncols=True)
    schedule_args = {"max_epochs": state.max_epochs, "epoch_len": state.epoch_len, "max_iters": state.max_iters}
    tick = time.perf_counter()
    time_sum, time_count = 0.0, 0
    state.inner_iter = 0
    for inner, batch in enumerate(data_loader):
        if state.iter_based and state.iter >= state.max_iters:
            break
        state.inner_iter = inner
        data_time = time.perf_counter() - tick
        lrs = lr_schedule.apply(optimizer, epoch=state.epoch, iteration=state.iter, **schedule_args)
        momenta = None
        if momentum_schedule is not None:
            momenta = momentum_schedule.apply(optimizer, epoch=state.epoch, iteration=state.iter, **schedule_args)
        for hook in hooks:
            hook.before_train_iter(state)
        img = batch["img"].to(device, non_blocking=True)
        gt_label = batch["gt_label"].to(device, non_blocking=True)
        with optimizer_hook.autocast(device):
            losses = model(img, return_loss=True, gt_label=gt_label)
        loss, names, stacked = _stack_losses(losses)
        state.iter += 1
        state.inner_iter = inner + 1
        for hook in before_step:
            hook.after_train_iter(state)
        grad_norm = optimizer_hook.step(loss, optimizer, model, iteration=state.iter - 1, max_iters=state.max_iters)
        n = img.size(0)
        interval_meter.update({"data_time": data_time}, 1)
        interval_meter.update_stacked(names, stacked, n)
        epoch_meter.update_stacked(names, stacked, n)
        if grad_norm is not None:
            interval_meter.update({"grad_norm": grad_norm}, n)
            epoch_meter.update({"grad_norm": grad_norm}, n)
        iter_time = time.perf_counter() - tick
        interval_meter.update({"time": iter_time}, 1)
        time_sum, time_count = time_sum + iter_time, time_count + 1
        for hook in after_step:
            hook.after_train_iter(state)
        if after_iter is not None:
            after_iter(state)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(stacked[names.index('loss')]):.4f}", lr=f"{lrs[0]:.2e}", refresh=False)
        count = state.iter if state.iter_based else inner + 1
        if count % log_interval == 0:
            averages = interval_meter.averages()
            record: dict[str, Any] = {"mode": "train", "epoch": state.epoch + 1, "iter": count, "lr": lrs[0]}
            if momenta is not None and momenta[0] is not None:
                record["momentum"] = momenta[0]
            if device.type == "cuda":
                record["memory"] = _max_memory_mb(device)
            record["data_time"] = averages.pop("data_time")
            iter_avg = averages.pop("time")
            record.update(averages)
            record["time"] = iter_avg
            record["eta"] = eta_string(time_sum / time_count * (state.max_iters - state.iter))
            state.last_train = dict(record)
            log.train_record(record, state.epoch_len, step=state.iter,
                             max_iters=state.max_iters if state.iter_based else None)
            interval_meter.reset()
        tick = time.perf_counter()
    if bar is not None:
        bar.close()
    return epoch_meter.averages()


@torch.no_grad()
def val_loss_epoch(state: TrainState, data_loader: DataLoader, *, device: torch.device, log: RunLogger,
                   optimizer_hook: OptimizerHook | None = None) -> dict[str, float]:
    """The ``('val', 1)`` workflow phase: losses over ``data_loader`` (built with the *train* pipeline, as
    MMCls's ``tools/train.py`` does), no update; logs one 'val' record of the averages."""
    model = state.model
    was_training = model.training
    model.eval()
    meter = _IntervalMeter()
    for batch in data_loader:
        img = batch["img"].to(device, non_blocking=True)
        gt_label = batch["gt_label"].to(device, non_blocking=True)
        context = optimizer_hook.autocast(device) if optimizer_hook is not None else contextlib.nullcontext()
        with context:
            losses = model(img, return_loss=True, gt_label=gt_label)
        meter.update(parse_losses(losses)[1], img.size(0))
    model.train(was_training)
    averages = meter.averages()
    record = {"mode": "val", "epoch": state.epoch, "iter": len(data_loader),
              "lr": state.optimizer.param_groups[0]["lr"], **averages}
    log.val_record(record, step=state.iter)
    return averages


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
    # a DeepSpeed bf16/fp16 engine holds the model in that precision; float32 elsewhere, so a no-op there
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    for batch in data_loader:
        scores = module.simple_test(batch["img"].to(device, dtype=dtype, non_blocking=True))
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


@dataclass
class _Periodic:
    """What :func:`fit` does after an epoch or an iteration: evaluation (+ best checkpoint), then the
    periodic checkpoint. Deliberate difference from mmcv (CheckpointHook NORMAL before EvalHook LOW):
    evaluation comes first, so each checkpoint record carries its own metrics."""

    work_dir: Path
    val_loader: DataLoader | None
    device: torch.device
    log: RunLogger
    eval_settings: EvalSettings
    ckpt_settings: CheckpointSettings
    meta: dict
    on_evaluate: Callable[[dict], None] | None = None
    on_checkpoint: Callable[[Path], None] | None = None
    # checkpoint records of this step, sent once ``on_checkpoint`` has run (so a record names a stored file)
    saved: list = field(default_factory=list)

    def run(self, state: TrainState, by_epoch: bool) -> None:
        done = state.epoch if by_epoch else state.iter
        last = state.max_epochs if by_epoch else state.max_iters
        unit = "epoch" if by_epoch else "iter"
        metrics: dict[str, float] = {}
        evaluate = (self.val_loader is not None and self.eval_settings.by_epoch == by_epoch
                    and self.eval_settings.should_evaluate(done))
        save = self.ckpt_settings.by_epoch == by_epoch and self.ckpt_settings.should_save(done, last)
        if evaluate or save:
            broadcast_buffers(state.model)  # DeepSpeed: rank 0's BatchNorm statistics, as DDP has them
        if evaluate:
            metrics = self.evaluate(state, unit, done)
        saved = self.checkpoint(state, unit, done, metrics) if save else None
        if self.saved or save:
            self.publish()
        if evaluate and self.on_evaluate is not None:
            # every rank (a Ray Tune report is collective); after the checkpoint, so that a scheduler
            # that stops or clones the trial here (ASHA, PBT) finds this evaluation's weights on disk
            self.on_evaluate({**metrics, "epoch": state.epoch, "iter": state.iter,
                              "checkpoint": str(saved) if saved else None})

    def publish(self) -> None:
        """After this step's checkpoints: ``on_checkpoint`` (every rank: e.g. copy them to an object store),
        then their records (rank 0) to the reporter."""
        if self.on_checkpoint is not None:
            self.on_checkpoint(self.ckpt_settings.folder(self.work_dir))
        for path, epoch, iteration, metrics in self.saved:
            self.log.checkpoint(path, epoch, iteration, metrics)
        self.saved.clear()

    def evaluate(self, state: TrainState, unit: str, done: int) -> dict[str, float]:
        settings, rank = self.eval_settings, get_dist_info()[0]
        metrics = evaluate(state.model, self.val_loader, self.device, metric=settings.metric,
                           metric_options=settings.metric_options)
        lr = state.optimizer.param_groups[0]["lr"]
        iteration = state.iter if state.iter_based else len(self.val_loader)
        self.log.val_record({"mode": "val", "epoch": state.epoch, "iter": iteration, "lr": lr, **metrics},
                            step=state.iter)
        key = settings.save_best
        if key in (None, "auto"):
            key = next(iter(metrics))
        if key not in metrics:
            raise KeyError(f"evaluation.save_best={key!r} is not one of the metrics {list(metrics)}")
        if not _is_better(settings, key, metrics[key], state.best):
            return metrics
        previous = state.best.get("checkpoint")
        state.best = {"key": key, "score": metrics[key], "epoch": state.epoch, "iter": state.iter,
                      "metrics": dict(metrics), "checkpoint": None}
        if not settings.save_best:
            return metrics
        weights, optimizer = self._weights(state)  # every rank: ZeRO-3 gathers the weights
        if rank == 0:
            path = self.ckpt_settings.folder(self.work_dir) / f"best_{key}_{unit}_{done}.pth"
            save_checkpoint(path, state.model, optimizer,
                            {**self.meta, "epoch": state.epoch, "iter": state.iter, "best": state.best},
                            link_latest=False, state_dict=weights)
            # only our own: a PBT trial resumes a clone's checkpoint, whose meta names the clone's best
            if previous and Path(previous).parent == path.parent and Path(previous).is_file():
                Path(previous).unlink()
            state.best["checkpoint"] = str(path)
            self.log.info("Now best checkpoint is saved as %s. Best %s is %.4f at %d %s.", path.name, key,
                          metrics[key], done, unit)
            self.saved.append((path, state.epoch, state.iter, dict(metrics)))
        return metrics

    def _weights(self, state: TrainState) -> tuple[dict | None, torch.optim.Optimizer | None]:
        """The weights to save (``None``: the model's own) and the optimizer to save, if any. Under
        DeepSpeed every rank must call this; the optimizer state lives in DeepSpeed's checkpoint."""
        if is_deepspeed_engine(state.model):
            return full_state_dict(state.model), None
        return None, state.optimizer if self.ckpt_settings.save_optimizer else None

    def checkpoint(self, state: TrainState, unit: str, done: int, metrics: dict) -> Path | None:
        """Save the periodic checkpoint (every rank takes part); its path on rank 0, else ``None``."""
        settings = self.ckpt_settings
        folder = settings.folder(self.work_dir)
        path = folder / f"{unit}_{done}.pth"
        extra = {}
        if is_deepspeed_engine(state.model) and settings.save_optimizer:
            save_deepspeed_checkpoint(state.model, folder / "deepspeed", path.stem)  # every rank
            extra["deepspeed_tag"] = path.stem
        weights, optimizer = self._weights(state)
        if get_dist_info()[0] != 0:
            return None
        save_checkpoint(path, state.model, optimizer, {**self.meta, **settings.meta, **extra, "epoch": state.epoch,
                                                       "iter": state.iter, "best": state.best}, state_dict=weights)
        self.log.info("Saving checkpoint at %d %ss", done, unit)
        if settings.interval > 0:
            remove_old_checkpoints(folder, done, settings.interval, settings.max_keep_ckpts, prefix=unit)
            prune_deepspeed_checkpoints(folder)
        self.saved.append((path, state.epoch, state.iter, dict(metrics)))
        return path


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
    momentum_schedule: MomentumSchedule | None = None,
    workflow_val_loader: DataLoader | None = None,
    on_evaluate: Callable[[dict], None] | None = None,
    on_checkpoint: Callable[[Path], None] | None = None,
) -> dict:
    """Train until ``state.max_epochs`` (or ``state.max_iters`` when ``state.iter_based``), evaluating and
    checkpointing on schedule.

    Args:
        state: The run's state (possibly restored from a checkpoint).
        train_loader: Training batches.
        val_loader: Validation batches, or ``None`` to skip evaluation.
        work_dir: Where checkpoints go (rank 0), unless ``checkpoint_config.out_dir``.
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
        momentum_schedule: The momentum policy, or ``None``.
        workflow_val_loader: Batches of the ``('val', 1)`` workflow phase (val loss after each train epoch).
        on_evaluate: Called on every rank after each evaluation (and the checkpoint of the same epoch) with
            the metrics, ``epoch``, ``iter`` and ``checkpoint`` (the path rank 0 just saved, else ``None``);
            a sweep trial reports them to Ray Tune, whose scheduler may stop or clone the trial there.
        on_checkpoint: Called on every rank with the checkpoint folder after each step that saved one (before
            the reporter hears of it); a run on an object store copies the new files there.

    Returns:
        ``state.best``: ``{'key', 'score', 'epoch', 'iter', 'metrics', 'checkpoint'}`` (empty without evaluation).
    """
    periodic = _Periodic(work_dir, val_loader, device, log, eval_settings, ckpt_settings, meta, on_evaluate,
                         on_checkpoint)
    epoch_len = len(train_loader)
    if state.iter_based:
        state.max_epochs = -(-state.max_iters // epoch_len)
    else:
        state.max_iters = state.max_epochs * epoch_len

    def after_iter(current: TrainState) -> None:
        periodic.run(current, by_epoch=False)

    state.data_loader = train_loader
    for hook in hooks:
        hook.before_run(state)
    # mmcv's IterBasedRunner never calls the train-epoch stages of hooks (only before/after_epoch around
    # the whole run), so e.g. EMAHook does not swap weights there; we keep that
    epoch_hooks = () if state.iter_based else hooks
    while (state.iter < state.max_iters) if state.iter_based else (state.epoch < state.max_epochs):
        for hook in epoch_hooks:
            hook.before_train_epoch(state)
        train_one_epoch(state, train_loader, optimizer_hook=optimizer_hook, lr_schedule=lr_schedule,
                        device=device, log=log, log_interval=log_interval, hooks=hooks, progress=progress,
                        momentum_schedule=momentum_schedule, after_iter=after_iter)
        for hook in epoch_hooks:
            hook.after_train_epoch(state)
        if state.inner_iter == state.epoch_len:
            state.epoch += 1
        if not state.iter_based:
            periodic.run(state, by_epoch=True)
        if workflow_val_loader is not None:
            broadcast_buffers(state.model)
            val_loss_epoch(state, workflow_val_loader, device=device, log=log, optimizer_hook=optimizer_hook)
    broadcast_buffers(state.model)
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


def runner_length(spec: dict) -> tuple[str, int]:
    """``('epoch', max_epochs)`` for an EpochBasedRunner, ``('iter', max_iters)`` for an IterBasedRunner."""
    runner = dict(spec.get("runner") or {"type": "EpochBasedRunner"})
    kind = runner.pop("type", "EpochBasedRunner")
    RUNNERS.get(kind)
    if kind == "IterBasedRunner":
        key, value = "max_iters", runner.pop("max_iters", spec.get("total_iters"))
    elif kind == "EpochBasedRunner":
        key, value = "max_epochs", runner.pop("max_epochs", spec.get("total_epochs"))
    else:
        raise ValueError(f"runner.type {kind!r} is not supported; use EpochBasedRunner or IterBasedRunner")
    if runner:
        raise KeyError(f"unknown runner keys {sorted(runner)}; {kind} takes {key}")
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"runner.{key} must be a positive int, got {value!r}")
    return ("iter" if kind == "IterBasedRunner" else "epoch"), value


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
        if isinstance(hook, TensorboardLoggerHook):
            sinks.append(hook)
    return int(log_config.get("interval", 50)), sinks


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@RUNNERS.register("IterBasedRunner")
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
    on_evaluate: Callable[[dict], None] | None = None,
    hparams_from_spec: bool = False,
    on_checkpoint: Callable[[Path], None] | None = None,
) -> dict:
    """Train the classifier a resolved spec describes (``runner.type`` EpochBasedRunner or IterBasedRunner).

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
        on_evaluate: Called on every rank after each evaluation (see ``fit``).
        hparams_from_spec: On resume, keep the optimizer hyperparameters (lr, weight decay, momentum, ...)
            of this spec instead of the checkpoint's, as a PBT trial continuing a clone's weights with its
            mutated values needs. Off, a resumed run continues with the checkpoint's (as mmcv does).
        on_checkpoint: Called on every rank after each step that saved a checkpoint (see ``fit``).

    Returns:
        The best evaluation's metrics (e.g. ``{'accuracy_top-1': 97.5, 'accuracy_top-5': 100.0}``) plus
        ``'epoch'``, the epoch it was reached at (and ``'iter'`` for an IterBasedRunner); ``{}`` when
        nothing was evaluated.
    """
    spec = copy.deepcopy(spec)
    if training_strategy(spec) == "deepspeed":
        init_single_process_group()  # DeepSpeed's engine needs a process group even alone (no-op under Ray)
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
                      progress=progress, world_size=world_size, on_evaluate=on_evaluate,
                      hparams_from_spec=hparams_from_spec, on_checkpoint=on_checkpoint)
    finally:
        log.close()


def _train(spec: dict, work_dir: Path, log: RunLogger, *, device: torch.device, resume_from, load_from,
           validate: bool, seed: int, deterministic: bool, data_root, progress: bool, world_size: int,
           on_evaluate: Callable[[dict], None] | None = None, hparams_from_spec: bool = False,
           on_checkpoint: Callable[[Path], None] | None = None) -> dict:
    rank = get_dist_info()[0]
    log.info("torch %s, device %s, world size %d, seed %d, deterministic %s", torch.__version__, device,
             world_size, seed, deterministic)
    if rank == 0:
        (work_dir / "spec.json").write_text(json.dumps(_jsonable(spec), indent=2))
    phases = [tuple(phase) for phase in spec.get("workflow") or [("train", 1)]]
    if phases not in ([("train", 1)], [("train", 1), ("val", 1)]):
        raise ValueError(f"workflow {phases} is not supported; use [('train', 1)] or [('train', 1), ('val', 1)]")
    workflow_val = len(phases) == 2

    unit, length = runner_length(spec)
    if workflow_val and unit == "iter":
        raise ValueError("workflow ('val', 1) is only supported with an EpochBasedRunner")
    strategy = training_strategy(spec)
    ds_config = None
    if strategy == "deepspeed":
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
    state = TrainState(model=model, optimizer=optimizer, max_epochs=length if unit == "epoch" else 0,
                       max_iters=length if unit == "iter" else 0, iter_based=unit == "iter")

    resume_from = resume_from if resume_from is not None else spec.get("resume_from")
    load_from = load_from if load_from is not None else spec.get("load_from")
    if resume_from == "auto":
        found = broadcast_object(str(find_latest_checkpoint(work_dir) or "") if rank == 0 else None)
        resume_from = found or None
        log.info("auto resume: %s", resume_from or "no checkpoint in the work dir, starting afresh")
    resume_meta: dict = {}
    if resume_from:
        # rank 0 reads, every rank restores: DDP needs equal weights and optimizer states everywhere;
        # DeepSpeed's optimizer state comes from its own checkpoint once the engine exists (below)
        checkpoint = broadcast_object(load_checkpoint(resume_from) if rank == 0 else None)
        meta = resume_meta = restore_training(checkpoint, model, None if ds_config is not None else optimizer,
                                              hparams_from_spec=hparams_from_spec)
        state.epoch, state.iter = int(meta.get("epoch", 0)), int(meta.get("iter", 0))
        state.best = dict(meta.get("best") or {})
        log.info("resumed epoch %d, iter %d from %s", state.epoch, state.iter, resume_from)
    elif load_from:
        checkpoint = broadcast_object(_load_from(str(load_from)) if rank == 0 else None)
        load_weights(model, checkpoint, strict=False)
        log.info("load checkpoint from %s", redact(load_from))

    if ds_config is not None:
        state.model = wrap_deepspeed(model, optimizer, ds_config, device)
        if resume_from:
            tag = resume_meta.get("deepspeed_tag")
            if load_deepspeed_checkpoint(state.model, Path(resume_from).parent / "deepspeed", tag):
                log.info("restored DeepSpeed checkpoint %s (optimizer state)", tag)
            else:
                log.warning("no DeepSpeed checkpoint %s beside %s: weights resumed, optimizer state not", tag,
                            resume_from)
    elif world_size > 1:
        ddp_kwargs: dict[str, Any] = {"find_unused_parameters": bool(spec.get("find_unused_parameters", False))}
        if device.type == "cuda":
            ddp_kwargs["device_ids"] = [device.index]
        state.model = DistributedDataParallel(model, **ddp_kwargs)

    pin = device.type == "cuda"
    train_args = _loader_args(data, "train")
    train_loader = build_dataloader(train_set, train_args["samples_per_gpu"], train_args["workers_per_gpu"],
                                    shuffle=True, seed=seed, drop_last=bool(train_args.get("drop_last", False)),
                                    pin_memory=pin, persistent_workers=bool(train_args.get("persistent_workers")),
                                    sampler_cfg=spec.get("sampler"))
    val_loader = None
    if val_set is not None:
        val_args = _loader_args(data, "val")
        val_loader = build_dataloader(val_set, val_args["samples_per_gpu"], val_args["workers_per_gpu"],
                                      shuffle=False, pin_memory=pin)
    workflow_val_loader = None
    if workflow_val:
        # MMCls's tools/train.py: the val phase reads data.val through the *train* pipeline (labels, loss)
        val_cfg = dict(copy.deepcopy(data["val"]), pipeline=copy.deepcopy(data["train"]["pipeline"]))
        phase_set = build_dataset(val_cfg, data_root=data_root)
        val_args = _loader_args(data, "val")
        workflow_val_loader = build_dataloader(phase_set, val_args["samples_per_gpu"], val_args["workers_per_gpu"],
                                               shuffle=False, pin_memory=pin)

    classes = list(train_set.CLASSES) if train_set.CLASSES is not None else None
    meta = {"spec": _jsonable(spec), "CLASSES": classes, "seed": seed, "world_size": world_size,
            "trainyard_version": _version()}
    names = {value: name for name, value in PRIORITIES.items()}
    # as mmcv registers them: default hooks first, so a custom hook of equal priority runs after them
    order = ["LrUpdaterHook (VERY_HIGH)"] + (["MomentumUpdaterHook (HIGH)"] if momentum_schedule else [])
    order += [f"{type(optimizer_hook).__name__} (ABOVE_NORMAL)", "CheckpointHook (NORMAL)", "EvalHook (LOW)",
              "TextLoggerHook (VERY_LOW)"] + [f"{type(sink).__name__} (VERY_LOW)" for sink in sinks]
    order += [f"{type(h).__name__} ({names.get(h.priority, h.priority)})" for h in hooks]
    log.info("hooks: %s", ", ".join(sorted(order, key=_hook_rank)))
    log.info("Start running, work_dir: %s, max: %d %ss", work_dir, length, unit)
    best = fit(state, train_loader, val_loader, work_dir=work_dir, optimizer_hook=optimizer_hook,
               lr_schedule=lr_schedule, device=device, log=log, log_interval=log_interval,
               eval_settings=eval_settings, ckpt_settings=ckpt_settings, meta=meta, hooks=hooks,
               progress=progress, momentum_schedule=momentum_schedule, workflow_val_loader=workflow_val_loader,
               on_evaluate=on_evaluate, on_checkpoint=on_checkpoint)
    if is_distributed():
        dist.barrier()  # every rank returns once rank 0's last checkpoint is on disk
    if best:
        log.info("best %s: %.4f at epoch %d", best["key"], best["score"], best["epoch"])
        result = {**best["metrics"], "epoch": best["epoch"]}
        if state.iter_based:
            result["iter"] = best.get("iter", state.iter)
        return result
    return {}


def _load_from(location: str) -> dict:
    """``load_from``'s checkpoint: a path, or an object-store URI (``s3://...``, e.g. a forked run's
    checkpoint on the team's storage) fetched to a temporary file first."""
    with fetched(location) as local:
        return load_checkpoint(local)


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
