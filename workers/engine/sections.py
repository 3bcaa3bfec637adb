"""What the spec's ``evaluation`` and ``checkpoint_config`` sections mean (mmcv 1.x's ``EvalHook`` and
``CheckpointHook`` arguments), read once and checked for unknown keys before training starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobspecs import training

__all__ = ["CheckpointSettings", "EvalSettings"]


@dataclass
class EvalSettings:
    """The spec's ``evaluation`` section (mmcv's ``EvalHook`` arguments).

    ``by_epoch`` follows the runner, as MMCls's ``train_model`` sets it (``False`` for an IterBasedRunner):
    ``interval`` and ``start`` then count iterations. ``metric_options`` stays None unless the spec gives
    them: the dataset's ``evaluate`` has its own default (``topk=(1, 5)`` for a single-label dataset,
    ``thr=0.5`` for a multi-label one, as in MMCls 0.25; ``jobspecs.training.metric_names`` names them).
    """

    interval: int = 1
    start: int | None = None
    metric: str | list[str] = "accuracy"
    metric_options: dict | None = None
    save_best: str | None = None
    rule: str | None = None
    by_epoch: bool = True

    _IGNORED = ("gpu_collect", "tmpdir", "broadcast_bn_buffer", "efficient_test")

    @classmethod
    def from_cfg(cls, cfg: dict | None, by_epoch: bool = True) -> EvalSettings:
        cfg = dict(cfg or {})
        for key in cls._IGNORED:
            cfg.pop(key, None)
        cfg["by_epoch"] = by_epoch
        known = {"interval", "start", "metric", "metric_options", "save_best", "rule", "by_epoch"}
        unknown = set(cfg) - known
        if unknown:
            raise KeyError(f"unknown evaluation keys {sorted(unknown)}; known: {sorted(known)}")
        settings = cls(**cfg)
        if settings.rule not in (None, "greater", "less"):
            raise ValueError(f"evaluation.rule must be 'greater' or 'less', got {settings.rule!r}")
        if settings.interval <= 0:
            raise ValueError(f"evaluation.interval must be positive, got {settings.interval}")
        return settings

    def should_evaluate(self, done: int) -> bool:
        """mmcv's rule: every ``interval`` epochs (iterations), counted from ``start`` when given."""
        if self.start is None:
            return done % self.interval == 0
        if done < self.start:
            return False
        return (done - self.start) % self.interval == 0

    def greater_is_better(self, key: str) -> bool:
        return training.greater_is_better(key, self.rule)


@dataclass
class CheckpointSettings:
    """The spec's ``checkpoint_config`` section (mmcv's ``CheckpointHook`` arguments).

    ``out_dir``: checkpoints go to ``<out_dir>/<work dir's name>`` (mmcv's rule) instead of the work dir.
    """

    interval: int = -1
    by_epoch: bool = True
    save_optimizer: bool = True
    max_keep_ckpts: int = -1
    save_last: bool = True
    out_dir: str | None = None
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_cfg(cls, cfg: dict | None) -> CheckpointSettings:
        cfg = dict(cfg or {})
        for key in ("filename_tmpl", "create_symlink", "type", "file_client_args"):  # mmcv's defaults happen
            cfg.pop(key, None)
        known = {"interval", "by_epoch", "save_optimizer", "max_keep_ckpts", "save_last", "out_dir", "meta"}
        unknown = set(cfg) - known
        if unknown:
            raise KeyError(f"unknown checkpoint_config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**cfg)

    def folder(self, work_dir: Path) -> Path:
        return Path(self.out_dir) / work_dir.name if self.out_dir else work_dir

    def should_save(self, done: int, last: int) -> bool:
        every = self.interval > 0 and done % self.interval == 0
        return every or (self.save_last and done == last)
