"""Which checkpoints a run writes and when (mmcv 1.x's ``CheckpointHook`` and ``EvalHook(save_best=...)``):
``<unit>_N.pth`` every ``checkpoint_config.interval`` epochs (iterations) and after the last, pruned to
``max_keep_ckpts``; ``best_<key>_<unit>_N.pth`` whenever an evaluation beats the best so far, replacing
the previous one. Under DeepSpeed every rank takes part (ZeRO-3 gathers weights, each rank writes its
optimizer partition); rank 0 writes the ``.pth`` files and tells the reporter of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from workers.engine.checkpoint import remove_old_checkpoints, save_checkpoint
from workers.engine.dist import get_dist_info
from workers.engine.logger import RunLogger
from workers.engine.sections import CheckpointSettings, EvalSettings
from workers.engine.state import TrainState
from workers.engine.strategy import (
    full_state_dict,
    is_deepspeed_engine,
    prune_deepspeed_checkpoints,
    save_deepspeed_checkpoint,
)

__all__ = ["CheckpointPolicy"]


class CheckpointPolicy:
    """Saves the periodic and the best checkpoints of a run and hands their records on.

    Records of a step's checkpoints wait in :attr:`saved` until :meth:`publish`, which runs
    ``on_checkpoint`` first, so that a record always names a stored file.

    Args:
        work_dir: The run's folder (checkpoints go there unless ``checkpoint_config.out_dir``).
        log: The run's logger / reporter.
        eval_settings: ``evaluation`` (``save_best``, ``rule``).
        ckpt_settings: ``checkpoint_config``.
        meta: Saved in every checkpoint's ``meta`` (spec, CLASSES, seed, ...).
        on_checkpoint: Called on every rank with the checkpoint folder after each step that saved one.
    """

    def __init__(self, work_dir: Path, log: RunLogger, eval_settings: EvalSettings,
                 ckpt_settings: CheckpointSettings, meta: dict,
                 on_checkpoint: Callable[[Path], None] | None = None):
        self.work_dir = work_dir
        self.log = log
        self.eval_settings = eval_settings
        self.settings = ckpt_settings
        self.meta = meta
        self.on_checkpoint = on_checkpoint
        self.saved: list[tuple[Path, int, int, dict]] = []

    def due(self, by_epoch: bool, done: int, last: int) -> bool:
        """Whether a periodic checkpoint is due after ``done`` of ``last`` epochs (iterations)."""
        return self.settings.by_epoch == by_epoch and self.settings.should_save(done, last)

    def update_best(self, state: TrainState, metrics: dict[str, float], unit: str, done: int) -> None:
        """Make ``metrics`` ``state.best`` if they beat it (on ``evaluation.save_best``, else the first
        metric) and, with ``save_best``, save ``best_<key>_<unit>_<done>.pth`` in place of the previous one.
        Every rank calls this (ZeRO-3 gathers the weights)."""
        settings, rank = self.eval_settings, get_dist_info()[0]
        key = settings.save_best
        if key in (None, "auto"):
            key = next(iter(metrics))
        if key not in metrics:
            raise KeyError(f"evaluation.save_best={key!r} is not one of the metrics {list(metrics)}")
        if not _is_better(settings, key, metrics[key], state.best):
            return
        previous = state.best.get("checkpoint")
        state.best = {"key": key, "score": metrics[key], "epoch": state.epoch, "iter": state.iter,
                      "metrics": dict(metrics), "checkpoint": None}
        if not settings.save_best:
            return
        weights, optimizer = self._weights(state)
        if rank != 0:
            return
        path = self.settings.folder(self.work_dir) / f"best_{key}_{unit}_{done}.pth"
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

    def save(self, state: TrainState, unit: str, done: int, metrics: dict) -> Path | None:
        """Save the periodic checkpoint ``<unit>_<done>.pth`` (every rank takes part) and prune old ones;
        its path on rank 0, else ``None``."""
        settings = self.settings
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

    def publish(self) -> None:
        """After this step's checkpoints: ``on_checkpoint`` (every rank: e.g. copy them to an object store),
        then their records (rank 0) to the reporter."""
        if self.on_checkpoint is not None:
            self.on_checkpoint(self.settings.folder(self.work_dir))
        for path, epoch, iteration, metrics in self.saved:
            self.log.checkpoint(path, epoch, iteration, metrics)
        self.saved.clear()

    def _weights(self, state: TrainState) -> tuple[dict | None, torch.optim.Optimizer | None]:
        """The weights to save (``None``: the model's own) and the optimizer to save, if any. Under
        DeepSpeed every rank must call this; the optimizer state lives in DeepSpeed's checkpoint."""
        if is_deepspeed_engine(state.model):
            return full_state_dict(state.model), None
        return None, state.optimizer if self.settings.save_optimizer else None


def _is_better(settings: EvalSettings, key: str, score: float, best: dict) -> bool:
    if not best:
        return True
    return score > best["score"] if settings.greater_is_better(key) else score < best["score"]
