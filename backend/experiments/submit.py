"""Submitting runs and sweeps: check who may, how often and what (``specs``), store the job, and queue its
dispatch once the transaction commits (``lifecycle.queue_dispatch``).

The API and the dashboard's forms both call these, so both are checked and limited alike.
"""
from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction
from django.utils import timezone

import jobspecs
from backend.accounts import access

from . import lifecycle, quotas, spec_paths, specs, throttles
from .errors import ServiceError
from .models import Dataset, Run, Sweep, facts_of
from .specs import check_sweep, normalise_cfg_options, resolve_spec


def submit_run(user, *, team=None, dataset, spec_text: str | None = None, spec_name: str | None = None,
               cfg_options=None, name: str | None = None, resources: dict | None = None) -> Run:
    """Validate and store a run, and queue its dispatch once the transaction commits.

    Args:
        user: Who submits; must be able to write in ``team``.
        team: The team (default: the user's first).
        dataset: A dataset of the team, by name or id.
        spec_text: A pasted spec, or
        spec_name: a library spec.
        cfg_options: ``{"a.b": value}`` or ``["a.b=value", ...]``.
        name: The run's name (default: the spec's and the time).
        resources: Overrides of the spec's ``resources``.
    """
    team = _team(user, team, "runs")
    spec, text = resolve_spec(spec_text=spec_text, spec_name=spec_name, cfg_options=cfg_options, user=user)
    if spec.get("sweep"):
        raise ServiceError("This spec has a sweep section: submit it as a sweep (POST /api/sweeps, or "
                           "\"New sweep\" on the dashboard), or drop the section to train it once.",
                           errors=[{"field": "sweep", "message": "a spec with a sweep section is a sweep"}])
    ds = _find_dataset(team, dataset)
    res = specs.resources(spec, resources)
    return _store(Run, user, team, ds, spec, text, spec_name=spec_name, cfg_options=cfg_options,
                  name=(name or "").strip()[:200] or _default_name(spec_name), resources=res)


def submit_sweep(user, *, team=None, dataset, spec_text: str | None = None, spec_name: str | None = None,
                 cfg_options=None, name: str | None = None, resources: dict | None = None,
                 sweep: dict | None = None) -> Sweep:
    """Validate and store a sweep, and queue its dispatch once the transaction commits.

    The arguments are ``submit_run``'s; ``sweep`` (optional) replaces the spec's own sweep section, and
    ``resources`` are each trial's.
    """
    team = _team(user, team, "sweeps")
    spec, text = resolve_spec(spec_text=spec_text, spec_name=spec_name, cfg_options=cfg_options, user=user)
    if sweep is not None:
        spec["sweep"] = sweep
        problems = [e for e in jobspecs.validate(spec) if e.path[:1] == ("sweep",)]
        if problems:
            hint = f" — {problems[0].hint}" if problems[0].hint else ""
            raise ServiceError(f"Bad sweep: {problems[0].message}{hint}", errors=[
                {"field": "sweep", "message": p.message, "hint": p.hint} for p in problems])
    space = (spec.get("sweep") or {}).get("space")
    problems = spec_paths.check_spec({}, None, user=user, sweep_space=space if isinstance(space, dict) else None)
    if problems:
        raise ServiceError(f"Bad sweep: {problems[0].message}", errors=[
            {"field": "sweep.space", "message": p.message, "hint": p.hint} for p in problems])
    res = specs.resources(spec, resources)
    cfg = check_sweep({**spec, "resources": res})
    ds = _find_dataset(team, dataset)
    return _store(Sweep, user, team, ds, spec, text, spec_name=spec_name, cfg_options=cfg_options,
                  name=(name or "").strip()[:200] or "sweep " + _default_name(spec_name), resources=res,
                  config=json.loads(json.dumps(cfg)))


def _team(user, team, scope: str):
    """The team the job goes to, once the user may write there and is within the submission rate."""
    team = team or access.default_team(user)
    if team is None:
        raise ServiceError("You are not in any team yet; ask a team owner to add you.")
    access.require_write(user, team)
    throttles.check(user, scope)
    return team


def _store(model, user, team, dataset: Dataset, spec: dict, text: str, *, spec_name, cfg_options, resources: dict,
           **fields):
    """Create the run or sweep under the team's queued limit, and queue its dispatch once that commits.

    The job keeps its spec's facts (``jobspecs.contract.spec_facts``, on the merged ``resources``): what the
    service reads of the spec from then on.
    """
    with transaction.atomic():
        quotas.check_queued(team, model)  # under the team's lock until the job is stored
        obj = model.objects.create(
            team=team, created_by=user, dataset=dataset, spec_name=spec_name or "", spec_text=text,
            cfg_options=normalise_cfg_options(cfg_options), resolved_spec=json.loads(json.dumps(spec)),
            spec_hash=jobspecs.spec_hash(spec), resources=resources, facts=facts_of(spec, resources), **fields)
        transaction.on_commit(lambda: lifecycle.queue_dispatch(model, obj.pk))
    return obj


def _default_name(spec_name: str | None) -> str:
    base = Path(spec_name).stem if spec_name else "pasted-spec"
    return f"{base} {timezone.now():%Y-%m-%d %H:%M:%S}"


def _find_dataset(team, dataset) -> Dataset:
    if dataset in (None, ""):
        raise ServiceError("Pick a dataset for the run.", errors=[{"field": "dataset", "message": "required"}])
    qs = Dataset.objects.filter(team=team)
    found = qs.filter(pk=dataset).first() if str(dataset).isdigit() else qs.filter(name=str(dataset)).first()
    if found is None:
        names = ", ".join(qs.values_list("name", flat=True)[:20]) or "none yet"
        raise ServiceError(f"No dataset '{dataset}' in team {team.name} (available: {names}).",
                           errors=[{"field": "dataset", "message": "not found"}])
    return found
