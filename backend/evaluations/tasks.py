"""Celery tasks of evaluations: the run lifecycle's dispatch and reconcile for the evaluation kind. Their
registered names (``backend.evaluations.tasks.<name>``) are what a queue holds: they never change."""
import logging

from celery import shared_task

from backend.experiments import lifecycle, ray_jobs
from backend.experiments.tasks import DISPATCH_OPTIONS

from .models import Evaluation

log = logging.getLogger(__name__)


@shared_task(**DISPATCH_OPTIONS)
def dispatch_evaluation(evaluation_id: str) -> str:
    """Submit an evaluation's Ray job; delivered twice, it still starts one (the id is ``eval-<uuid>``)."""
    outcome = lifecycle.dispatch(Evaluation, evaluation_id)
    log.info("dispatch evaluation %s: %s", evaluation_id, outcome)
    return outcome


@shared_task(ignore_result=True)
def reconcile_evaluations() -> dict:
    """Periodic (Celery beat): bring active evaluations in line with what Ray says about their jobs."""
    try:
        return lifecycle.reconcile(Evaluation)
    except ray_jobs.RayUnavailable as exc:
        log.warning("reconcile of evaluations skipped: %s", exc)
        return {"skipped": str(exc)}
