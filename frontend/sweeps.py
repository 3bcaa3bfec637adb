"""Sweep pages: the list, a new sweep (with a search-space editor) and a sweep's trials.

State changes go through ``backend.experiments.submit`` and ``lifecycle``; access through
``backend.experiments.access`` (another team's sweep is a 404, a viewer's write a 403).
"""
from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import jobspecs
from backend.accounts import access
from backend.experiments import lifecycle, submit
from backend.experiments.access import get_sweep_for_user, sweeps_for
from backend.experiments.errors import ServiceError
from backend.experiments.models import DEFAULT_PRIMARY, TERMINAL, Dataset
from backend.experiments.trials import trial_values
from frontend.refusals import refused
from jobspecs.contract import ContractError, spec_facts

DOMAIN_TYPES = ["choice", "grid_search", "uniform", "loguniform", "randint", "quniform", "qloguniform",
                "qrandint", "lograndint", "randn", "qrandn"]
MAX_ROWS = 12


@login_required
def sweep_list(request):
    return render(request, "frontend/sweep_list.html", {"sweeps": sweeps_for(request.user)[:200]})


def _rows_from_space(space: dict) -> list[dict]:
    rows = []
    for key, d in space.items():
        values = ", ".join(json.dumps(v) for v in d.get("values", []))
        rows.append({"key": key, "type": d.get("type", "choice"), "values": values,
                     "lower": d.get("lower", d.get("mean", "")), "upper": d.get("upper", d.get("sd", "")),
                     "q": d.get("q", "")})
    return rows


def _number(text: str, what: str):
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise ValueError(f"{what} must be a number, not {text!r}") from None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {text!r}")
    return value


def _space_from_post(post) -> tuple[dict, list[dict]]:
    """The search space the editor's rows describe (``key_i``, ``type_i``, ``values_i``, ...)."""
    space, rows = {}, []
    for i in range(MAX_ROWS):
        key = post.get(f"key_{i}", "").strip()
        row = {f: post.get(f"{f}_{i}", "").strip() for f in ("type", "values", "lower", "upper", "q")}
        if not key:
            continue
        rows.append({"key": key, **row})
        kind = row["type"] if row["type"] in DOMAIN_TYPES else "choice"
        if kind in ("choice", "grid_search"):
            try:
                values = json.loads(f"[{row['values']}]")
            except json.JSONDecodeError:
                raise ValueError(f"values of {key!r}: write them as JSON separated by commas, e.g. 0.1, 0.01 "
                                 f"or \"a\", \"b\"") from None
            space[key] = {"type": kind, "values": values}
        elif kind in ("randn", "qrandn"):
            space[key] = {"type": kind, "mean": _number(row["lower"], f"mean of {key!r}"),
                          "sd": _number(row["upper"], f"sd of {key!r}")}
        else:
            space[key] = {"type": kind, "lower": _number(row["lower"], f"lower of {key!r}"),
                          "upper": _number(row["upper"], f"upper of {key!r}")}
        if kind.startswith("q"):
            space[key]["q"] = _number(row["q"], f"q of {key!r}")
    return space, rows


@login_required
def sweep_new(request):
    team = access.default_team(request.user)
    datasets = Dataset.objects.filter(team_id__in=access.team_ids(request.user))
    specs = sorted(jobspecs.list_library(), key=lambda s: (not s.startswith("demo/"), s))
    spec_name = request.POST.get("spec_name") or request.GET.get("spec_name") or \
        "demo/resnet18-tiny_asha-sweep_digits.py"
    form = {"spec_name": spec_name, "dataset": request.POST.get("dataset", ""), "name": request.POST.get("name", ""),
            "cfg_options": request.POST.get("cfg_options", ""), "metric": DEFAULT_PRIMARY[0], "mode": DEFAULT_PRIMARY[1],
            "num_samples": "8", "search_alg": "random", "scheduler": "asha", "max_concurrent_trials": "2",
            "num_workers": "1"}
    rows: list[dict] = []
    if spec_name in set(specs):  # start from the library spec's primary metric and its own sweep section
        spec = jobspecs.load(jobspecs.library_dir() / spec_name)
        try:
            facts = spec_facts(spec)
        except ContractError:
            facts = None
        if facts is not None and facts.primary_metric:
            form.update(metric=facts.primary_metric, mode=facts.primary_mode)
        base = spec.get("sweep") or {}
        rows = _rows_from_space(base.get("space", {}))
        for key in ("metric", "mode", "num_samples", "max_concurrent_trials"):
            if base.get(key) is not None:
                form[key] = str(base[key])
        for key in ("search_alg", "scheduler"):
            if base.get(key):
                form[key] = str(base[key]["type"] if isinstance(base[key], dict) else base[key])
    error, errors, refusal = None, [], None
    if request.method == "POST":
        if team is None:
            raise PermissionDenied("You are not in any team.")
        form.update({k: request.POST.get(k, v) for k, v in form.items()})
        try:
            space, rows = _space_from_post(request.POST)
            config = {"space": space, "metric": form["metric"], "mode": form["mode"],
                      "num_samples": int(form["num_samples"] or 1), "search_alg": form["search_alg"],
                      "scheduler": form["scheduler"],
                      "max_concurrent_trials": int(form["max_concurrent_trials"]) if form["max_concurrent_trials"]
                      else None}
            cfg_options = [line.strip() for line in form["cfg_options"].splitlines() if line.strip()]
            sweep = submit.submit_sweep(
                request.user, team=team, dataset=form["dataset"], spec_name=form["spec_name"],
                cfg_options=cfg_options, name=form["name"], sweep=config,
                resources={"num_workers": int(form["num_workers"] or 1)})
        except ValueError as err:
            error = str(err)
        except ServiceError as err:
            if err.status == 403:
                raise PermissionDenied(err.message) from None
            error, errors, refusal = err.message, err.errors, err
        else:
            messages.success(request, f"Sweep {sweep.name} queued.")
            return redirect("sweep-detail", pk=sweep.pk)
    while len(rows) < 4:
        rows.append({"key": "", "type": "choice", "values": "", "lower": "", "upper": "", "q": ""})
    return refused(render(request, "frontend/sweep_new.html", {
        "form": form, "rows": rows, "specs": specs, "datasets": datasets, "domain_types": DOMAIN_TYPES,
        "error": error, "errors": errors, "can_write": _can_write(request.user, team)}), refusal)


def _can_write(user, team) -> bool:
    if team is None:
        return False
    try:
        access.require_write(user, team)
    except Exception:
        return False
    return True


def _context(request, pk) -> dict:
    sweep = get_sweep_for_user(request.user, pk)
    values = trial_values(sweep)
    # how often PBT restarted each trial on a better one's checkpoint (its "PBT mutated" events)
    clones = Count("events", filter=Q(events__reason__startswith="PBT mutated"))
    trials = list(sweep.trials.annotate(clones=clones).order_by("created_at"))
    keys = list(sweep.config.get("space", {}))
    table = [{"run": t, "value": values.get(t.pk), "params": [t.trial_params.get(k) for k in keys]} for t in trials]
    plot = {"keys": keys, "metric": sweep.config.get("metric"), "mode": sweep.config.get("mode", "max"),
            "log": [sweep.config["space"][k]["type"] in ("loguniform", "qloguniform", "lograndint") for k in keys],
            "trials": [{"id": str(t.pk), "params": [t.trial_params.get(k) for k in keys], "value": values.get(t.pk),
                        "early": t.early_stopped, "status": t.status} for t in trials]}
    from workers.distributed.sweep import num_trials

    return {"sweep": sweep, "table": table, "keys": keys, "plot": plot, "planned": num_trials(sweep.config),
            "active": sweep.status not in TERMINAL, "can_write": _can_write(request.user, sweep.team)}


@login_required
def sweep_detail(request, pk):
    return render(request, "frontend/sweep_detail.html", _context(request, pk))


@login_required
def sweep_trials(request, pk):
    """The trial table and plot data alone, polled by htmx while the sweep runs."""
    return render(request, "frontend/_sweep_trials.html", _context(request, pk))


@login_required
@require_POST
def sweep_cancel(request, pk):
    sweep = get_sweep_for_user(request.user, pk)
    try:
        lifecycle.cancel(request.user, sweep)
    except ServiceError as err:
        if err.status == 403:
            raise PermissionDenied(err.message) from None
        messages.error(request, err.message)
    return redirect("sweep-detail", pk=sweep.pk)


__all__ = ["sweep_list", "sweep_new", "sweep_detail", "sweep_trials", "sweep_cancel"]
