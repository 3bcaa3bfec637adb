"""The runs list: filter, search, sort and page through a team's runs; cancel or tag many at once."""
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from backend.accounts import access
from backend.experiments import lifecycle, run_actions
from backend.experiments.access import get_run_for_user, get_runs_for_user, runs_for
from backend.experiments.errors import ServiceError
from backend.experiments.filters import (
    FILTER_PARAMS,
    ORDERING_FIELDS,
    families,
    filter_runs,
    order_runs,
    ordering_of,
)
from backend.experiments.models import Dataset, RunStatus, Tag

PAGE_SIZE = 25

# --- access helpers ----------------------------------------------------------------------------


def _can_write_any(user) -> bool:
    return any(m.can_write for m in access.memberships(user))


def _runs_page(request) -> dict:
    """The filtered, sorted page of runs and everything the filter bar needs."""
    params = {k: request.GET.get(k, "").strip() for k in FILTER_PARAMS}
    ordering = ordering_of(request.GET.get("ordering"))
    qs = order_runs(filter_runs(runs_for(request.user), params), ordering)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    active = {k: v for k, v in params.items() if v}
    teams = access.team_ids(request.user)
    sort_links = {}
    for field in ORDERING_FIELDS:
        target = f"-{field}" if ordering == field else field
        sort_links[field] = {"url": "?" + urlencode({**active, "ordering": target}),
                             "dir": "asc" if ordering == field else "desc" if ordering == f"-{field}" else ""}
    return {
        "runs": page.object_list, "page": page, "params": params, "ordering": ordering, "sort": sort_links,
        "query": urlencode({**active, "ordering": ordering}),
        "statuses": RunStatus.values,
        "families": families(runs_for(request.user).values_list("spec_name", flat=True).distinct()),
        "datasets": Dataset.objects.filter(team_id__in=teams).values_list("name", flat=True).distinct(),
        "users": get_user_model().objects.filter(memberships__team_id__in=teams)
        .values_list("username", flat=True).distinct().order_by("username"),
        "tags": Tag.objects.filter(team_id__in=teams).values_list("name", flat=True).distinct(),
        "can_write": _can_write_any(request.user),
    }


@login_required
def run_list(request):
    return render(request, "frontend/run_list.html", _runs_page(request))


@login_required
def run_table(request):
    """The runs table alone, polled by htmx so statuses move without a reload."""
    return render(request, "frontend/_run_table.html", _runs_page(request))


@login_required
@require_POST
def runs_bulk(request):
    """Cancel or tag the selected rows (a CSRF-protected form post), then back to the same list."""
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) or not back.startswith("/"):
        back = "/"
    ids = request.POST.getlist("ids")
    if not ids:
        messages.error(request, "Select at least one run first.")
        return redirect(back)
    runs = get_runs_for_user(request.user, ids)
    action = request.POST.get("action")
    try:
        if action == "cancel":
            results = run_actions.cancel_runs(request.user, runs)
            done = sum(r.ok for r in results)
            messages.info(request, f"Cancel requested for {done} of {len(results)} run(s).")
            for r in results:
                if not r.ok:
                    messages.error(request, f"{r.id[:8]}: {r.detail}")
        elif action in ("tag", "untag"):
            tag = request.POST.get("tag", "")
            add, remove = ([tag], []) if action == "tag" else ([], [tag])
            run_actions.tag_runs(request.user, runs, add=add, remove=remove)
            messages.success(request, f"{'Tagged' if action == 'tag' else 'Untagged'} {len(runs)} run(s): "
                                      f"{run_actions.clean_tag(tag)}.")
        else:
            messages.error(request, "Pick an action: cancel, tag or untag.")
    except ServiceError as err:
        messages.error(request, err.message)
    return redirect(back)


@login_required
@require_POST
def run_cancel(request, pk):
    run = get_run_for_user(request.user, pk)
    try:
        lifecycle.cancel(request.user, run)
    except ServiceError as err:
        messages.error(request, err.message)
    else:
        messages.info(request, "Cancel requested: the Ray job is being stopped.")
    return redirect("run-detail", pk=run.pk)
