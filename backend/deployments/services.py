"""State changes of deployments that users ask for: deploy, undeploy, predict, explain (a class activation map;
called by the API and the dashboard alike), and the figures a deployment's page shows.

Each change locks the deployment's row (``select_for_update``); deploy locks the team's row while it counts
the team's active deployments. The Ray side (dispatch, reconcile) is ``lifecycle.py``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from backend.accounts import access
from backend.accounts.models import Team
from backend.experiments.checkpoints import checkpoint_file
from backend.experiments.errors import Conflict, ServiceError
from backend.experiments.models import Checkpoint
from backend.experiments.ray_jobs import RayUnavailable
from workers.tools.vis_cam import METHODS, SHOWN_METHODS

from . import ray_serve
from .models import ACTIVE, Deployment, DeploymentStatus, PredictionSample, Runtime

log = logging.getLogger(__name__)

SAMPLES_KEPT = 1000  # the latency percentiles are over this many recent requests


class DeploymentLimit(ServiceError):
    """The team has as many active deployments as it may have."""

    status = 429


class NotServing(ServiceError):
    """Ray Serve did not answer for the deployment (the proxy is down, or the application is gone)."""

    status = 503


def _dispatch_later(pk) -> None:
    from . import lifecycle

    transaction.on_commit(lambda: lifecycle.queue("dispatch_deployment", pk))


def deploy(user, checkpoint: Checkpoint, *, runtime: str = Runtime.PYTORCH, replicas: int = 1,
           cpus_per_replica: float = 1.0, gpus_per_replica: float = 0.0, max_batch_size: int = 8,
           batch_wait_timeout_s: float = 0.01, name: str | None = None) -> Deployment:
    """Store a deployment of ``checkpoint`` (a run of the user's team) and queue its dispatch.

    The arguments are already validated (``serializers.DeploymentCreateSerializer``). Locks the team's row.

    Raises:
        PermissionDenied: the user is a viewer of the run's team.
        ServiceError: the checkpoint's file is gone (400); the team is at its limit of active deployments (429).
    """
    run = checkpoint.run
    access.require_write(user, run.team)
    if checkpoint_file(checkpoint) is None:
        raise ServiceError(f"Checkpoint {checkpoint.pk} ({checkpoint.filename}) has no file any more (rotated "
                           "out by max_keep_ckpts?); deploy a checkpoint the run page lists as downloadable.",
                           errors=[{"field": "checkpoint", "message": "no file"}])
    if not isinstance(run.resolved_spec, dict) or not (run.resolved_spec.get("data") or {}).get("test"):
        raise ServiceError("The run's spec has no data.test pipeline to prepare images with; it cannot be served.",
                           errors=[{"field": "checkpoint", "message": "no data.test"}])
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=run.team_id)
        active = Deployment.objects.filter(team=team, status__in=ACTIVE).count()
        limit = settings.TRAINYARD_TEAM_MAX_DEPLOYMENTS
        if active >= limit:
            raise DeploymentLimit(f"Team '{team.slug}' has {active} active deployments, its limit "
                                  f"(TRAINYARD_TEAM_MAX_DEPLOYMENTS = {limit}); undeploy one first.",
                                  errors=[{"setting": "TRAINYARD_TEAM_MAX_DEPLOYMENTS", "limit": limit}])
        deployment = Deployment.objects.create(
            team=team, created_by=user, run=run, checkpoint=checkpoint, runtime=runtime, replicas=replicas,
            cpus_per_replica=cpus_per_replica, gpus_per_replica=gpus_per_replica, max_batch_size=max_batch_size,
            batch_wait_timeout_s=batch_wait_timeout_s,
            name=(name or f"{run.name} · {checkpoint.filename} · {runtime}")[:200])
        _dispatch_later(deployment.pk)
    return deployment


def undeploy(user, deployment: Deployment) -> Deployment:
    """Stop a deployment: it answers no more predictions at once; its Serve application is deleted by a Ray
    job (queued here, and again by reconcile while the application is still there).

    Raises:
        PermissionDenied: the user is a viewer.
        Conflict: it has already ended.
    """
    from . import lifecycle

    access.require_write(user, deployment.team)
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if not deployment.is_active:
            raise Conflict(f"The deployment has already ended ({deployment.status}).")
        lifecycle.set_status(deployment, DeploymentStatus.STOPPED, f"undeployed by {user.get_username()}")
        pk = deployment.pk
        transaction.on_commit(lambda: lifecycle.queue("remove_deployment", pk))
    return deployment


def predict(user, deployment: Deployment, files: list[tuple[str, bytes]]) -> dict:
    """Classify uploaded image files with a running deployment.

    Args:
        user: Any member of the deployment's team (viewers too: predicting changes nothing of the team's).
        deployment: From ``access.get_deployment_for_user``.
        files: ``(name, bytes)`` of each uploaded file.

    Returns:
        ``{'predictions': [{pred_label, pred_score, pred_class, topk, filename}, ...], 'latency_ms': ...}``.

    Raises:
        ServiceError: no file, too many or too large files, a file that is not a usable image (400); the
            deployment is not running (409); Ray Serve did not answer (503).
    """
    access.get_membership(user, deployment.team)
    check_upload([(name, len(content)) for name, content in files])
    if deployment.status != DeploymentStatus.RUNNING:
        raise Conflict(f"The deployment is {deployment.status}, not running"
                       + (f" ({deployment.status_reason})." if deployment.status_reason else "."))
    started = time.perf_counter()
    try:
        answer = ray_serve.predict(deployment, files)
    except RayUnavailable as exc:
        _count_error(deployment)
        raise NotServing(f"Ray Serve did not answer: {exc}") from None
    latency_ms = (time.perf_counter() - started) * 1000
    if answer.status == 400:
        _count_error(deployment)
        raise ServiceError(str(answer.body.get("detail") or "The image could not be classified."),
                           errors=[{"field": "image", "message": "not a usable image"}])
    if answer.status != 200 or "predictions" not in answer.body:
        _count_error(deployment)
        raise NotServing(f"The deployment's application did not answer ({answer.status}: "
                         f"{answer.body.get('detail', '')}); if Ray lost it, reconcile marks it lost.")
    record_prediction(deployment, latency_ms, len(files))
    return {"predictions": answer.body["predictions"], "latency_ms": round(latency_ms, 3),
            "runtime": deployment.runtime}


def cam_method(name: str | None) -> str:
    """The CAM method a user asked for (``trainyard vis-cam``'s names, any case), GradCAM when none.

    Raises:
        ServiceError: (400) an unknown method, listing the supported ones.
    """
    if not name:
        return "GradCAM"
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in METHODS:
        raise ServiceError(f"Unknown CAM method {name[:40]!r}; use one of {', '.join(SHOWN_METHODS)}.",
                           errors=[{"field": "method", "choices": list(SHOWN_METHODS)}])
    return SHOWN_METHODS[list(METHODS).index(key)]


def explain(user, deployment: Deployment, files: list[tuple[str, bytes]], method: str | None = None) -> dict:
    """The class activation map of one image, computed by the deployment's replica (``X-Trainyard-Kind: cam``)
    on its family's default target layer, with the image's top-5. Not counted as a prediction (a map costs a
    backward pass: its latency would skew the deployment's percentiles).

    Args:
        user: Any member of the deployment's team (viewers too, as for ``predict``).
        deployment: From ``access.get_deployment_for_user``.
        files: One ``(name, bytes)``.
        method: GradCAM (default), GradCAM++, XGradCAM, EigenCAM, EigenGradCAM or LayerCAM.

    Returns:
        ``{'predictions': [answer], 'cam': {method, target_layers, category, class, score, png}, 'latency_ms',
        'runtime'}``; ``png`` is the picture (the image, then the map blended on it) in base64.

    Raises:
        ServiceError: no image, more than one, too large, not a usable image, an unknown method (400); the
            deployment is not running, or runs ONNX Runtime (409); Ray Serve did not answer (503).
    """
    access.get_membership(user, deployment.team)
    method = check_cam_request(files, method)
    if deployment.status != DeploymentStatus.RUNNING:
        raise Conflict(f"The deployment is {deployment.status}, not running"
                       + (f" ({deployment.status_reason})." if deployment.status_reason else "."))
    if deployment.runtime != Runtime.PYTORCH:
        raise Conflict(f"Class activation maps are unavailable for a {deployment.runtime} deployment: they need "
                       "the PyTorch model's gradients. Deploy the checkpoint with the PyTorch runtime to see them.",
                       errors=[{"field": "runtime", "message": "pytorch only"}])
    started = time.perf_counter()
    try:
        answer = ray_serve.predict(deployment, files, kind="cam", method=method)
    except RayUnavailable as exc:
        raise NotServing(f"Ray Serve did not answer: {exc}") from None
    latency_ms = (time.perf_counter() - started) * 1000
    if answer.status in (400, 409):
        error = ServiceError if answer.status == 400 else Conflict
        raise error(str(answer.body.get("detail") or "No map could be made of this image."),
                    errors=[{"field": "image", "message": "no map"}])
    if answer.status != 200 or "cam" not in answer.body:
        raise NotServing(f"The deployment's application did not answer ({answer.status}: "
                         f"{answer.body.get('detail', '')}); if Ray lost it, reconcile marks it lost.")
    return {"predictions": answer.body["predictions"], "cam": answer.body["cam"], "latency_ms": round(latency_ms, 3),
            "runtime": deployment.runtime}


def read_uploads(files) -> list[tuple[str, bytes]]:
    """The ``(name, bytes)`` of a multipart request's ``image`` / ``images`` files (``request.FILES``), refused
    (400) before they are read when there are too many or they are too large (``check_upload``)."""
    uploads = files.getlist("image") + files.getlist("images")
    check_upload([(f.name or "image", f.size or 0) for f in uploads])
    return [(f.name or "image", f.read()) for f in uploads]


def live_state(deployment: Deployment) -> dict | None:
    """What Ray Serve reports of an active deployment's application now; None when ended or Ray cannot be asked."""
    if not deployment.is_active:
        return None
    try:
        app = ray_serve.applications(ray_serve.instance(timeout=3)).get(deployment.app_name)
    except RayUnavailable:
        return None
    if app is None:
        return {"app_status": "absent", "replicas_running": 0, "replicas": {}, "message": ""}
    return {"app_status": app.status, "replicas_running": app.running_replicas, "replicas": app.replicas,
            "message": app.message}


def check_cam_request(files: list[tuple[str, bytes]], method: str | None) -> str:
    """The upload of a class activation map (a deployment's or a checkpoint's): one image within the predict
    limits, and a known method. Returns the method's name.

    Raises:
        ServiceError: no image, more than one, too large, empty; an unknown method.
    """
    check_upload([(name, len(content)) for name, content in files])
    if len(files) != 1:
        raise ServiceError(f"A class activation map is of one image; {len(files)} were sent.",
                           errors=[{"field": "image", "message": "one image"}])
    return cam_method(method)


def check_upload(sizes: list[tuple[str, int]]) -> None:
    """Refuse an upload before it is read whole: no file, too many, too many bytes, an empty file.

    Args:
        sizes: ``(name, size in bytes)`` of each uploaded file.

    Raises:
        ServiceError: (400) saying which limit, and the setting that sets it.
    """
    if not sizes:
        raise ServiceError("Send one image file or more as multipart form data (field 'image' or 'images').",
                           errors=[{"field": "image", "message": "required"}])
    most, largest = settings.TRAINYARD_PREDICT_MAX_IMAGES, settings.TRAINYARD_PREDICT_MAX_BYTES
    if len(sizes) > most:
        raise ServiceError(f"{len(sizes)} images in one request; send at most {most} "
                           "(TRAINYARD_PREDICT_MAX_IMAGES).", errors=[{"field": "images", "limit": most}])
    total = sum(size for _, size in sizes)
    if total > largest:
        raise ServiceError(f"The images add up to {total} bytes, over the limit of {largest} "
                           "(TRAINYARD_PREDICT_MAX_BYTES).", errors=[{"field": "images", "limit": largest}])
    for name, size in sizes:
        if not size:
            raise ServiceError(f"{name}: the file is empty.", errors=[{"field": "image", "message": "empty"}])


def _count_error(deployment: Deployment) -> None:
    Deployment.objects.filter(pk=deployment.pk).update(error_count=F("error_count") + 1)


def record_prediction(deployment: Deployment, latency_ms: float, images: int) -> None:
    """Count the request and keep its latency (no row lock: concurrent predictions add up with ``F``)."""
    Deployment.objects.filter(pk=deployment.pk).update(
        request_count=F("request_count") + 1, image_count=F("image_count") + images,
        first_prediction_at=Coalesce(F("first_prediction_at"), Value(timezone.now())))
    PredictionSample.objects.create(deployment_id=deployment.pk, latency_ms=latency_ms, images=images)


@dataclass
class LatencyStats:
    samples: int
    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None


def _percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_stats(deployment: Deployment) -> LatencyStats:
    """p50 / p95 / mean of the latency of the last ``SAMPLES_KEPT`` answered requests."""
    values = sorted(PredictionSample.objects.filter(deployment=deployment).order_by("-id")
                    .values_list("latency_ms", flat=True)[:SAMPLES_KEPT])
    if not values:
        return LatencyStats(0, None, None, None)
    return LatencyStats(len(values), round(_percentile(values, 0.5), 3), round(_percentile(values, 0.95), 3),
                        round(sum(values) / len(values), 3))


def prune_samples() -> int:
    """Forget latency samples older than each deployment's last ``SAMPLES_KEPT``; returns how many."""
    removed = 0
    for pk in PredictionSample.objects.values_list("deployment_id", flat=True).distinct():
        ids = PredictionSample.objects.filter(deployment_id=pk).order_by("-id").values_list("id", flat=True)
        cutoff = list(ids[SAMPLES_KEPT:SAMPLES_KEPT + 1])
        if cutoff:
            removed += PredictionSample.objects.filter(deployment_id=pk, id__lte=cutoff[0]).delete()[0]
    return removed
