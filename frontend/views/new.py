"""The new-run form: a spec from the library (with the model zoo's reference numbers) or pasted or
uploaded, ``cfg-options`` rows, dataset and resources; errors are shown at their line while typing."""
import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import jobspecs
from backend.accounts import access
from backend.experiments import run_actions, specs, submit
from backend.experiments.access import get_run_for_user
from backend.experiments.errors import ServiceError
from backend.experiments.models import Dataset
from frontend.refusals import refused
from jobspecs.contract import ContractError, spec_facts

MAX_SPEC_BYTES = 256 * 1024

# --- access helpers ----------------------------------------------------------------------------


def _team_and_role(request):
    """The team new runs go to and whether the user may submit there (404 without any team)."""
    team = access.default_team(request.user)
    if team is None:
        raise Http404("You are not in any team yet.")
    return team, access.get_membership(request.user, team).can_write


# --- the spec library --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _zoo() -> dict:
    """Reference numbers by library spec name; empty if the zoo module is missing or broken."""
    try:
        from jobspecs.zoo import zoo_entries

        return {e.spec: e for e in zoo_entries()}
    except Exception:  # the zoo is optional here: the form works without its numbers
        return {}


def _human(n, unit: str = "") -> str:
    if n is None:
        return "—"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{n}{unit}"


def library_rows() -> list[dict]:
    """One row per library spec: name, family (its folder), dataset and the zoo's Params/FLOPs/top-1."""
    rows = []
    for name in sorted(jobspecs.list_library(), key=lambda s: (not s.startswith("demo/"), s)):
        try:
            info = jobspecs.parse_name(name)
        except jobspecs.SpecError:
            info = {}
        entry = _zoo().get(name)
        rows.append({
            "name": name, "family": name.split("/", 1)[0], "dataset": info.get("dataset") or "",
            "variant": getattr(entry, "variant", ""), "params": _human(getattr(entry, "params", None)),
            "flops": _human(getattr(entry, "flops", None)),
            "top1": getattr(entry, "top1", None),
        })
    return rows


def search_library(q: str) -> list[dict]:
    """Library rows whose family, dataset, name or variant contain every word of ``q``."""
    words = q.lower().split()
    return [r for r in library_rows()
            if all(w in f"{r['family']} {r['dataset']} {r['name']} {r['variant']}".lower() for w in words)]


# --- the form ----------------------------------------------------------------------------------

FIELDS = ("spec_name", "spec_text", "dataset", "name", "num_workers", "cpus_per_worker", "strategy")


def _blank_form() -> dict:
    res = specs.DEFAULT_RESOURCES
    return {"spec_name": "", "spec_text": "", "dataset": "", "name": "", "cfg_options": [],
            "num_workers": str(res["num_workers"]), "cpus_per_worker": str(res["cpus_per_worker"]),
            "strategy": res["strategy"]}


def _form_from_post(request) -> dict:
    form = _blank_form()
    form.update({k: request.POST.get(k, form[k]).strip() if k != "spec_text" else request.POST.get(k, "")
                 for k in FIELDS})
    rows = request.POST.getlist("cfg_option")
    # one key=value per line is accepted too (the older form, and pasting a list of options)
    rows += request.POST.get("cfg_options", "").splitlines()
    form["cfg_options"] = [r.strip() for r in rows if r.strip()]
    upload = request.FILES.get("spec_file")
    if upload is not None:
        if upload.size > MAX_SPEC_BYTES:
            raise ServiceError(f"The uploaded spec is larger than {MAX_SPEC_BYTES // 1024} KiB.")
        form["spec_text"] = upload.read().decode("utf-8", errors="replace")
    if form["spec_text"].strip():
        form["spec_name"] = ""  # a pasted or uploaded spec wins over the library pick
    return form


def _resources(form: dict) -> dict:
    def number(key, cast):
        try:
            return cast(form[key])
        except (TypeError, ValueError):
            raise ServiceError(f"resources.{key} must be a number, not {form[key]!r}.") from None

    return {"num_workers": number("num_workers", int), "cpus_per_worker": number("cpus_per_worker", float),
            "strategy": form["strategy"]}


def _context(request, form, team, can_write, errors=(), error_message=None) -> dict:
    datasets = Dataset.objects.filter(team=team)
    return {"form": form, "errors": list(errors), "error_message": error_message, "datasets": datasets,
            "library": library_rows(), "can_write": can_write, "q": "",
            "spec_lines": range(1, max(12, form["spec_text"].count("\n") + 2))}


@login_required
def run_new(request):
    team, can_write = _team_and_role(request)
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied("Viewers cannot submit runs.")
        form = _blank_form()
        try:
            form = _form_from_post(request)
            run = submit.submit_run(
                request.user, team=team, dataset=form["dataset"], spec_name=form["spec_name"] or None,
                spec_text=form["spec_text"] if form["spec_text"].strip() else None,
                cfg_options=form["cfg_options"], name=form["name"], resources=_resources(form))
        except ServiceError as err:
            return refused(render(request, "frontend/run_new.html",
                                  _context(request, form, team, can_write, err.errors, err.message), status=400), err)
        messages.success(request, f"Run “{run.name}” queued.")
        return redirect("run-detail", pk=run.pk)

    form = _blank_form()
    if fork_id := request.GET.get("fork"):
        source = get_run_for_user(request.user, fork_id)
        ckpt = None
        if ckpt_id := request.GET.get("checkpoint"):
            ckpt = source.checkpoints.filter(pk=ckpt_id).first() if ckpt_id.isdigit() else None
            if ckpt is None:
                raise Http404("No such checkpoint.")
        form.update(run_actions.fork_run(source, ckpt))
    else:
        first = Dataset.objects.filter(team=team).first()
        form["dataset"] = first.name if first else ""
        rows = library_rows()
        form["spec_name"] = request.GET.get("spec") or (rows[0]["name"] if rows else "")
    return render(request, "frontend/run_new.html", _context(request, form, team, can_write))


@login_required
def spec_list(request):
    """The library table filtered by ``q`` (htmx, as the search box is typed in)."""
    _team_and_role(request)
    return render(request, "frontend/_spec_list.html", {
        "library": search_library(request.GET.get("q", "")), "form": {"spec_name": request.GET.get("spec_name", "")},
    })


@login_required
@require_POST
def validate_spec(request):
    """Resolve the form's spec and options as submitting would, and list the problems with line:col."""
    _team_and_role(request)
    errors, message, summary = [], None, None
    try:
        form = _form_from_post(request)
        spec, _ = specs.resolve_spec(spec_text=form["spec_text"] if form["spec_text"].strip() else None,
                                        spec_name=form["spec_name"] or None, cfg_options=form["cfg_options"])
        summary = _summary(spec)
    except ServiceError as err:
        errors, message = err.errors, err.message
    return render(request, "frontend/_spec_errors.html", {"errors": errors, "error_message": message,
                                                          "summary": summary, "checked": True})


def _summary(spec: dict) -> str:
    """One line on a checked spec, from its facts: the model, its backbone and its length."""
    try:
        facts = spec_facts(spec)
    except ContractError:
        return "? with a ? backbone, ? epochs."
    unit = "epochs" if facts.unit == "epoch" else "iterations"
    return f"{facts.model or '?'} with a {facts.backbone or '?'} backbone, {facts.length} {unit}."
