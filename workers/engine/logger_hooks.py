"""MLflow and Weights & Biases logger hooks of ``log_config.hooks`` (mmcv 1.x's ``MlflowLoggerHook`` and
``WandbLoggerHook``, seed 10.2 "Default training hooks"), offline by default.

Both write under the run's work dir and open no connection of their own: MLflow to a local file store
(``<work_dir>/mlruns``; browse it with ``mlflow ui --backend-store-uri <work_dir>/mlruns``), W&B in offline
mode (``<work_dir>/wandb/offline-run-*``; upload it later with ``wandb sync``). On the service a spec may not
turn W&B online (``jobspecs.paths``: no network from a spec). The records are the engine's log records,
named as mmcv names them (``train/loss``, ``val/accuracy_top-1``, ``learning_rate``, ``momentum``), at the
global iteration. Each package is imported when its hook opens, so neither loads for runs without it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from workers.engine.hooks import LoggerHook, loggable_scalars
from workers.registry import HOOKS

__all__ = ["MlflowLoggerHook", "WandbLoggerHook"]


def _latest_checkpoint(work_dir: Path) -> Path | None:
    latest = work_dir / "latest.pth"
    return latest.resolve() if latest.exists() else None


@HOOKS.register()
class MlflowLoggerHook(LoggerHook):
    """Log a run's numbers to MLflow, in a local file store under the work dir.

    Args:
        exp_name: The MLflow experiment (default ``'Default'``).
        tags: Tags of the MLflow run.
        params: Parameters logged once (e.g. ``dict(lr=0.1)``); the spec's ``optimizer`` is logged too.
        log_model: Log the last checkpoint (``latest.pth``) as an artifact under ``models/`` at the end
            (mmcv logs the model with ``mlflow.pytorch``; a checkpoint file is what ``init_model`` reads).
        run_name: The MLflow run's name.
        interval, ignore_last, reset_flag, by_epoch: Accepted for mmcv compatibility; records come at
            ``log_config.interval``.
    """

    def __init__(self, exp_name: str | None = None, tags: dict | None = None, params: dict | None = None,
                 log_model: bool = True, run_name: str | None = None, interval: int = 10, ignore_last: bool = True,
                 reset_flag: bool = False, by_epoch: bool = True):
        self.exp_name = exp_name or "Default"
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.params = dict(params or {})
        self.log_model = log_model
        self.run_name = run_name
        self.client = None
        self.run_id: str | None = None
        self.work_dir: Path | None = None

    def open(self, work_dir) -> None:
        """Create the file store ``<work_dir>/mlruns``, the experiment and the run (an ``MlflowClient`` of its
        own: nothing global of ``mlflow`` is set, so runs in one process stay apart)."""
        try:
            from mlflow import MlflowClient
        except ImportError as error:
            raise ImportError("MlflowLoggerHook needs mlflow (pip install mlflow-skinny)") from error
        # MLflow 3 keeps its file store in "maintenance mode" and refuses it unless asked: a folder of plain
        # files is what an offline run wants (its SQLite store takes ~20 s of migrations to create)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.work_dir = Path(work_dir)
        store = (self.work_dir / "mlruns").resolve()
        store.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=store.as_uri())
        experiment = self.client.get_experiment_by_name(self.exp_name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(self.exp_name)
        run = self.client.create_run(experiment_id, tags=self.tags, run_name=self.run_name)
        self.run_id = run.info.run_id
        for key, value in self.params.items():
            self.client.log_param(self.run_id, str(key), value)

    def write(self, record: dict, step: int) -> None:
        if self.client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in loggable_scalars(record).items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        if self.client is None:
            return
        latest = _latest_checkpoint(self.work_dir) if self.log_model else None
        if latest is not None:
            self.client.log_artifact(self.run_id, str(latest), "models")
        self.client.set_terminated(self.run_id)
        self.client = None


@HOOKS.register()
class WandbLoggerHook(LoggerHook):
    """Log a run's numbers to Weights & Biases, offline by default, under the work dir.

    Args:
        init_kwargs: Arguments of ``wandb.init`` (``project``, ``name``, ``tags``, ``config``, ``mode``, ...).
            ``mode`` defaults to ``'offline'``; ``dir`` is the work dir (another is refused: the run's files
            stay in its folder).
        commit: ``commit`` of ``wandb.log`` (mmcv's).
        with_step: Log at the global iteration (else W&B's own step).
        log_artifact: At the end, log the work dir's files ending in ``out_suffix`` as an artifact.
        out_suffix: The suffixes of ``log_artifact`` (mmcv's default: logs and configs).
        interval, ignore_last, reset_flag, by_epoch: Accepted for mmcv compatibility.
    """

    def __init__(self, init_kwargs: dict | None = None, interval: int = 10, ignore_last: bool = True,
                 reset_flag: bool = False, commit: bool = True, by_epoch: bool = True, with_step: bool = True,
                 log_artifact: bool = True, out_suffix: str | Sequence[str] = (".log.json", ".log", ".py")):
        self.init_kwargs = dict(init_kwargs or {})
        if "dir" in self.init_kwargs:
            raise ValueError("WandbLoggerHook writes under the run's work dir; remove init_kwargs.dir")
        self.init_kwargs.setdefault("mode", "offline")
        self.commit = commit
        self.with_step = with_step
        self.log_artifact = log_artifact
        self.out_suffix = (out_suffix,) if isinstance(out_suffix, str) else tuple(out_suffix)
        self.run = None
        self.work_dir: Path | None = None
        self._row: dict[str, float] = {}
        self._row_step = 0

    def open(self, work_dir) -> None:
        """Start the W&B run in ``<work_dir>/wandb``."""
        try:
            import wandb
        except ImportError as error:
            raise ImportError("WandbLoggerHook needs wandb (pip install wandb)") from error
        self.work_dir = Path(work_dir)
        settings = wandb.Settings(console="off", silent=True, x_disable_stats=True)
        self.run = wandb.init(dir=str(self.work_dir), settings=settings, reinit="create_new", **self.init_kwargs)

    def write(self, record: dict, step: int) -> None:
        """Gather the record's numbers into the row of ``step``: an evaluation is logged at the iteration of the
        training record before it, and W&B drops a second ``log`` at a step it has committed."""
        if self.run is None:
            return
        if self._row and step != self._row_step:
            self._flush()
        self._row.update(loggable_scalars(record))
        self._row_step = step

    def _flush(self) -> None:
        if not self._row:
            return
        if self.with_step:
            self.run.log(self._row, step=self._row_step, commit=self.commit)
        else:
            self.run.log({**self._row, "global_step": self._row_step}, commit=self.commit)
        self._row = {}

    def close(self) -> None:
        if self.run is None:
            return
        self._flush()
        if self.log_artifact:
            import wandb

            artifact = wandb.Artifact(name=f"run-{self.run.id}-logs", type="model")
            for path in sorted(self.work_dir.iterdir()):
                if path.is_file() and path.name.endswith(self.out_suffix):
                    artifact.add_file(str(path))
            self.run.log_artifact(artifact)
        self.run.finish()
        self.run = None
