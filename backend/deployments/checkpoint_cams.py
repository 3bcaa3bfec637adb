"""Class activation maps of a run's checkpoint (the "try it" box on the run page), without a deployment.

The web process never loads torch, so the map is made on the Ray cluster: a short Ray job
(``python -m workers.serve.explain``) reads the job file, the checkpoint and the uploaded image from the storage
and writes ``result.json`` beside them; the page polls ``state`` until it is there. Everything of one request
lives under ``cams/<checkpoint id>/<request id>/`` on the storage: the request id is random (uuid4), and ``state``
also checks that the job file names the checkpoint it is asked through, so another team cannot read it.

Access as for a deployment's predict: any member of the run's team, viewers too (a map changes nothing of the
team's); another team's checkpoint is a 404 (``get_checkpoint_for_user``).
"""
from __future__ import annotations

import json
import re
import shlex
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404

from backend.accounts import access
from backend.experiments import ray_jobs
from backend.experiments.checkpoints import checkpoint_file
from backend.experiments.errors import ServiceError
from backend.experiments.jobfiles import job_storage_location
from backend.experiments.models import Checkpoint
from backend.experiments.storage import storage

from .services import NotServing, check_cam_request

EXPLAIN = "workers.serve.explain"
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class CamState:
    """Where one map request is: ``running``, ``done`` (``result``) or ``refused`` / ``failed`` (``error``)."""

    status: str
    result: dict | None = None
    error: str = ""


def folder(checkpoint: Checkpoint, request_id: str) -> str:
    return f"cams/{checkpoint.pk}/{request_id}"


def job_id(request_id: str) -> str:
    """The Ray submission id of a map request's job."""
    return f"cam-{request_id}"


def submit(user, checkpoint: Checkpoint, files: list[tuple[str, bytes]], method: str | None = None) -> str:
    """Store the image and the job file of a map request and submit its Ray job.

    Args:
        user: A member of the checkpoint's team (viewers too).
        checkpoint: From ``get_checkpoint_for_user``.
        files: One ``(name, bytes)``, within the predict limits (``TRAINYARD_PREDICT_MAX_BYTES``).
        method: GradCAM (default), GradCAM++, XGradCAM, EigenCAM, EigenGradCAM or LayerCAM.

    Returns:
        The request's id, for ``state``.

    Raises:
        ServiceError: no image, more than one, too large, empty; an unknown method; a checkpoint without its
            file or a spec without a test pipeline (400). Ray did not take the job (503).
    """
    run = checkpoint.run
    access.get_membership(user, run.team)
    method = check_cam_request(files, method)
    key = checkpoint_file(checkpoint)
    if key is None:
        raise ServiceError(f"Checkpoint {checkpoint.pk} ({checkpoint.filename}) has no file any more (rotated out "
                           "by max_keep_ckpts?).", errors=[{"field": "checkpoint", "message": "no file"}])
    if not isinstance(run.resolved_spec, dict) or not (run.resolved_spec.get("data") or {}).get("test"):
        raise ServiceError("The run's spec has no data.test pipeline to prepare images with.",
                           errors=[{"field": "checkpoint", "message": "no data.test"}])
    name, content = files[0]
    request_id = uuid.uuid4().hex
    where = folder(checkpoint, request_id)
    image_key = f"{where}/image-{_SAFE_NAME.sub('_', name)[-80:] or 'upload'}"
    store = storage()
    store.write_bytes(image_key, content)
    job = {"checkpoint_id": checkpoint.pk, "spec": run.resolved_spec, "checkpoint_key": key,
           "image_key": image_key, "image_name": name[:200], "method": method}
    store.write_text(f"{where}/job.json", json.dumps(job))
    env = {"TRAINYARD_STORAGE": job_storage_location(),
           "TRAINYARD_MAX_IMAGE_PIXELS": str(settings.TRAINYARD_MAX_IMAGE_PIXELS),
           "TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST": ",".join(settings.TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST)}
    try:
        ray_jobs.submit(job_id(request_id), f"{settings.TRAINYARD_JOB_PYTHON} -m {EXPLAIN} "
                        + shlex.quote(f"{where}/job.json"), env)
    except ray_jobs.RayUnavailable as exc:
        raise NotServing(f"Ray did not take the job that makes the map: {exc}") from None
    return request_id


def state(checkpoint: Checkpoint, request_id: str) -> CamState:
    """The map request ``request_id`` of ``checkpoint`` (a 404 for an id that is not one of its requests).

    Raises:
        Http404: a malformed id, or no such request of this checkpoint.
    """
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise Http404("No such map.")
    where = folder(checkpoint, request_id)
    store = storage()
    try:
        job = json.loads(store.read_text(f"{where}/job.json"))
    except (OSError, ValueError):
        raise Http404("No such map.") from None
    if job.get("checkpoint_id") != checkpoint.pk:
        raise Http404("No such map.")
    if store.is_file(f"{where}/result.json"):
        result = json.loads(store.read_text(f"{where}/result.json"))
        if "error" in result:
            return CamState("refused", error=str(result["error"]))
        return CamState("done", result=result)
    try:
        ray_state = ray_jobs.lookup(job_id(request_id))
    except ray_jobs.RayUnavailable as exc:
        return CamState("running", error=f"Ray did not answer ({exc}); still waiting")
    if ray_state is None or ray_state.status in ("FAILED", "STOPPED", "SUCCEEDED"):
        if store.is_file(f"{where}/result.json"):  # written between the two looks
            return state(checkpoint, request_id)
        why = ray_state.message if ray_state is not None else "Ray has no such job"
        return CamState("failed", error=f"The job that makes the map ended without one: {why}")
    return CamState("running")
