"""The run page's "Try a checkpoint" box: one image's top-5 and class activation map for a checkpoint, made by a
short Ray job (``backend.deployments.checkpoint_cams``); the fragment polls until the map is there.

Access: the run through ``get_run_for_user`` and the checkpoint through ``get_checkpoint_for_user`` (another
team's is a 404, as is a checkpoint of another run); any member may try, viewers too, as on a deployment.
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from backend.deployments import checkpoint_cams, services
from backend.experiments.access import get_checkpoint_for_user, get_run_for_user
from backend.experiments.errors import ServiceError

FRAGMENT = "frontend/_checkpoint_cam.html"


def _checkpoint_of_run(request, pk, ckpt_id):
    """The checkpoint ``ckpt_id`` of run ``pk``; 404 for another team's, or one of another run."""
    run = get_run_for_user(request.user, pk)
    checkpoint = get_checkpoint_for_user(request.user, ckpt_id)
    if checkpoint.run_id != run.pk:
        raise Http404("No such checkpoint.")
    return checkpoint


@login_required
@require_POST
def checkpoint_cam(request, pk):
    """Start the map of the uploaded image (``image``) for the chosen checkpoint (``checkpoint``, ``method``)."""
    checkpoint = _checkpoint_of_run(request, pk, request.POST.get("checkpoint", ""))
    try:
        files = services.read_uploads(request.FILES)
        request_id = checkpoint_cams.submit(request.user, checkpoint, files, request.POST.get("method"))
    except ServiceError as err:
        return render(request, FRAGMENT, {"error": err.message}, status=err.status)
    return render(request, FRAGMENT, {"checkpoint": checkpoint, "request_id": request_id,
                                      "state": checkpoint_cams.CamState("running")})


@login_required
@require_GET
def checkpoint_cam_state(request, pk, ckpt_id, request_id):
    """Where a map request is (the fragment polls itself while it runs)."""
    checkpoint = _checkpoint_of_run(request, pk, ckpt_id)
    state = checkpoint_cams.state(checkpoint, request_id)
    return render(request, FRAGMENT, {"checkpoint": checkpoint, "request_id": request_id, "state": state,
                                      "result": state.result})
