"""Celery tasks: short, idempotent wrappers around the lifecycle (``lifecycle.py``).

Their registered names (``backend.experiments.tasks.<name>``) are what a queue holds and what
``lifecycle.queue_dispatch`` sends by name: they never change.
"""
import logging

from celery import shared_task

from . import lifecycle, ray_jobs
from .models import Run, Sweep

log = logging.getLogger(__name__)

# A dispatch retries while Ray is unreachable; acks_late: a worker that dies mid-task gets it redelivered,
# which the job's own submission id makes harmless.
DISPATCH_OPTIONS = {"autoretry_for": (ray_jobs.RayUnavailable,), "retry_backoff": 2, "retry_backoff_max": 60,
                    "max_retries": 8, "acks_late": True}


@shared_task(**DISPATCH_OPTIONS)
def dispatch_run(run_id: str) -> str:
    """Submit a run's Ray job. Delivered twice, it still starts one job (the id is the run's UUID)."""
    return _dispatch(Run, run_id)


@shared_task(**DISPATCH_OPTIONS)
def dispatch_sweep(sweep_id: str) -> str:
    """Submit a sweep's Ray job (idempotent like ``dispatch_run``)."""
    return _dispatch(Sweep, sweep_id)


def _dispatch(model, pk: str) -> str:
    outcome = lifecycle.dispatch(model, pk)
    log.info("dispatch %s %s: %s", model._meta.verbose_name, pk, outcome)
    return outcome


@shared_task(ignore_result=True)
def reconcile_runs() -> dict:
    """Periodic (Celery beat): bring active runs and sweeps in line with what Ray says about their jobs."""
    with lifecycle.exclusive("reconcile") as held:
        if not held:  # one pass at a time, across workers and beats: a pass still running skips this one
            return {"skipped": "another reconcile pass is running"}
        try:
            return {**lifecycle.reconcile(Run), "sweeps": lifecycle.reconcile(Sweep)}
        except ray_jobs.RayUnavailable as exc:
            log.warning("reconcile skipped: %s", exc)
            return {"skipped": str(exc)}
