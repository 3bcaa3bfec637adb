"""The training loop, written out as torchvision's reference scripts do: :func:`train_one_epoch`,
:func:`evaluate`, :func:`fit`, and :func:`train`, which turns a resolved spec into those calls
(building the run's parts in ``assembly.py``, restoring its start in ``resume.py``).

It behaves as MMClassification 0.25's ``EpochBasedRunner`` / ``IterBasedRunner`` with their default hooks
(seed 10.2.1, in their priority order): lr and momentum set before every iteration (``lr_config``,
``momentum_config``), the optimizer step of ``optimizer_config`` (clipping, accumulation, fp16),
losses logged every ``log_config.interval`` iterations as averages over the interval (``meters.py``),
evaluation every ``evaluation.interval`` epochs (iterations) and checkpoints every
``checkpoint_config.interval`` (and after the last; ``checkpoint_policy.py``); ``workflow = [('train', 1),
('val', 1)]`` adds a val-loss epoch after each one. Deliberate difference: evaluation runs *before* the
checkpoint of the same epoch, so each checkpoint record carries its epoch's metrics.

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
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader

from workers.custom_imports import import_custom_modules
from workers.data.transforms.normalize import prepare_images
from workers.engine.assembly import Assembly, assemble, jsonable
from workers.engine.checkpoint_policy import CheckpointPolicy
from workers.engine.dist import (
    broadcast_object,
    get_dist_info,
    init_random_seed,
    is_distributed,
    resolve_device,
    set_random_seed,
)
from workers.engine.hooks import PRIORITIES, Hook, OptimizerHook
from workers.engine.logger import RunLogger, eta_string
from workers.engine.lr_schedules import LrSchedule
from workers.engine.meters import IntervalMeter, max_memory_mb, parse_losses, stack_losses
from workers.engine.momentum_schedules import MomentumSchedule
from workers.engine.predict import predict
from workers.engine.resume import restore_deepspeed_state, restore_start
from workers.engine.sections import CheckpointSettings, EvalSettings
from workers.engine.state import TrainState
from workers.engine.strategy import broadcast_buffers, init_single_process_group, training_strategy
from workers.registry import RUNNERS

__all__ = ["CheckpointSettings", "EvalSettings", "TrainState", "evaluate", "fit", "train", "train_one_epoch",
           "val_loss_epoch"]


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
    interval_meter, epoch_meter = IntervalMeter(), IntervalMeter()
    bar = _progress_bar(state) if progress and log.enabled else None
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
        img = prepare_images(batch, device)  # normalised on the device when the loader deferred it
        gt_label = batch["gt_label"].to(device, non_blocking=True)
        with optimizer_hook.autocast(device):
            losses = model(img, return_loss=True, gt_label=gt_label)
        loss, names, stacked = stack_losses(losses)
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
            record = _train_record(state, count, interval_meter.averages(), lrs, momenta, device,
                                   seconds_per_iter=time_sum / time_count)
            state.last_train = dict(record)
            log.train_record(record, state.epoch_len, step=state.iter,
                             max_iters=state.max_iters if state.iter_based else None)
            interval_meter.reset()
        tick = time.perf_counter()
    if bar is not None:
        bar.close()
    return epoch_meter.averages()


def _progress_bar(state: TrainState):
    """A tqdm bar over the iterations left in this epoch."""
    from tqdm import tqdm

    total = min(state.epoch_len, state.max_iters - state.iter)
    return tqdm(total=total, desc=f"epoch {state.epoch + 1}/{state.max_epochs}", leave=False, dynamic_ncols=True)


def _train_record(state: TrainState, count: int, averages: dict[str, float], lrs: list[float],
                  momenta: list[float | None] | None, device: torch.device, *,
                  seconds_per_iter: float) -> dict[str, Any]:
    """One training record with mmcv's TextLoggerHook keys in its order: ``mode``, ``epoch``, ``iter``
    (``count``), ``lr``, ``momentum``, ``memory`` (CUDA), ``data_time``, the interval's averages (losses,
    ``grad_norm``), ``time`` and ``eta``."""
    record: dict[str, Any] = {"mode": "train", "epoch": state.epoch + 1, "iter": count, "lr": lrs[0]}
    if momenta is not None and momenta[0] is not None:
        record["momentum"] = momenta[0]
    if device.type == "cuda":
        record["memory"] = max_memory_mb(device)
    record["data_time"] = averages.pop("data_time")
    iter_avg = averages.pop("time")
    record.update(averages)
    record["time"] = iter_avg
    record["eta"] = eta_string(seconds_per_iter * (state.max_iters - state.iter))
    return record


@torch.no_grad()
def val_loss_epoch(state: TrainState, data_loader: DataLoader, *, device: torch.device, log: RunLogger,
                   optimizer_hook: OptimizerHook | None = None) -> dict[str, float]:
    """The ``('val', 1)`` workflow phase: losses over ``data_loader`` (built with the *train* pipeline, as
    MMCls's ``tools/train.py`` does), no update; logs one 'val' record of the averages."""
    model = state.model
    was_training = model.training
    model.eval()
    meter = IntervalMeter()
    for batch in data_loader:
        img = prepare_images(batch, device)  # normalised on the device when the loader deferred it
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



def _evaluate_and_checkpoint(state: TrainState, by_epoch: bool, *, val_loader: DataLoader | None,
                             device: torch.device, log: RunLogger, eval_settings: EvalSettings,
                             policy: CheckpointPolicy, on_evaluate: Callable[[dict], None] | None) -> None:
    """What :func:`fit` does after an epoch (``by_epoch``) or an iteration: evaluation where due (and the
    best checkpoint), then the periodic checkpoint where due, then ``on_evaluate``. Deliberate difference
    from mmcv (CheckpointHook NORMAL before EvalHook LOW): evaluation comes first, so each checkpoint
    record carries its own metrics."""
    done = state.epoch if by_epoch else state.iter
    last = state.max_epochs if by_epoch else state.max_iters
    unit = "epoch" if by_epoch else "iter"
    evaluate_now = (val_loader is not None and eval_settings.by_epoch == by_epoch
                    and eval_settings.should_evaluate(done))
    save = policy.due(by_epoch, done, last)
    if evaluate_now or save:
        broadcast_buffers(state.model)  # DeepSpeed: rank 0's BatchNorm statistics, as DDP has them
    metrics: dict[str, float] = {}
    if evaluate_now:
        metrics = evaluate(state.model, val_loader, device, metric=eval_settings.metric,
                           metric_options=eval_settings.metric_options)
        iteration = state.iter if state.iter_based else len(val_loader)
        log.val_record({"mode": "val", "epoch": state.epoch, "iter": iteration,
                        "lr": state.optimizer.param_groups[0]["lr"], **metrics}, step=state.iter)
        policy.update_best(state, metrics, unit, done)
    saved = policy.save(state, unit, done, metrics) if save else None
    if policy.saved or save:
        policy.publish()
    if evaluate_now and on_evaluate is not None:
        # every rank (a Ray Tune report is collective); after the checkpoint, so that a scheduler
        # that stops or clones the trial here (ASHA, PBT) finds this evaluation's weights on disk
        on_evaluate({**metrics, "epoch": state.epoch, "iter": state.iter,
                     "checkpoint": str(saved) if saved else None})


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
    policy = CheckpointPolicy(work_dir, log, eval_settings, ckpt_settings, meta, on_checkpoint)
    epoch_len = len(train_loader)
    if state.iter_based:
        state.max_epochs = -(-state.max_iters // epoch_len)
    else:
        state.max_iters = state.max_epochs * epoch_len

    def after_step(current: TrainState, by_epoch: bool) -> None:
        _evaluate_and_checkpoint(current, by_epoch, val_loader=val_loader, device=device, log=log,
                                 eval_settings=eval_settings, policy=policy, on_evaluate=on_evaluate)

    def after_iter(current: TrainState) -> None:
        after_step(current, by_epoch=False)

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
            after_step(state, by_epoch=True)
        if workflow_val_loader is not None:
            broadcast_buffers(state.model)
            val_loss_epoch(state, workflow_val_loader, device=device, log=log, optimizer_hook=optimizer_hook)
    broadcast_buffers(state.model)
    for hook in hooks:
        hook.after_run(state)
    return state.best


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
    # the spec's custom_imports register their types before anything is built; each module is checked
    # against this process's allowlist again (a Ray job gets the operator's in its environment)
    import_custom_modules(spec)
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
        return _run(spec, work_dir, log, device=device, resume_from=resume_from, load_from=load_from,
                    validate=validate, seed=seed, deterministic=deterministic, data_root=data_root,
                    progress=progress, world_size=world_size, on_evaluate=on_evaluate,
                    hparams_from_spec=hparams_from_spec, on_checkpoint=on_checkpoint)
    finally:
        log.close()


def _run(spec: dict, work_dir: Path, log: RunLogger, *, device: torch.device, resume_from, load_from,
         validate: bool, seed: int, deterministic: bool, data_root, progress: bool, world_size: int,
         on_evaluate: Callable[[dict], None] | None = None, hparams_from_spec: bool = False,
         on_checkpoint: Callable[[Path], None] | None = None) -> dict:
    """:func:`train` once its logger is open: build the run, restore its start, wrap the model, fit."""
    log.info("torch %s, device %s, world size %d, seed %d, deterministic %s", torch.__version__, device,
             world_size, seed, deterministic)
    if get_dist_info()[0] == 0:
        (work_dir / "spec.json").write_text(json.dumps(jsonable(spec), indent=2))
    run = assemble(spec, work_dir, log, device=device, seed=seed, world_size=world_size, validate=validate,
                   data_root=data_root)
    state = run.start_state()
    resumed_from, resumed_meta = restore_start(
        state, work_dir, log, resume_from=resume_from if resume_from is not None else spec.get("resume_from"),
        load_from=load_from if load_from is not None else spec.get("load_from"),
        restore_optimizer=run.ds_config is None, hparams_from_spec=hparams_from_spec,
        load_from_partial=bool(spec.get("load_from_partial", False)))
    state.model = run.wrap(device, world_size)
    if run.ds_config is not None and resumed_from:
        restore_deepspeed_state(state.model, resumed_from, resumed_meta, log)
    log.info("hooks: %s", ", ".join(run.hook_order()))
    log.info("Start running, work_dir: %s, max: %d %ss", work_dir, run.length, run.unit)
    best = _fit_run(state, run, work_dir, log, device=device, progress=progress, on_evaluate=on_evaluate,
                    on_checkpoint=on_checkpoint)
    if is_distributed():
        dist.barrier()  # every rank returns once rank 0's last checkpoint is on disk
    if not best:
        return {}
    log.info("best %s: %.4f at epoch %d", best["key"], best["score"], best["epoch"])
    result = {**best["metrics"], "epoch": best["epoch"]}
    if state.iter_based:
        result["iter"] = best.get("iter", state.iter)
    return result


def _fit_run(state: TrainState, run: Assembly, work_dir: Path, log: RunLogger, *, device: torch.device,
             progress: bool, on_evaluate: Callable[[dict], None] | None,
             on_checkpoint: Callable[[Path], None] | None) -> dict:
    """:func:`fit` with the parts of an assembled run."""
    return fit(state, run.train_loader, run.val_loader, work_dir=work_dir, optimizer_hook=run.optimizer_hook,
               lr_schedule=run.lr_schedule, device=device, log=log, log_interval=run.log_interval,
               eval_settings=run.eval_settings, ckpt_settings=run.ckpt_settings, meta=run.meta, hooks=run.hooks,
               progress=progress, momentum_schedule=run.momentum_schedule,
               workflow_val_loader=run.workflow_val_loader, on_evaluate=on_evaluate, on_checkpoint=on_checkpoint)
