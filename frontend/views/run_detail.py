"""One run's page: timeline, live curves and log, checkpoints, spec diffs, reproducibility, tags."""
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import jobspecs
from backend.accounts import access
from backend.experiments import run_actions
from backend.experiments.access import get_run_for_user, runs_for
from backend.experiments.checkpoints import with_availability
from backend.experiments.errors import ServiceError
from backend.experiments.models import LogLine, MetricPoint, Run
from workers.tools.vis_cam import SHOWN_METHODS

LOG_TAIL = 2000  # log lines the page starts with; older ones are in the API

# --- access helpers ----------------------------------------------------------------------------


def _run_and_role(request, pk) -> tuple[Run, bool]:
    """The run (404 for another team's) and whether the user may change it."""
    run = get_run_for_user(request.user, pk)
    return run, access.get_membership(request.user, run.team).can_write


# --- pieces of the page ------------------------------------------------------------------------


def base_spec(run: Run) -> dict | None:
    """The spec the run started from, without its cfg_options (None if it no longer loads).

    It goes through JSON as the stored resolved spec did, so tuples compare equal to lists.
    """
    try:
        if run.spec_name:
            spec = jobspecs.load(jobspecs.library_dir() / run.spec_name)
        else:
            spec = jobspecs.load_text(run.spec_text, filename="<spec>")
    except (jobspecs.SpecError, OSError):
        return None
    return json.loads(json.dumps(spec))


def timeline(run: Run) -> list[dict]:
    """Each status the run went through, with when, why and how long it stayed there."""
    steps = [{"status": "queued", "at": run.created_at, "reason": ""}]
    steps += [{"status": e.to_status, "at": e.at, "reason": e.reason} for e in run.events.all()]
    for here, nxt in zip(steps, steps[1:], strict=False):
        here["seconds"] = max(0.0, (nxt["at"] - here["at"]).total_seconds())
    return steps


def reproducibility(run: Run) -> list[tuple[str, object]]:
    """What it takes to run this again: rows of (label, value) from the run's environment and dataset."""
    env = run.environment or {}
    spec = run.resolved_spec or {}
    rows = [("spec hash", run.spec_hash),
            ("library spec", run.spec_name or "pasted"),
            ("code version", env.get("code_version") or env.get("git_sha") or "—"),
            ("seed", env.get("seed", spec.get("seed", "—"))),
            ("deterministic", env.get("deterministic", spec.get("deterministic", "—"))),
            ("dataset", f"{run.dataset.name} ({run.dataset.path})"),
            ("dataset fingerprint", env.get("dataset_fingerprint") or run.dataset.fingerprint or "—")]
    for key in ("python", "platform", "cuda", "hostname"):
        if env.get(key):
            rows.append((key, env[key]))
    return rows


def _packages(run: Run) -> list[tuple[str, str]]:
    pkgs = (run.environment or {}).get("packages") or {}
    if isinstance(pkgs, dict):
        return sorted((str(k), str(v)) for k, v in pkgs.items())
    return [(str(p), "") for p in pkgs]


def stream_start(run: Run) -> str:
    """The SSE ``last`` id the page starts from: after the metric points it draws from the
    (downsampled) metrics API, and ``LOG_TAIL`` lines before the end of the log."""
    # The newest point of any run: the same cut for this run's stream (ids only grow), read off the end of
    # the primary key. Filtered by run, PostgreSQL walks that key backwards until it meets the run's
    # newest point, which for an early run with a long curve is most of the table (~0.6 s at 5M points).
    last_point = MetricPoint.objects.order_by("-id").values_list("id", flat=True).first() or 0
    before_tail = (LogLine.objects.filter(run=run).order_by("-id").values_list("id", flat=True)[LOG_TAIL:LOG_TAIL + 1])
    return f"{last_point}-{before_tail[0] if before_tail else 0}"


def _diff_lines(text: str) -> list[tuple[str, str]]:
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    return [(kinds.get(line[:1], "ctx") if not line.startswith(("+++", "---")) else "file", line)
            for line in text.splitlines()]


# --- views -------------------------------------------------------------------------------------


@login_required
def run_detail(request, pk):
    run, can_write = _run_and_role(request, pk)
    base = base_spec(run)
    base_diff = jobspecs.diff(base, run.resolved_spec, "base spec", "this run") if base is not None else None
    others = runs_for(request.user).exclude(pk=run.pk)[:50]
    return render(request, "frontend/run_detail.html", {
        "run": run, "can_write": can_write, "steps": timeline(run), "others": others,
        "spec_text": jobspecs.dumps(run.resolved_spec, format="py"),
        "base_diff": _diff_lines(base_diff) if base_diff else [], "base_missing": base is None,
        "repro": reproducibility(run), "packages": _packages(run),
        "checkpoints": with_availability(run.checkpoints.all()), "tags": run.tags.all(), "last_event": stream_start(run),
        "batch": run.spec_facts().batch, "cam_methods": SHOWN_METHODS,
    })


@login_required
def run_diff(request, pk):
    """The resolved spec of this run against another run's (htmx partial)."""
    run, _ = _run_and_role(request, pk)
    other_id = request.GET.get("against", "")
    if not other_id:
        return render(request, "frontend/_spec_diff.html", {"lines": [], "empty": "Pick a run to compare with."})
    other = get_run_for_user(request.user, other_id)
    text = jobspecs.diff(other.resolved_spec, run.resolved_spec, f"{other.name}", f"{run.name}")
    return render(request, "frontend/_spec_diff.html", {
        "lines": _diff_lines(text), "other": other, "empty": "The two resolved specs are identical."})


@login_required
def run_checkpoints(request, pk):
    run, can_write = _run_and_role(request, pk)
    return render(request, "frontend/_checkpoints.html",
                  {"run": run, "checkpoints": with_availability(run.checkpoints.all()), "can_write": can_write})


@login_required
def run_timeline(request, pk):
    run, _ = _run_and_role(request, pk)
    return render(request, "frontend/_timeline.html", {"run": run, "steps": timeline(run)})


@login_required
@require_POST
def run_tags(request, pk):
    """Add (``tag``) or remove (``remove``) one tag on this run."""
    run, _ = _run_and_role(request, pk)
    add, remove = request.POST.get("tag", "").strip(), request.POST.get("remove", "").strip()
    try:
        run_actions.tag_runs(request.user, [run], add=[add] if add else [], remove=[remove] if remove else [])
    except ServiceError as err:
        messages.error(request, err.message)
    return redirect("run-detail", pk=run.pk)
