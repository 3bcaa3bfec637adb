"""The run's logs: a text log ``<timestamp>.log``, mmcv-style JSON lines ``<timestamp>.log.json``, the
console (through tqdm when progress bars are shown) and the reporter.

The reporter protocol is duck-typed (``None`` disables it), and only rank 0 calls it:

- ``reporter.log(line: str)`` for every log line;
- ``reporter.metrics(step: int, values: dict[str, float], epoch: int, mode: str)`` for 'train' points
  each log interval and 'val' points after each evaluation (``step`` is the global iteration);
- ``reporter.checkpoint(path: str, epoch: int, iteration: int, metrics: dict)`` after each checkpoint.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["RunLogger", "format_train_line", "format_val_line"]

LOGGER_NAME = "workers"
_FORMAT = "%(asctime)s - trainyard - %(levelname)s - %(message)s"
_HIDDEN = ("mode", "epoch", "iter", "lr", "momentum", "time", "data_time", "memory", "eta")


class _ReporterHandler(logging.Handler):
    def __init__(self, reporter: Any):
        super().__init__()
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        for line in self.format(record).splitlines():
            self.reporter.log(line)


class _TqdmHandler(logging.StreamHandler):
    """Writes through ``tqdm.write`` so that log lines do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _items(record: dict) -> str:
    parts = []
    for name, value in record.items():
        if name in _HIDDEN:
            continue
        parts.append(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}")
    return ", ".join(parts)


def format_train_line(record: dict, epoch_len: int, max_iters: int | None = None) -> str:
    """mmcv's TextLoggerHook line: ``Epoch [1][10/45]\\tlr: 1.000e-01, eta: ..., time: ..., loss: ...``
    (``Iter [10/1000]\\t...`` for an IterBasedRunner, when ``max_iters`` is given)."""
    if max_iters is not None:
        head = f"Iter [{record['iter']}/{max_iters}]\tlr: {record['lr']:.3e}, "
    else:
        head = f"Epoch [{record['epoch']}][{record['iter']}/{epoch_len}]\tlr: {record['lr']:.3e}, "
    if "eta" in record:
        head += f"eta: {record['eta']}, "
    if "time" in record:
        head += f"time: {record['time']:.3f}, data_time: {record['data_time']:.3f}, "
    if "memory" in record:
        head += f"memory: {record['memory']}, "
    return head + _items(record)


def format_val_line(record: dict) -> str:
    """``Epoch(val) [1][12]\\taccuracy_top-1: 97.5000, accuracy_top-5: 100.0000``."""
    return f"Epoch(val) [{record['epoch']}][{record['iter']}]\t" + _items(record)


class RunLogger:
    """Everything a run writes about itself; on ranks other than 0 it only passes warnings to stderr.

    Args:
        work_dir: Where the logs go.
        timestamp: Name of the log files (``%Y%m%d_%H%M%S``).
        reporter: The reporter, or ``None``.
        enabled: Whether this process writes (rank 0).
        console: Also print log lines to stderr.
        progress: Console lines go through ``tqdm.write``.
    """

    def __init__(self, work_dir: str | Path, timestamp: str, reporter: Any = None, enabled: bool = True,
                 console: bool = True, progress: bool = False):
        self.enabled = enabled
        self.reporter = reporter if enabled else None
        self.logger = logging.getLogger(LOGGER_NAME)
        self._saved = (self.logger.level, self.logger.propagate, list(self.logger.handlers))
        self._handlers: list[logging.Handler] = []
        self.log_file = Path(work_dir) / f"{timestamp}.log"
        self.json_file = Path(work_dir) / f"{timestamp}.log.json"
        self.sinks = []
        if not enabled:
            self.logger.setLevel(logging.WARNING)
            return
        formatter = logging.Formatter(_FORMAT)
        handlers: list[logging.Handler] = [logging.FileHandler(self.log_file, encoding="utf-8")]
        if console:
            handlers.append(_TqdmHandler() if progress else logging.StreamHandler(sys.stderr))
        if reporter is not None:
            handlers.append(_ReporterHandler(reporter))
        for handler in handlers:
            handler.setFormatter(formatter)
            self.logger.addHandler(handler)
        self._handlers = handlers
        self.sinks: list[Any] = []
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False

    def info(self, message: str, *args) -> None:
        self.logger.info(message, *args)

    def warning(self, message: str, *args) -> None:
        self.logger.warning(message, *args)

    def json(self, record: dict) -> None:
        """Append one record to the JSON log."""
        if self.enabled:
            with open(self.json_file, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def train_record(self, record: dict, epoch_len: int, step: int, max_iters: int | None = None) -> None:
        """Log a training record (text, JSON, sinks such as TensorBoard) and report its numbers as 'train'
        metric points. ``max_iters`` selects the IterBasedRunner's line."""
        if self.enabled:
            self._emit(format_train_line(record, epoch_len, max_iters), record, step, "train",
                       unlogged=("eta",), unreported=("mode", "epoch", "iter", "eta"))

    def val_record(self, record: dict, step: int) -> None:
        """Log an evaluation record and report its metrics as 'val' points."""
        if self.enabled:
            self._emit(format_val_line(record), record, step, "val", unlogged=(),
                       unreported=("mode", "epoch", "iter", "lr"))

    def _emit(self, line: str, record: dict, step: int, kind: str, *, unlogged: tuple[str, ...],
              unreported: tuple[str, ...]) -> None:
        """The text line, the JSON record (without ``unlogged`` keys), the sinks, then the reporter's
        ``kind`` metric points (the numbers not in ``unreported``)."""
        self.info(line)
        self.json({k: v for k, v in record.items() if k not in unlogged})
        for sink in self.sinks:
            sink.write(record, step)
        if self.reporter is not None:
            values = {k: float(v) for k, v in record.items() if k not in unreported and isinstance(v, (int, float))}
            self.reporter.metrics(step, values, record["epoch"], kind)

    def checkpoint(self, path: str | Path, epoch: int, iteration: int, metrics: dict) -> None:
        if self.enabled and self.reporter is not None:
            self.reporter.checkpoint(str(path), epoch, iteration, dict(metrics))

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        for handler in self._handlers:
            self.logger.removeHandler(handler)
            handler.close()
        level, propagate, _ = self._saved
        self.logger.setLevel(level)
        self.logger.propagate = propagate


def eta_string(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds)))
