"""What the loop measures: the losses a model returns, parsed into the loss to optimise and the values to
log (MMCls's ``_parse_losses``), and the sample-weighted averages of those values over a log interval
(mmcv's ``LogBuffer``)."""

from __future__ import annotations

import torch
import torch.distributed as dist

from workers.engine.dist import is_distributed

__all__ = ["IntervalMeter", "max_memory_mb", "parse_losses", "stack_losses"]


class IntervalMeter:
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


def stack_losses(losses: dict) -> tuple[torch.Tensor, tuple[str, ...], torch.Tensor]:
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
    loss, names, stacked = stack_losses(losses)
    return loss, dict(zip(names, stacked.cpu().tolist(), strict=True))


def max_memory_mb(device: torch.device) -> int:
    """Peak CUDA memory since the last call, in MiB (mmcv's ``memory`` field); resets the peak."""
    memory = torch.cuda.max_memory_allocated(device) // (1024 * 1024)
    torch.cuda.reset_peak_memory_stats(device)
    return int(memory)
