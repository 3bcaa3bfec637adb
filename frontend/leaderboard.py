"""The leaderboard page: the board of ``backend.leaderboard`` as a sortable table and a scatter plot, and the
"Verify" button of a row (``backend.leaderboard.verification``: an evaluation job re-scores the row's number).

The scatter (top-1 against FLOPs, log scale) is inline SVG drawn here, with the Pareto front of the
team's runs as a line and the zoo's published rows as hollow points.
"""
import json
import math
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from backend.accounts import access
from backend.experiments.errors import ServiceError
from backend.experiments.models import Dataset
from backend.leaderboard import services, verification
from backend.leaderboard.serializers import LeaderboardEntrySerializer
from frontend.refusals import refused

WIDTH, HEIGHT, PAD = 640, 300, 44
COLUMNS = [("model", "Model"), ("family", "Family"), ("params_m", "Params (M)"), ("flops_g", "FLOPs (G)"),
           ("top1", "Top-1"), ("top5", "Top-5"), ("epochs", "Epochs"), ("train_seconds", "Train time"),
           ("finished_at", "When")]
FILTERS = ("dataset", "team", "family", "q", "verified", "ordering")


def params_text(params: dict | None) -> str:
    """A trial's parameters as its row shows them: ``optimizer.lr=0.01, model.head.dropout=0.1``."""
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in sorted((params or {}).items()))


def scatter(results: list, references: list, pareto: list[str]) -> dict | None:
    """SVG coordinates of the board's points: x = log10 FLOPs (G), y = top-1; None without FLOPs."""
    pts = [(e, False) for e in results] + [(e, True) for e in references]
    pts = [(e, ref) for e, ref in pts if e["flops_g"] and e["top1"] is not None]
    if not pts:
        return None
    xs = [math.log10(e["flops_g"]) for e, _ in pts]
    ys = [e["top1"] for e, _ in pts]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1
    y0, y1 = math.floor(min(ys) - 1), math.ceil(max(ys) + 1)

    def sx(v):
        return round(PAD + (v - x0) / (x1 - x0) * (WIDTH - 2 * PAD), 1)

    def sy(v):
        return round(HEIGHT - PAD - (v - y0) / (y1 - y0) * (HEIGHT - 2 * PAD), 1)

    points = [{"x": sx(math.log10(e["flops_g"])), "y": sy(e["top1"]), "ref": ref, "entry": e,
               "front": (not ref) and e["run_id"] in pareto} for e, ref in pts]
    front = sorted((p for p in points if p["front"]), key=lambda p: p["x"])
    return {"width": WIDTH, "height": HEIGHT, "points": points,
            "front": " ".join(f"{p['x']},{p['y']}" for p in front),
            "x_label": f"FLOPs (G), log scale: {10 ** x0:.2g} – {10 ** x1:.2g}",
            "y_label": f"top-1 (%): {y0} – {y1}", "bottom": HEIGHT - PAD, "left": PAD, "right": WIDTH - PAD,
            "top": PAD}


@login_required
def leaderboard(request):
    try:
        data = services.board(request.user, request.GET)
    except ValueError as err:
        return HttpResponseBadRequest(str(err))
    results = [{**row, "params_text": params_text(row["params"])}
               for row in LeaderboardEntrySerializer([e.as_dict() for e in data["results"]], many=True).data]
    references = LeaderboardEntrySerializer([e.as_dict() for e in data["references"]], many=True).data
    ordering = request.GET.get("ordering") or "-top1"
    mine = list(access.memberships(request.user))
    teams = [m.team for m in mine]
    writable = {m.team.slug for m in mine if m.can_write}
    for row in results:
        row["can_verify"] = row["team"] in writable
    datasets = sorted(set(Dataset.objects.filter(team_id__in=access.team_ids(request.user))
                          .values_list("name", flat=True)))
    filters = {k: request.GET.get(k, "") for k in ("dataset", "team", "family", "q")}
    if verification.wants_verified(request.GET.get("verified")):
        filters["verified"] = "1"
    query = urlencode({k: v for k, v in filters.items() if v})
    columns = [{"key": key, "label": label, "sorted": ordering.lstrip("-") == key,
                "desc": ordering == "-" + key,
                "next": key if ordering == "-" + key else "-" + key} for key, label in COLUMNS]
    return render(request, "frontend/leaderboard.html", {
        "results": results, "references": references, "columns": columns, "filters": filters, "query": query,
        "teams": teams, "datasets": datasets, "plot": scatter(results, references, data["pareto"]),
        "ordering": ordering, "orderings": services.ORDERINGS, "tolerance": verification.TOLERANCE,
    })


@login_required
@require_POST
def leaderboard_verify(request):
    """A row's "Verify" button: start the evaluation that re-scores its number, then back to the board (with its
    filters) saying so; another team's run is a 404, a viewer's verify a 403."""
    back = reverse("leaderboard")
    query = urlencode({k: request.POST[k] for k in FILTERS if request.POST.get(k)})
    back = redirect(f"{back}?{query}" if query else back)
    try:
        evaluation = verification.verify(request.user, request.POST.get("run", ""))
    except ServiceError as err:
        messages.error(request, f"Not verified: {err.message}")
        return refused(back, err)
    messages.success(request, f"Verifying: {evaluation.name} re-scores the reported number on the validation split.")
    return back
