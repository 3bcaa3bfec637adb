"""A deployment on Ray: its deploy job (``python -m workers.serve.launch deploy``), the removal of its Serve
application, and reconcile, which maps what Ray Serve reports onto the deployments.

A deploy job starts the Serve application and ends once it is healthy; the application outlives the job (and
the web process). So a deployment's state is read from Serve's applications (the dashboard's Serve API,
``ray_serve``), and from its job only while it deploys (a job that failed says why). The Celery tasks
(``tasks.py``) call in here; this module queues them by name (``queue``) and never imports them.
"""
from __future__ import annotations

import json
import logging
import shlex
import time
from datetime import timedelta

from celery import signature
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.experiments import ray_jobs
from backend.experiments.checkpoints import checkpoint_file
from backend.experiments.jobfiles import entrypoint, job_storage_location
from backend.experiments.storage import storage

from . import ray_serve
from .models import ACTIVE, ENDED, Deployment, DeploymentStatus

log = logging.getLogger(__name__)

TASKS = "backend.deployments.tasks."
LAUNCH = "workers.serve.launch"


def queue(task: str, pk) -> None:
    """Queue a task of ``tasks.py`` by its name; a broker hiccup is logged, and reconcile catches up."""
    try:
        signature(TASKS + task, args=[str(pk)]).delay()
    except Exception:
        log.exception("could not queue %s of deployment %s; reconcile will retry", task, pk)


def set_status(deployment: Deployment, status: str, reason: str = "") -> bool:
    """Move a deployment (its row locked by the caller) to ``status``; an ended one stays ended."""
    if deployment.status == status or deployment.status in ENDED:
        return False
    now = timezone.now()
    deployment.status, deployment.status_reason = status, reason[:4000]
    if status == DeploymentStatus.RUNNING and deployment.running_at is None:
        deployment.running_at = now
    if status in ENDED:
        deployment.ended_at = now
    deployment.save(update_fields=["status", "status_reason", "running_at", "ended_at"])
    return True


def apply_status(pk, status: str, reason: str = "") -> int:
    """``set_status`` with the row locked here; 1 if it changed."""
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=pk)
        return int(set_status(deployment, status, reason))


# --- dispatch --------------------------------------------------------------------------------------------


def job_document(deployment: Deployment, checkpoint_key: str) -> dict:
    """What the deploy job reads (``workers.serve.launch.read_job``): the run's spec, the checkpoint by its key
    on the storage, the runtime, the replicas and the batching."""
    return {
        "deployment_id": str(deployment.pk), "app_name": deployment.app_name,
        "route_prefix": deployment.route_prefix, "spec": deployment.run.resolved_spec,
        "checkpoint_key": checkpoint_key, "runtime": deployment.runtime, "replicas": deployment.replicas,
        "cpus_per_replica": deployment.cpus_per_replica, "gpus_per_replica": deployment.gpus_per_replica,
        "max_batch_size": deployment.max_batch_size, "batch_wait_timeout_s": deployment.batch_wait_timeout_s,
        "max_image_pixels": settings.TRAINYARD_MAX_IMAGE_PIXELS,
    }


def job_environment(deployment: Deployment) -> dict[str, str]:
    """The deploy job's environment: the storage (without credentials), the deployment's key, Serve's port."""
    env = {"TRAINYARD_STORAGE": job_storage_location(),
           "TRAINYARD_MAX_IMAGE_PIXELS": str(settings.TRAINYARD_MAX_IMAGE_PIXELS),
           "TRAINYARD_DEPLOYMENT_KEY": ray_serve.deployment_key(deployment.pk)}
    if settings.TRAINYARD_SERVE_PORT:
        env["TRAINYARD_SERVE_PORT"] = str(settings.TRAINYARD_SERVE_PORT)
    return env


def dispatch(pk) -> str:
    """Write the job file and submit the deploy job of a pending deployment. Idempotent: the submission id is
    the deployment's (``Deployment.job_id``).

    Returns:
        'submitted', 'already-submitted', 'refused' (failed: its checkpoint is gone) or 'skipped (...)'.

    Raises:
        RayUnavailable: Ray could not be asked (the task retries).
    """
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().select_related("run").filter(pk=pk).first()
        if deployment is None:
            return "skipped (no such deployment)"
        if deployment.status not in (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING):
            return f"skipped ({deployment.status})"
        key = checkpoint_file(deployment.checkpoint)
        if key is None:
            set_status(deployment, DeploymentStatus.FAILED, "not deployed: the checkpoint's file is gone")
            return "refused"
        set_status(deployment, DeploymentStatus.DEPLOYING, "")
    job_key = f"deployments/{deployment.pk}/job.json"
    storage().write_text(job_key, json.dumps(job_document(deployment, key), indent=2))
    submitted = ray_jobs.submit(deployment.job_id, entrypoint(LAUNCH, "deploy") + " " + shlex.quote(job_key),
                                job_environment(deployment))
    return "submitted" if submitted else "already-submitted"


def remove(pk) -> str:
    """Submit the Ray job that deletes an ended deployment's Serve application (and stop its deploy job).

    Returns:
        'removing', 'gone' (Serve has no such application) or 'skipped (...)'.
    """
    deployment = Deployment.objects.filter(pk=pk).first()
    if deployment is None or deployment.status not in ENDED:
        return f"skipped ({deployment.status if deployment else 'no such deployment'})"
    state = ray_jobs.lookup(deployment.job_id)
    if state is not None and state.status in ("PENDING", "RUNNING"):
        ray_jobs.stop(deployment.job_id)
    if deployment.app_name not in ray_serve.applications():
        return "gone"
    # at most one removal job a minute for a deployment (Ray refuses a second job with the same id)
    job_id = f"undeploy-{deployment.pk}-{int(time.time()) // 60}"
    env = {"TRAINYARD_STORAGE": job_storage_location()}
    ray_jobs.submit(job_id, entrypoint(LAUNCH, "delete") + " " + shlex.quote(deployment.app_name), env)
    return "removing"


# --- reconcile -------------------------------------------------------------------------------------------


def _failure(deployment: Deployment, state: ray_jobs.JobState) -> str:
    tail = [line for line in ray_jobs.logs(deployment.job_id).splitlines() if line.strip()][-8:]
    return (state.message or "the deploy job failed") + ("\n" + "\n".join(tail) if tail else "")


def reconcile() -> dict:
    """Bring deployments in line with Ray Serve: deploying -> running once its application runs, failed when it
    could not start, lost when Ray no longer has a running one's application; dispatch stuck ones again and
    remove the applications of ended ones.

    Raises:
        RayUnavailable: Ray could not be asked; nothing was changed.

    Returns:
        Counts: ``checked``, ``changed``, ``redispatched``, ``removed``.
    """
    apps = ray_serve.applications()
    counts = {"checked": 0, "changed": 0, "redispatched": 0, "removed": 0}
    now = timezone.now()
    grace = now - timedelta(seconds=settings.TRAINYARD_DISPATCH_GRACE_SECONDS)
    too_long = now - timedelta(seconds=settings.TRAINYARD_DEPLOY_TIMEOUT_SECONDS)
    for deployment in Deployment.objects.filter(status__in=ACTIVE):
        counts["checked"] += 1
        app = apps.get(deployment.app_name)
        pk = deployment.pk
        if deployment.status == DeploymentStatus.PENDING:
            if deployment.created_at <= grace:  # its dispatch task was lost
                queue("dispatch_deployment", pk)
                counts["redispatched"] += 1
        elif deployment.status == DeploymentStatus.DEPLOYING:
            state = ray_jobs.lookup(deployment.job_id)
            if app is not None and app.status == "RUNNING":
                counts["changed"] += apply_status(pk, DeploymentStatus.RUNNING, "")
            elif app is not None and app.status == "DEPLOY_FAILED":
                counts["changed"] += apply_status(pk, DeploymentStatus.FAILED, app.message or "DEPLOY_FAILED")
            elif state is not None and state.status in ("FAILED", "STOPPED"):
                counts["changed"] += apply_status(pk, DeploymentStatus.FAILED, _failure(deployment, state))
            elif state is None and deployment.created_at <= grace:
                queue("dispatch_deployment", pk)
                counts["redispatched"] += 1
            elif deployment.created_at <= too_long:
                counts["changed"] += apply_status(
                    pk, DeploymentStatus.FAILED, f"not running after {settings.TRAINYARD_DEPLOY_TIMEOUT_SECONDS} s "
                    "(TRAINYARD_DEPLOY_TIMEOUT_SECONDS)")
        elif app is None:  # running, and Serve has no application of it
            counts["changed"] += apply_status(pk, DeploymentStatus.LOST,
                                              "lost: Ray Serve has no application of this deployment any more")
        elif app.status == "DEPLOY_FAILED":
            counts["changed"] += apply_status(pk, DeploymentStatus.FAILED, app.message or "DEPLOY_FAILED")
        else:
            reason = "" if app.status == "RUNNING" else f"{app.status.lower()}: {app.message}"[:4000]
            if reason != deployment.status_reason:
                Deployment.objects.filter(pk=pk).update(status_reason=reason)
    ended = Deployment.objects.filter(status__in=ENDED, ended_at__gte=now - timedelta(days=1))
    for pk in ended.values_list("pk", flat=True):
        if f"trainyard-{pk}" in apps:
            queue("remove_deployment", pk)
            counts["removed"] += 1
    return counts
