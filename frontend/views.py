"""Server-rendered dashboard pages. State changes go through ``backend.experiments.services``."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import jobspecs
from backend.accounts import access
from backend.experiments import services
from backend.experiments.api import get_run_for_user, runs_for
from backend.experiments.models import Dataset


def _library_specs() -> list[str]:
    return sorted(jobspecs.list_library(), key=lambda s: (not s.startswith("demo/"), s))


@login_required
def run_list(request):
    return render(request, "frontend/run_list.html", {"runs": runs_for(request.user)[:100]})


@login_required
def run_table(request):
    """The runs table alone, polled by htmx so statuses move without a reload."""
    return render(request, "frontend/_run_table.html", {"runs": runs_for(request.user)[:100]})


@login_required
def run_new(request):
    team = access.default_team(request.user)
    datasets = Dataset.objects.filter(team_id__in=access.team_ids(request.user))
    form = {"spec_name": "", "spec_text": "", "dataset": "", "cfg_options": "", "name": "", "num_workers": "2"}
    errors, error_message = [], None
    if request.method == "POST":
        form.update({k: request.POST.get(k, "") for k in form})
        if team is None:
            raise PermissionDenied("You are not in any team.")
        try:
            access.require_write(request.user, team)
            options = [line.strip() for line in form["cfg_options"].splitlines() if line.strip()]
            run = services.submit_run(
                request.user, team=team, dataset=form["dataset"],
                spec_name=form["spec_name"] or None, spec_text=form["spec_text"] or None,
                cfg_options=options, name=form["name"], resources={"num_workers": _int(form["num_workers"], 2)},
            )
        except services.ServiceError as err:
            error_message, errors = err.message, err.errors
        else:
            messages.success(request, f"Run “{run.name}” queued.")
            return redirect("run-detail", pk=run.pk)
    elif datasets:
        form["dataset"] = datasets[0].name
        specs = _library_specs()
        form["spec_name"] = specs[0] if specs else ""
    status = 400 if error_message else 200
    return render(request, "frontend/run_new.html", {
        "form": form, "errors": errors, "error_message": error_message, "datasets": datasets,
        "specs": _library_specs(), "can_write": team is not None and access.get_membership(request.user, team).can_write,
    }, status=status)


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@login_required
def run_detail(request, pk):
    run = get_run_for_user(request.user, pk)
    membership = access.get_membership(request.user, run.team)
    return render(request, "frontend/run_detail.html", {
        "run": run, "can_write": membership.can_write, "events": run.events.all(),
        "spec_json": jobspecs.dumps(run.resolved_spec, format="py"),
    })


@login_required
def run_checkpoints(request, pk):
    run = get_run_for_user(request.user, pk)
    return render(request, "frontend/_checkpoints.html", {"run": run, "checkpoints": run.checkpoints.all()})


@login_required
def run_timeline(request, pk):
    run = get_run_for_user(request.user, pk)
    return render(request, "frontend/_timeline.html", {"run": run, "events": run.events.all()})


@login_required
@require_POST
def run_cancel(request, pk):
    run = get_run_for_user(request.user, pk)
    try:
        services.cancel_run(request.user, run)
    except services.ServiceError as err:
        messages.error(request, err.message)
    else:
        messages.info(request, "Cancel requested: the Ray job is being stopped.")
    return redirect("run-detail", pk=run.pk)
