"""Hooks: the optimizer step of ``optimizer_config``, logger hooks of ``log_config`` and ``custom_hooks``.

The loop itself is explicit (see ``loop.py``); hooks only add behaviour at fixed points. A hook gets
the :class:`~workers.engine.state.TrainState` at ``before_run``, ``before_train_epoch``,
``before_train_iter``, ``after_train_iter``, ``after_train_epoch`` and ``after_run``. ``custom_hooks``
run in order of ``priority`` (mmcv's names or 0..100, lower first; default ``'NORMAL'``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from workers.data.transforms.normalize import prepare_images
from workers.engine.checkpoint import unwrap_model
from workers.engine.dist import get_dist_info
from workers.registry import HOOKS

__all__ = ["PRIORITIES", "EMAHook", "EmptyCacheHook", "Fp16OptimizerHook", "GradientCumulativeFp16OptimizerHook",
           "GradientCumulativeOptimizerHook", "Hook", "LoggerHook", "OptimizerHook", "PreciseBNHook", "TensorboardLoggerHook", "TextLoggerHook",
           "build_custom_hooks"]

logger = logging.getLogger(__name__)

PRIORITIES = {"HIGHEST": 0, "VERY_HIGH": 10, "HIGH": 30, "ABOVE_NORMAL": 40, "NORMAL": 50,
              "BELOW_NORMAL": 60, "LOW": 70, "VERY_LOW": 90, "LOWEST": 100}


class Hook:
    """Base hook: every stage is a no-op."""

    priority: int = PRIORITIES["NORMAL"]

    def before_run(self, state) -> None:
        pass

    def before_train_epoch(self, state) -> None:
        pass

    def before_train_iter(self, state) -> None:
        pass

    def after_train_iter(self, state) -> None:
        pass

    def after_train_epoch(self, state) -> None:
        pass

    def after_run(self, state) -> None:
        pass


@HOOKS.register()
class OptimizerHook(Hook):
    """The optimizer step of ``optimizer_config``: backward, optional gradient clipping, step.

    Subclasses add mmcv's gradient accumulation (``cumulative_iters``) and mixed precision; the base
    class does both with ``cumulative_iters=1`` and AMP off.

    Args:
        grad_clip: ``dict(max_norm=..., norm_type=2)`` for ``clip_grad_norm_``, or ``None``.
        detect_anomalous_params: Accepted for mmcv compatibility; ignored.
    """

    cumulative_iters: int = 1
    amp: bool = False

    def __init__(self, grad_clip: dict | None = None, detect_anomalous_params: bool = False):
        self.grad_clip = dict(grad_clip) if grad_clip else None
        self.loss_scale: float | str = "dynamic"
        self.scaler: torch.amp.GradScaler | None = None
        self._divisible_iters: int | None = None
        self._remainder_iters = 0

    def autocast(self, device: torch.device):
        """The context the forward pass runs in: AMP autocast (fp16 on CUDA, bf16 on CPU) or nothing."""
        if not self.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        return torch.autocast(device.type, dtype=dtype)

    def _prepare(self, loss: torch.Tensor, model: nn.Module, iteration: int, max_iters: int | None) -> None:
        # mmcv's GradientCumulativeOptimizerHook._init: the iterations left are split into a part
        # divisible by cumulative_iters (loss / cumulative_iters) and a remainder (loss / remainder)
        if self.cumulative_iters > 1:
            if iteration % self.cumulative_iters != 0:
                warnings.warn("Resume iter number is not divisible by cumulative_iters in "
                              "GradientCumulativeOptimizerHook, which means the gradient of some iters is lost and "
                              "the result may be influenced slightly.", stacklevel=3)
            if any(isinstance(m, _BatchNorm) for m in model.modules()):
                warnings.warn("GradientCumulativeOptimizerHook may slightly decrease performance if the model has "
                              "BatchNorm layers.", stacklevel=3)
        residual = (max_iters - iteration) if max_iters is not None else 0
        self._divisible_iters = residual // self.cumulative_iters * self.cumulative_iters
        self._remainder_iters = residual - self._divisible_iters
        if self.amp and loss.device.type == "cuda":
            init = 2.0**16 if self.loss_scale == "dynamic" else float(self.loss_scale)
            # a static scale never grows; mmcv's static scaler does not skip steps either, but torch's does
            growth = 2000 if self.loss_scale == "dynamic" else 2**31 - 1
            self.scaler = torch.amp.GradScaler("cuda", init_scale=init, growth_interval=growth)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, model: nn.Module, *,
             iteration: int = 0, max_iters: int | None = None) -> float | None:
        """Backpropagate ``loss`` and step when due; return the grad norm when clipping.

        Args:
            loss: This iteration's loss.
            optimizer: The optimizer.
            model: The model (its parameters are clipped).
            iteration: Iterations completed before this one (mmcv's ``runner.iter``).
            max_iters: Iterations of the run (for the last, partial accumulation).
        """
        if self._divisible_iters is None:
            self._prepare(loss, model, iteration, max_iters)
        if self.cumulative_iters == 1:
            optimizer.zero_grad(set_to_none=True)
        else:
            factor = self.cumulative_iters if iteration < self._divisible_iters else self._remainder_iters
            loss = loss / factor
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        done = iteration + 1
        if done % self.cumulative_iters != 0 and done != max_iters:
            return None
        grad_norm = None
        if self.grad_clip is not None:
            if self.scaler is not None:
                self.scaler.unscale_(optimizer)
            params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
            if params:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, **self.grad_clip))
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
        if self.cumulative_iters > 1:
            optimizer.zero_grad(set_to_none=True)
        return grad_norm


def _check_cumulative_iters(cumulative_iters) -> None:
    """mmcv's check of ``optimizer_config.cumulative_iters``, with its message."""
    if not isinstance(cumulative_iters, int) or cumulative_iters <= 0:
        raise ValueError(f"cumulative_iters only accepts positive int, but got {cumulative_iters!r}")


@HOOKS.register()
class GradientCumulativeOptimizerHook(OptimizerHook):
    """Accumulate gradients over ``cumulative_iters`` iterations, then step (mmcv semantics: the loss is
    divided by ``cumulative_iters``, or by the remainder in the last, shorter group of the run).

    Args:
        cumulative_iters: Iterations per optimizer step.
        **kwargs: Those of :class:`OptimizerHook`.
    """

    def __init__(self, cumulative_iters: int = 1, **kwargs):
        _check_cumulative_iters(cumulative_iters)
        super().__init__(**kwargs)
        self.cumulative_iters = cumulative_iters


@HOOKS.register()
class Fp16OptimizerHook(OptimizerHook):
    """Mixed precision through torch AMP: fp16 autocast with a ``GradScaler`` on CUDA, bf16 autocast on
    CPU (no scaling needed). ``fp16 = dict(loss_scale=...)`` in a spec selects it (MMCls's ``train_model``).

    Args:
        loss_scale: ``'dynamic'`` or a fixed initial scale (e.g. ``512.``).
        distributed: Accepted for mmcv compatibility.
        **kwargs: Those of :class:`OptimizerHook`.
    """

    amp = True

    def __init__(self, loss_scale: float | str | dict = 512.0, distributed: bool = True,
                 coalesce: bool = True, bucket_size_mb: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(loss_scale, dict):  # mmcv's dict(init_scale=..., mode='dynamic')
            loss_scale = loss_scale.get("init_scale", "dynamic")
        self.loss_scale = loss_scale


@HOOKS.register()
class GradientCumulativeFp16OptimizerHook(Fp16OptimizerHook):
    """:class:`Fp16OptimizerHook` with ``cumulative_iters``."""

    def __init__(self, cumulative_iters: int = 1, **kwargs):
        _check_cumulative_iters(cumulative_iters)
        super().__init__(**kwargs)
        self.cumulative_iters = cumulative_iters


@HOOKS.register()
class EMAHook(Hook):
    """An exponential moving average of the parameters, kept in ``ema_*`` buffers of the model (so it is
    checkpointed and resumed with it), mmcv 1.x's ``EMAHook``. The EMA weights are swapped into the model
    at the end of each epoch (evaluation and checkpoints see them) and swapped back before the next.

    ``ema = (1 - m) * ema + m * param`` every ``interval`` iterations, with
    ``m = min(momentum ** interval, (1 + i) / (warm_up + i))`` at iteration ``i``.

    Args:
        momentum: Weight of the new value, in (0, 1).
        interval: Iterations between updates.
        warm_up: Iterations over which ``m`` starts larger.
        resume_from: Accepted for mmcv compatibility; use the spec's ``resume_from``.
    """

    def __init__(self, momentum: float = 0.0002, interval: int = 1, warm_up: int = 100,
                 resume_from: str | None = None):
        if not isinstance(interval, int) or interval <= 0:
            raise ValueError(f"interval must be a positive int, got {interval!r}")
        if not 0 < momentum < 1:
            raise ValueError(f"momentum must be in (0, 1), got {momentum}")
        self.momentum = momentum**interval
        self.interval = interval
        self.warm_up = warm_up
        if resume_from is not None:
            raise NotImplementedError("EMAHook.resume_from: set the spec's resume_from instead")

    def register(self, model: nn.Module) -> None:
        """Add the ``ema_*`` buffers (copies of the parameters) to ``model`` if it lacks them; the engine
        calls this before resuming, so that a checkpoint's averages load into them."""
        for name, param in model.named_parameters(recurse=True):
            buffer_name = f"ema_{name.replace('.', '_')}"
            if not hasattr(model, buffer_name):
                model.register_buffer(buffer_name, param.data.clone())

    def before_run(self, state) -> None:
        model = state.model.module if hasattr(state.model, "module") else state.model
        self.register(model)
        self.params = dict(model.named_parameters(recurse=True))
        self.buffer_names = {name: f"ema_{name.replace('.', '_')}" for name in self.params}
        self.buffers = dict(model.named_buffers(recurse=True))

    def after_train_iter(self, state) -> None:
        step = state.iter - 1  # mmcv's runner.iter: this iteration's index
        momentum = min(self.momentum, (1 + step) / (self.warm_up + step))
        if step % self.interval != 0:
            return
        for name, param in self.params.items():
            self.buffers[self.buffer_names[name]].mul_(1 - momentum).add_(param.data, alpha=momentum)

    def _swap(self) -> None:
        for name, param in self.params.items():
            buffer = self.buffers[self.buffer_names[name]]
            temp = param.data.clone()
            param.data.copy_(buffer.data)
            buffer.data.copy_(temp)

    def before_train_epoch(self, state) -> None:
        self._swap()

    def after_train_epoch(self, state) -> None:
        self._swap()


@torch.no_grad()
def update_bn_stats(model: nn.Module, data_loader, num_samples: int = 8192) -> int:
    """Set the running statistics of ``model``'s training-mode BatchNorm layers to the plain average of
    per-batch means and variances over about ``num_samples`` training samples (all ranks together),
    as MMCls 0.25's ``update_bn_stats`` (from pycls). The weights are unchanged.

    Args:
        model: The model (DDP-wrapped or not), in training mode.
        data_loader: Training batches (``img``, ``gt_label``); its batch size is per rank.
        num_samples: Samples to use; fewer when the loader has fewer batches.

    Returns:
        The number of batches each rank ran (0 when the model has no BatchNorm in training mode).
    """
    module = unwrap_model(model)
    _, world_size = get_dist_info()
    num_iter = min(num_samples // (data_loader.batch_size * world_size), len(data_loader))
    bn_layers = [m for m in module.modules() if m.training and isinstance(m, _BatchNorm)]
    if not bn_layers:
        logger.warning("No BN found in model")
        return 0
    logger.info("%d BN found, run %d iters...", len(bn_layers), num_iter)
    if any(m.training and isinstance(m, (nn.GroupNorm, _InstanceNorm))
           for m in module.modules()):
        logger.info("IN/GN stats will not be updated in PreciseHook.")
    means = [torch.zeros_like(bn.running_mean) for bn in bn_layers]
    variances = [torch.zeros_like(bn.running_var) for bn in bn_layers]
    momenta = [bn.momentum for bn in bn_layers]
    for bn in bn_layers:
        bn.momentum = 1.0  # the running statistics become those of the last batch
    device = next(module.parameters()).device
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    for batch in itertools.islice(data_loader, num_iter):
        # the training forward (MMCls calls train_step), loss included, without the optimizer step
        module(prepare_images(batch, device, dtype=dtype), return_loss=True, gt_label=batch["gt_label"].to(device))
        for i, bn in enumerate(bn_layers):
            means[i] += bn.running_mean / num_iter
            variances[i] += bn.running_var / num_iter
    if world_size > 1:
        for tensor in means + variances:
            dist.all_reduce(tensor)
            tensor.div_(world_size)
    for bn, mean, variance, momentum in zip(bn_layers, means, variances, momenta, strict=True):
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(variance)
        bn.momentum = momentum
    return num_iter


@HOOKS.register()
class PreciseBNHook(Hook):
    """Recompute BatchNorm statistics with the weights fixed, every ``interval`` epochs before evaluation
    (MMCls 0.25, used by the RegNet specs; Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021, Sec. 3).

    During training the running averages mix statistics of ever-changing weights; this replaces them
    with the true average of per-batch statistics of the current weights. It reads the training loader
    that :func:`~workers.engine.loop.fit` hands over in ``state.data_loader``. Give it priority
    ``'ABOVE_NORMAL'`` (as the specs do) so that it runs before ``EMAHook`` swaps weights; the engine
    evaluates and checkpoints after every ``after_train_epoch`` hook.

    Args:
        num_samples: Training samples (over all ranks) to average over.
        interval: Epochs between recomputations.
    """

    def __init__(self, num_samples: int = 8192, interval: int = 1):
        if not (isinstance(interval, int) and interval > 0 and isinstance(num_samples, int) and num_samples > 0):
            raise ValueError(f"PreciseBNHook needs positive int interval and num_samples, got {interval!r}, "
                             f"{num_samples!r}")
        self.num_samples = num_samples
        self.interval = interval

    def before_run(self, state) -> None:
        if state.iter_based:
            raise ValueError("PreciseBN only supports `EpochBasedRunner` by now")

    def after_train_epoch(self, state) -> None:
        if (state.epoch + 1) % self.interval != 0:  # state.epoch: the epoch just trained, 0-based
            return
        if state.data_loader is None:
            raise RuntimeError("PreciseBNHook needs the training data loader in state.data_loader")
        logger.info("Running Precise BN for %d items...", self.num_samples)
        update_bn_stats(state.model, state.data_loader, self.num_samples)
        logger.info("Finish Precise BN, BN stats updated.")


@HOOKS.register()
class TextLoggerHook(Hook):
    """The text and JSON logs; the engine always writes them, so this entry only accepts its arguments.

    Args:
        by_epoch: Accepted for mmcv compatibility (logs are by epoch).
        interval: Accepted; ``log_config.interval`` rules.
        ignore_last: Accepted; a last partial interval is not logged, as in mmcv.
    """

    def __init__(self, by_epoch: bool = True, interval: int = 10, ignore_last: bool = True, **kwargs):
        self.by_epoch = by_epoch


class LoggerHook(Hook):
    """A logger hook of ``log_config.hooks`` that writes the logged records somewhere (rank 0 only): the engine
    calls :meth:`open` with the run's work dir before training, :meth:`write` with each training and
    evaluation record (``log_config.interval``) and :meth:`close` when the run ends, failed or not."""

    def open(self, work_dir) -> None:
        pass

    def write(self, record: dict, step: int) -> None:
        pass

    def close(self) -> None:
        pass


def loggable_scalars(record: dict) -> dict[str, float]:
    """The numbers of a log record under mmcv's ``LoggerHook.get_loggable_tags`` names: ``learning_rate``,
    ``momentum``, and ``<mode>/<key>`` (``train/loss``, ``val/accuracy_top-1``); bookkeeping keys dropped."""
    mode = record.get("mode", "train")
    out = {}
    for key, value in record.items():
        if key in ("mode", "epoch", "iter", "eta", "time", "data_time", "memory") or isinstance(value, bool):
            continue
        if not isinstance(value, (int, float)):
            continue
        if key == "lr":
            out["learning_rate"] = float(value)
        elif key == "momentum":
            out["momentum"] = float(value)
        else:
            out[f"{mode}/{key}"] = float(value)
    return out


@HOOKS.register()
class TensorboardLoggerHook(LoggerHook):
    """Write the logged numbers as TensorBoard scalars (mmcv's tags: ``train/loss``, ``val/accuracy_top-1``,
    ``learning_rate``, ``momentum``), through tensorboardX or ``torch.utils.tensorboard``.

    Args:
        log_dir: Folder of the event files (default: ``<work_dir>/tf_logs``).
        interval, ignore_last, reset_flag, by_epoch: Accepted for mmcv compatibility; records come at
            ``log_config.interval``.
    """

    def __init__(self, log_dir: str | None = None, interval: int = 10, ignore_last: bool = True,
                 reset_flag: bool = False, by_epoch: bool = True):
        self.log_dir = log_dir
        self.writer = None

    def open(self, work_dir) -> None:
        """Create the writer (rank 0 only)."""
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as error:
                raise ImportError("TensorboardLoggerHook needs tensorboardX or tensorboard installed") from error
        from pathlib import Path

        self.writer = SummaryWriter(str(self.log_dir or Path(work_dir) / "tf_logs"))

    def write(self, record: dict, step: int) -> None:
        """Add the record's numbers as scalars at global iteration ``step``."""
        if self.writer is None:
            return
        for tag, value in loggable_scalars(record).items():
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@HOOKS.register()
class EmptyCacheHook(Hook):
    """Release cached CUDA memory after each epoch (and optionally each iteration).

    Args:
        before_epoch: Also before each epoch.
        after_epoch: After each epoch.
        after_iter: After each iteration.
    """

    def __init__(self, before_epoch: bool = False, after_epoch: bool = True, after_iter: bool = False):
        self._before_epoch, self._after_epoch, self._after_iter = before_epoch, after_epoch, after_iter

    @staticmethod
    def _empty() -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def before_train_epoch(self, state) -> None:
        if self._before_epoch:
            self._empty()

    def after_train_epoch(self, state) -> None:
        if self._after_epoch:
            self._empty()

    def after_train_iter(self, state) -> None:
        if self._after_iter:
            self._empty()


def _priority(value: str | int) -> int:
    if isinstance(value, int):
        if not 0 <= value <= 100:
            raise ValueError(f"priority must be in 0..100, got {value}")
        return value
    if value.upper() not in PRIORITIES:
        raise ValueError(f"priority must be an int or one of {list(PRIORITIES)}, got {value!r}")
    return PRIORITIES[value.upper()]


def build_custom_hooks(cfgs: list[dict] | None) -> list[Hook]:
    """Build ``custom_hooks``, sorted by priority (stable)."""
    hooks = []
    for cfg in cfgs or []:
        cfg = dict(cfg)
        priority = _priority(cfg.pop("priority", "NORMAL"))
        hook = HOOKS.build(cfg)
        hook.priority = priority
        hooks.append(hook)
    return sorted(hooks, key=lambda h: h.priority)
