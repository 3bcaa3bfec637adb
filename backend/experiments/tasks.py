"""Celery tasks: short, idempotent wrappers around the service functions."""
import logging

from celery import shared_task

from . import ray_jobs, services, sweeps

log = logging.getLogger(__name__)


@shared_task(bind=True, autoretry_for=(ray_jobs.RayUnavailable,), retry_backoff=2, retry_backoff_max=60,
             max_retries=8, acks_late=True)
def dispatch_run(self, run_id: str) -> str:
    """Submit a run's Ray job. Delivered twice, it still starts one job (the id is the run's UUID)."""
    outcome = services.dispatch(run_id)
    log.info("dispatch %s: %s", run_id, outcome)
    return outcome


@shared_task(bind=True, autoretry_for=(ray_jobs.RayUnavailable,), retry_backoff=2, retry_backoff_max=60,
             max_retries=8, acks_late=True)
def dispatch_sweep(self, sweep_id: str) -> str:
    """Submit a sweep's Ray job (idempotent like ``dispatch_run``)."""
    outcome = sweeps.dispatch(sweep_id)
    log.info("dispatch sweep %s: %s", sweep_id, outcome)
    return outcome


@shared_task(ignore_result=True)
def reconcile_runs() -> dict:
    """Periodic (Celery beat): bring active runs and sweeps in line with what Ray says about their jobs."""
    try:
        return {**services.reconcile(), "sweeps": sweeps.reconcile()}
    except ray_jobs.RayUnavailable as exc:
        log.warning("reconcile skipped: %s", exc)
        return {"skipped": str(exc)}
