"""Celery tasks of deployments: short, idempotent wrappers around ``lifecycle.py``. Their registered names
(``backend.deployments.tasks.<name>``) are what a queue holds and what ``lifecycle.queue`` sends: they never
change."""
import logging

from celery import shared_task

from backend.experiments.ray_jobs import RayUnavailable

from . import lifecycle, services

log = logging.getLogger(__name__)

RAY_OPTIONS = {"autoretry_for": (RayUnavailable,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 8,
               "acks_late": True}


@shared_task(**RAY_OPTIONS)
def dispatch_deployment(deployment_id: str) -> str:
    """Submit a deployment's deploy job (delivered twice, it still starts one)."""
    outcome = lifecycle.dispatch(deployment_id)
    log.info("dispatch deployment %s: %s", deployment_id, outcome)
    return outcome


@shared_task(**RAY_OPTIONS)
def remove_deployment(deployment_id: str) -> str:
    """Delete an ended deployment's Serve application."""
    outcome = lifecycle.remove(deployment_id)
    log.info("remove deployment %s: %s", deployment_id, outcome)
    return outcome


@shared_task(ignore_result=True)
def reconcile_deployments() -> dict:
    """Periodic (Celery beat): deployments in line with what Ray Serve reports."""
    try:
        counts = lifecycle.reconcile()
    except RayUnavailable as exc:
        log.warning("reconcile of deployments skipped: %s", exc)
        return {"skipped": str(exc)}
    counts["pruned"] = services.prune_samples()
    return counts
