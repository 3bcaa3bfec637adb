"""Deployment pages: the list, one deployment (status, replicas, requests, latency, a "try it" box that shows
the top-5 and, on a PyTorch deployment, the class activation map of one image), the "Deploy" form of a run's
checkpoint, and undeploy.

State changes go through ``backend.deployments.services``; access through ``backend.deployments.access``
(another team's deployment or checkpoint is a 404, a viewer's deploy or undeploy a 403).
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from backend.accounts import access
from backend.deployments import services
from backend.deployments.access import deployments_for, get_deployment_for_user
from backend.deployments.models import Runtime
from backend.deployments.serializers import DeploymentCreateSerializer
from backend.experiments.access import get_checkpoint_for_user
from backend.experiments.errors import ServiceError
from frontend.refusals import refused, validation_problems
from workers.tools.vis_cam import SHOWN_METHODS


def _page_context(request, deployment) -> dict:
    stats = services.latency_stats(deployment)
    first = None
    if deployment.first_prediction_at is not None:
        first = (deployment.first_prediction_at - deployment.created_at).total_seconds()
    return {"deployment": deployment, "stats": stats, "live": services.live_state(deployment),
            "first_prediction_s": first,
            "can_write": access.get_membership(request.user, deployment.team).can_write,
            "cam_methods": SHOWN_METHODS}


@login_required
def deployment_list(request):
    return render(request, "frontend/deployment_list.html", {"deployments": deployments_for(request.user)[:200]})


@login_required
def deployment_detail(request, pk):
    deployment = get_deployment_for_user(request.user, pk)
    return render(request, "frontend/deployment_detail.html", _page_context(request, deployment))


@login_required
def deployment_status(request, pk):
    """The status card alone (polled by the page while the deployment is active)."""
    deployment = get_deployment_for_user(request.user, pk)
    return render(request, "frontend/_deployment_status.html", _page_context(request, deployment))


@login_required
@require_POST
def deployment_new(request):
    """Deploy a checkpoint (the run page's "Deploy" form); back to the run page with the reason if refused."""
    checkpoint = get_checkpoint_for_user(request.user, request.POST.get("checkpoint", ""))
    form = {k: v for k, v in request.POST.items() if k in DeploymentCreateSerializer().fields and v != ""}
    ser = DeploymentCreateSerializer(data=form)
    back = redirect("run-detail", checkpoint.run_id)
    try:
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        data.pop("checkpoint")
        deployment = services.deploy(request.user, checkpoint, **data)
    except ValidationError as err:
        messages.error(request, f"Not deployed: {validation_problems(err)}")
        return back
    except ServiceError as err:
        messages.error(request, f"Not deployed: {err.message}")
        return refused(back, err)
    messages.success(request, f"Deploying {deployment.name}.")
    return redirect("deployment-detail", deployment.pk)


@login_required
@require_POST
def deployment_undeploy(request, pk):
    deployment = get_deployment_for_user(request.user, pk)
    try:
        services.undeploy(request.user, deployment)
        messages.success(request, "Undeployed: it answers no more predictions.")
    except ServiceError as err:
        messages.error(request, err.message)
    return redirect("deployment-detail", deployment.pk)


@login_required
@require_POST
def deployment_try(request, pk):
    """The "try it" box: each uploaded image's top-5 (an htmx fragment); one image on a PyTorch deployment comes
    with its class activation map (``method``, GradCAM by default), made by the deployment's replica."""
    deployment = get_deployment_for_user(request.user, pk)
    context = {"cam_unavailable": deployment.runtime != Runtime.PYTORCH}
    try:
        files = services.read_uploads(request.FILES)
        if len(files) == 1 and deployment.runtime == Runtime.PYTORCH:
            result = services.explain(request.user, deployment, files, request.POST.get("method"))
        else:
            result = services.predict(request.user, deployment, files)
    except ServiceError as err:
        return render(request, "frontend/_deployment_prediction.html", {**context, "error": err.message},
                      status=err.status)
    return render(request, "frontend/_deployment_prediction.html", {**context, "result": result})
