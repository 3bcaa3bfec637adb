"""Evaluation pages: the list, one evaluation (metrics, re-scoring with other metrics or options, confusion
matrix, per-class figures, best and worst predictions), the "Evaluate" form of a run's checkpoint, and cancel.

State changes go through ``backend.evaluations.services``; access through ``backend.evaluations.access``
(another team's evaluation or checkpoint is a 404, a viewer's submit or cancel a 403). Nothing here imports
the engine: the analysis is numpy (``backend.evaluations.scoring``).
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from backend.accounts import access
from backend.evaluations import analysis, results, services
from backend.evaluations.access import evaluations_for, get_evaluation_for_user
from backend.evaluations.serializers import EvaluationCreateSerializer
from backend.experiments.access import get_checkpoint_for_user
from backend.experiments.errors import ServiceError
from backend.experiments.models import RunStatus
from backend.experiments.storage import storage
from frontend.refusals import refused, validation_problems


@login_required
def evaluation_list(request):
    return render(request, "frontend/evaluation_list.html", {"evaluations": evaluations_for(request.user)[:200]})


@login_required
def evaluation_detail(request, pk):
    """The evaluation and, once its predictions are stored, their analysis; ``?metrics=&metric_options=``
    re-scores them without the model, ``?normalize=1`` and ``?sort=confusion`` change the confusion matrix."""
    evaluation = get_evaluation_for_user(request.user, pk)
    q = request.GET
    context = {"evaluation": evaluation, "can_write": access.get_membership(request.user, evaluation.team).can_write,
               "q_metrics": q.get("metrics", ""), "q_options": q.get("metric_options", ""),
               "normalize": q.get("normalize") in ("1", "true", "on"), "sort": q.get("sort") or "class"}
    if evaluation.status == RunStatus.SUCCEEDED:
        try:
            metrics, options = analysis.parse_request(q.get("metrics"), q.get("metric_options"))
            context["analysis"] = analysis.analyse(evaluation, metrics=metrics, metric_options=options,
                                                   normalize=context["normalize"], sort=context["sort"])
        except ServiceError as err:
            context["analysis_error"] = err.message
        if context.get("analysis") and context["analysis"]["confusion_matrix"] is not None:
            a = context["analysis"]
            classes = a["classes"]
            context["matrix_rows"] = [(classes[t], row) for t, row in zip(a["confusion_matrix"]["order"],
                                                                          a["confusion_matrix"]["rows"], strict=True)]
            context["matrix_cols"] = [classes[p] for p in a["confusion_matrix"]["order"]]
        if "analysis" in context:
            context["metric_rows"] = [(k, v if isinstance(v, list) else None, v if not isinstance(v, list) else None)
                                      for k, v in context["analysis"]["metrics"].items()]
    return render(request, "frontend/evaluation_detail.html", context, status=200)


@login_required
def evaluation_sample(request, pk, index: int):
    """One sample's image (the galleries' thumbnails), from the evaluation's own dataset; 404 if none."""
    evaluation = get_evaluation_for_user(request.user, pk)
    found = results.sample_image(evaluation, index)
    if found is None:
        raise Http404("No image for this sample.")
    key, content_type = found
    try:
        stream = storage().open_read(key)
    except FileNotFoundError:
        raise Http404("No image for this sample.") from None
    response = FileResponse(stream, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def evaluation_new(request):
    """Evaluate a checkpoint (the run page's "Evaluate" form); back to the run page with the reason if refused."""
    checkpoint = get_checkpoint_for_user(request.user, request.POST.get("checkpoint", ""))
    form = {k: v for k, v in request.POST.items() if k in EvaluationCreateSerializer().fields and v != ""}
    if request.POST.get("metrics"):
        form["metrics"] = [m.strip() for m in request.POST["metrics"].replace(",", " ").split() if m.strip()]
    back = redirect("run-detail", checkpoint.run_id)
    ser = EvaluationCreateSerializer(data=form)
    try:
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        data.pop("checkpoint")
        evaluation = services.submit_evaluation(request.user, checkpoint, **data)
    except ValidationError as err:
        messages.error(request, f"Not evaluated: {validation_problems(err)}")
        return back
    except ServiceError as err:
        messages.error(request, f"Not evaluated: {err.message}")
        return refused(back, err)
    messages.success(request, f"Evaluating {evaluation.name}.")
    return redirect("evaluation-detail", evaluation.pk)


@login_required
@require_POST
def evaluation_cancel(request, pk):
    evaluation = get_evaluation_for_user(request.user, pk)
    try:
        services.cancel_evaluation(request.user, evaluation)
    except ServiceError as err:
        messages.error(request, err.message)
    return redirect("evaluation-detail", evaluation.pk)
