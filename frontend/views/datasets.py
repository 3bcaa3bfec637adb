"""Datasets: register one (a folder on the storage or an uploaded zip), see its classes, counts and
the last verification (layout, readable images, counts per split, fingerprint)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from backend.accounts import access
from backend.experiments import datasets
from backend.experiments.access import datasets_for, get_dataset_for_user
from backend.experiments.errors import ServiceError
from frontend.refusals import refused

# --- access helpers ----------------------------------------------------------------------------


def _dataset_and_role(request, pk):
    ds = get_dataset_for_user(request.user, pk)
    return ds, access.get_membership(request.user, ds.team).can_write


def _write_team(request):
    team = access.default_team(request.user)
    if team is None:
        raise PermissionDenied("You are not in any team yet.")
    access.require_write(request.user, team)
    return team


# --- views -------------------------------------------------------------------------------------


@login_required
def dataset_list(request):
    """The team's datasets, and the form that registers one (POST)."""
    team = access.default_team(request.user)
    can_write = bool(team) and access.get_membership(request.user, team).can_write
    form = {"name": "", "path": "", "description": ""}
    error, status, refusal = None, 200, None
    if request.method == "POST":
        team = _write_team(request)
        form = {k: request.POST.get(k, "").strip() for k in form}
        try:
            ds = datasets.register_dataset(request.user, team=team, name=form["name"], path=form["path"] or None,
                                           upload=request.FILES.get("file"), description=form["description"])
        except ServiceError as err:
            error, status, refusal = err.message, 400, err
        else:
            messages.success(request, f"Dataset “{ds.name}” registered.")
            return redirect("dataset-detail", pk=ds.pk)
    return refused(render(request, "frontend/dataset_list.html", {
        "datasets": datasets_for(request.user), "form": form, "error": error, "can_write": can_write,
        "max_upload": datasets.upload_max_bytes()}, status=status), refusal)


@login_required
def dataset_detail(request, pk):
    ds, can_write = _dataset_and_role(request, pk)
    report = ds.verification or {}
    # jsonb keeps keys in its own order: show train, val, test as the layout names them
    order = {name: i for i, name in enumerate(datasets.SPLITS)}
    splits = sorted((report.get("splits") or {}).items(), key=lambda kv: order.get(kv[0], len(order)))
    return render(request, "frontend/dataset_detail.html", {
        "ds": ds, "can_write": can_write, "report": report, "splits": splits,
        "runs": ds.runs.all()[:20]})


@login_required
@require_POST
def dataset_verify(request, pk):
    ds, _ = _dataset_and_role(request, pk)
    ds = datasets.verify_dataset(request.user, ds)
    if ds.verification.get("ok"):
        messages.success(request, "Verified: the layout, counts and images check out.")
    else:
        messages.error(request, "Verification found problems: see below.")
    return redirect("dataset-detail", pk=ds.pk)
