"""Sweeps: submit, dispatch, cancel and reconcile a Ray Tune search, and register its trials.

A sweep is one Ray job (``workers.distributed.sweep``) whose trials are ``Run`` rows with
``sweep`` set: they are created when Ray Tune starts them (their parameters are chosen then, by
the search algorithm) and report through the ordinary run ingestion. The sweep keeps its best
trial up to date as val metric points arrive, so the page shows a leader while the search runs.
"""
from __future__ import annotations

import json
import logging
import shlex
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

import jobspecs
from backend.accounts import access

from . import quotas, ray_jobs, spec_paths, throttles
from .models import TERMINAL, Run, RunEvent, RunStatus, Sweep
from .services import (
    Conflict,
    DispatchRefused,
    ServiceError,
    _default_name,
    _find_dataset,
    _normalise_cfg_options,
    _resources,
    claim_for_dispatch,
    issue_ingest_token,
    job_document,
    job_storage_location,
    refuse_dispatch,
    resolve_spec,
    submit_job,
)
from .storage import storage

log = logging.getLogger(__name__)



# --- submit --------------------------------------------------------------------------------------


def evaluation_metrics(spec: dict) -> list[str]:
    """The val metric names the engine will report for this spec (MMCls's names)."""
    evaluation = spec.get("evaluation") or {}
    wanted = evaluation.get("metric", "accuracy")
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    names = []
    for metric in wanted:
        if metric == "accuracy":
            topk = (evaluation.get("metric_options") or {}).get("topk", (1, 5))
            topk = [topk] if isinstance(topk, int) else list(topk)
            names += [f"accuracy_top-{k}" for k in topk]
        else:
            names.append(metric)
    return names


def check_sweep(spec: dict) -> dict:
    """The spec's sweep section, normalised; ServiceError with a message per problem otherwise."""
    from workers.distributed import sweep as tune_sweep
    from workers.registry import check_spec_types

    cfg = spec.get("sweep")
    if not cfg:
        raise ServiceError("The spec has no sweep section (sweep = dict(space={...}, metric=..., mode=...)).",
                           errors=[{"field": "sweep", "message": "missing"}])
    try:
        cfg = tune_sweep.normalise(cfg)
    except ValueError as err:
        raise ServiceError(f"Bad sweep: {err}", errors=[{"field": "sweep", "message": str(err)}]) from None
    if _kind(cfg["scheduler"]) == "pbt" and (spec.get("resources") or {}).get("strategy") == "deepspeed":
        # a clone's .pth carries the weights only; its DeepSpeed optimizer partitions stay with the clone
        message = ("scheduler 'pbt' cannot clone a DeepSpeed trial (its optimizer state lives in DeepSpeed's "
                   "own checkpoint); use strategy 'ddp' or scheduler 'asha'")
        raise ServiceError(f"Bad sweep: {message}", errors=[{"field": "sweep.scheduler", "message": message}])
    if _kind(cfg["scheduler"]) == "pbt" and not (spec.get("evaluation") or {}).get("interval", 1):
        message = "scheduler 'pbt' compares trials at each evaluation; the spec needs evaluation.interval"
        raise ServiceError(f"Bad sweep: {message}", errors=[{"field": "sweep.scheduler", "message": message}])
    metrics = evaluation_metrics(spec)
    if cfg["metric"] not in metrics:
        message = (f"sweep.metric {cfg['metric']!r} is not a metric this spec's evaluation reports "
                   f"({', '.join(metrics)})")
        raise ServiceError(f"Bad sweep: {message}", errors=[{"field": "sweep.metric", "message": message}])
    trials, most = tune_sweep.num_trials(cfg), settings.TRAINYARD_SWEEP_MAX_TRIALS
    if trials > most:
        message = (f"the sweep would run {trials} trials; at most {most} (TRAINYARD_SWEEP_MAX_TRIALS): "
                   f"lower num_samples or the grid")
        raise ServiceError(f"Bad sweep: {message}", errors=[{"field": "sweep.num_samples", "message": message,
                                                             "setting": "TRAINYARD_SWEEP_MAX_TRIALS"}])
    concurrent, most = cfg.get("max_concurrent_trials"), settings.TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS
    if isinstance(concurrent, int) and concurrent > most:
        message = (f"sweep.max_concurrent_trials is {concurrent}; at most {most} "
                   f"(TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS; an operator may raise it)")
        raise ServiceError(f"Bad sweep: {message}", errors=[{
            "field": "sweep.max_concurrent_trials", "message": message,
            "setting": "TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS"}])
    # A trial's spec must be valid too: try one value of every domain.
    probe = tune_sweep.apply_params(spec, tune_sweep.probe_params(cfg["space"]))
    problems = [e.message for e in jobspecs.validate(probe)]
    problems += [f"unknown {i.kind} type '{i.name}'" for i in check_spec_types(probe)]
    if problems:
        message = f"a trial's spec would not be valid: {problems[0]}"
        raise ServiceError(f"Bad sweep: {message}", errors=[{"field": "sweep.space", "message": p} for p in problems])
    return cfg


def _kind(option) -> str:
    return str(option.get("type") if isinstance(option, dict) else option).lower()


def submit_sweep(user, *, team=None, dataset, spec_text: str | None = None, spec_name: str | None = None,
                 cfg_options=None, name: str | None = None, resources: dict | None = None,
                 sweep: dict | None = None) -> Sweep:
    """Validate and store a sweep, and queue its dispatch once the transaction commits.

    ``sweep`` (optional) replaces the spec's own sweep section.
    """
    team = team or access.default_team(user)
    if team is None:
        raise ServiceError("You are not in any team yet; ask a team owner to add you.")
    access.require_write(user, team)
    throttles.check(user, "sweeps")
    spec, text = resolve_spec(spec_text=spec_text, spec_name=spec_name, cfg_options=cfg_options, user=user)
    if sweep is not None:
        spec["sweep"] = sweep
        problems = [e for e in jobspecs.validate(spec) if "sweep" in e.message]
        if problems:
            hint = f" — {problems[0].hint}" if problems[0].hint else ""
            raise ServiceError(f"Bad sweep: {problems[0].message}{hint}", errors=[
                {"field": "sweep", "message": p.message, "hint": p.hint} for p in problems])
    space = (spec.get("sweep") or {}).get("space")
    problems = spec_paths.check_spec({}, None, user=user, sweep_space=space if isinstance(space, dict) else None)
    if problems:
        raise ServiceError(f"Bad sweep: {problems[0].message}", errors=[
            {"field": "sweep.space", "message": p.message, "hint": p.hint} for p in problems])
    res = _resources(spec, resources)
    cfg = check_sweep({**spec, "resources": res})
    ds = _find_dataset(team, dataset)
    with transaction.atomic():
        quotas.check_queued(team, Sweep)  # under the team's lock until the sweep is stored
        obj = Sweep.objects.create(
            team=team, created_by=user, dataset=ds,
            name=(name or "").strip()[:200] or "sweep " + _default_name(spec_name),
            spec_name=spec_name or "", spec_text=text, cfg_options=_normalise_cfg_options(cfg_options),
            resolved_spec=json.loads(json.dumps(spec)), spec_hash=jobspecs.spec_hash(spec), resources=res,
            config=json.loads(json.dumps(cfg)),
        )
        transaction.on_commit(lambda: queue_dispatch(obj.pk))
    return obj


def queue_dispatch(sweep_id) -> None:
    from .tasks import dispatch_sweep

    try:
        dispatch_sweep.delay(str(sweep_id))
    except Exception:
        log.exception("could not queue the dispatch of sweep %s; reconcile will retry", sweep_id)


# --- dispatch ------------------------------------------------------------------------------------


def sweep_key(sweep: Sweep) -> str:
    """The sweep's folder on the storage, as a key: ``sweeps/<id>``."""
    return f"sweeps/{sweep.pk}"


def sweep_dir(sweep: Sweep) -> Path:
    """The sweep's folder on this machine: on the storage itself for a path, else in the scratch mirror."""
    return storage().local(sweep_key(sweep))


def dispatch(sweep_id: str) -> str:
    """Submit the sweep's Ray job (idempotent: the submission id is ``sweep-<uuid>``)."""
    sweep = claim_for_dispatch(Sweep, sweep_id)
    if isinstance(sweep, str):
        return sweep
    st = storage()
    key = sweep_key(sweep)
    try:
        job = job_document(sweep.resolved_spec, sweep.dataset, sweep.resources, sweep.created_by,
                           sweep_space=(sweep.config or {}).get("space"), sweep_id=str(sweep.pk), name=sweep.name,
                           sweep=sweep.config, sweep_key=key,
                       max_concurrent_trials=settings.TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS)
    except DispatchRefused as err:  # retrying cannot help: fail the sweep with the reason
        return refuse_dispatch(Sweep, sweep.pk, err)
    st.write_text(f"{key}/job.json", json.dumps(job, indent=2))  # whole or not at all
    # The driver's token (registers trials, reports the sweep's status): random, its digest on the sweep.
    token = issue_ingest_token(sweep)
    env = {
        "TRAINYARD_SWEEP_ID": str(sweep.pk),
        "TRAINYARD_SWEEP_TOKEN": token,
        "TRAINYARD_API_URL": settings.TRAINYARD_PUBLIC_URL.rstrip("/") + "/api",
        "TRAINYARD_STORAGE": job_storage_location(),
        "TRAINYARD_MAX_IMAGE_PIXELS": str(settings.TRAINYARD_MAX_IMAGE_PIXELS),  # the workers' image loader
    }
    # the job file by its key on the storage (TRAINYARD_STORAGE names the storage), quoted for the shell
    job_file = shlex.quote(f"{key}/job.json")
    entrypoint = f"{settings.TRAINYARD_JOB_PYTHON} -m workers.distributed.sweep {job_file}"
    return "submitted" if submit_job(sweep, entrypoint, env, token) else "already-submitted"


# --- trials --------------------------------------------------------------------------------------


def register_trial(sweep: Sweep, trial_id: str, params: dict) -> Run:
    """The run of one Tune trial, created when the trial starts (idempotent on ``trial_id``)."""
    from workers.distributed.sweep import apply_params

    trial_id = str(trial_id)[:64]
    existing = Run.objects.filter(sweep=sweep, trial_id=trial_id).first()
    if existing is not None:
        if params and params != existing.trial_params:
            _mutate_trial(sweep, existing, params)
        return existing
    if sweep.status in TERMINAL or sweep.status == RunStatus.CANCELLING:
        raise Conflict(f"The sweep has ended ({sweep.status}); no new trials.")
    unknown = sorted(set(params) - set(sweep.config.get("space", {})))
    if unknown:
        raise ServiceError(f"Trial parameters {unknown} are not keys of the sweep's space.")
    spec = apply_params(sweep.resolved_spec, params)
    now = timezone.now()
    try:
        with transaction.atomic():
            number = sweep.trials.count() + 1
            run = Run.objects.create(
                team_id=sweep.team_id, created_by_id=sweep.created_by_id, dataset_id=sweep.dataset_id,
                # the trial's own spec, written out in full: forking a trial trains exactly it again
                name=f"{sweep.name} · trial {number}", spec_name="", spec_text=jobspecs.dumps(spec),
                cfg_options={}, resolved_spec=json.loads(json.dumps(spec)),
                spec_hash=jobspecs.spec_hash(spec), resources=sweep.resources, status=RunStatus.RUNNING,
                ray_submission_id=sweep.job_id, sweep=sweep, trial_id=trial_id, trial_params=params,
                dispatched_at=now, started_at=now,
            )
            RunEvent.objects.create(run=run, from_status=RunStatus.QUEUED, to_status=RunStatus.RUNNING,
                                    reason=f"trial {trial_id} started by the sweep", at=now)
    except IntegrityError:  # the same trial registered twice at once
        return Run.objects.get(sweep=sweep, trial_id=trial_id)
    return run


def _mutate_trial(sweep: Sweep, run: Run, params: dict) -> None:
    """A trial PBT restarted with mutated hyperparameters: its params and spec become the new ones
    (the run's log says where it continued from), and a run event records the change."""
    from workers.distributed.sweep import apply_params

    unknown = sorted(set(params) - set(sweep.config.get("space", {})))
    if unknown:
        raise ServiceError(f"Trial parameters {unknown} are not keys of the sweep's space.")
    spec = apply_params(sweep.resolved_spec, params)
    changed = {k: v for k, v in params.items() if run.trial_params.get(k) != v}
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(
            trial_params=params, spec_text=jobspecs.dumps(spec), resolved_spec=json.loads(json.dumps(spec)),
            spec_hash=jobspecs.spec_hash(spec))
        RunEvent.objects.create(run=run, from_status=run.status, to_status=run.status,
                                reason="PBT mutated " + ", ".join(f"{k}={v!r}" for k, v in changed.items()))
    run.refresh_from_db()


def note_trial_points(run: Run, points) -> None:
    """Keep the sweep's best trial current as the trial's val metric points arrive."""
    sweep = Sweep.objects.only("pk", "config").get(pk=run.sweep_id)
    metric, mode = sweep.config.get("metric"), sweep.config.get("mode", "max")
    values = [p.value for p in points if p.mode == "val" and p.name == metric]
    if not values:
        return
    value = max(values) if mode == "max" else min(values)
    better = Q(best_value__lt=value) if mode == "max" else Q(best_value__gt=value)
    Sweep.objects.filter(pk=sweep.pk).filter(Q(best_value__isnull=True) | better).update(
        best_value=value, best_trial=run)


def record_sweep_events(sweep: Sweep, events: list[dict]) -> None:
    """Status events from the sweep's driver (``running``, ``succeeded``, ``failed``)."""
    for event in events:
        status, reason = event.get("status"), str(event.get("reason", ""))[:4000]
        sweep.refresh_from_db(fields=["status"])
        if sweep.status == RunStatus.CANCELLING:
            # the driver dying of the cancel says "failed": the sweep ends "cancelled" once Ray reports
            # its job stopped (cancel_sweep / reconcile), not before
            continue
        if status in (RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED):
            _apply(sweep.pk, status, reason)


# --- cancel and reconcile ------------------------------------------------------------------------


def cancel_sweep(user, sweep: Sweep) -> Sweep:
    """Stop the sweep's Ray job (and with it every trial); the trials end ``cancelled``."""
    access.require_write(user, sweep.team)
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().get(pk=sweep.pk)
        if sweep.is_terminal:
            raise Conflict(f"The sweep has already ended ({sweep.status}).")
        if sweep.status == RunStatus.QUEUED:
            sweep.transition(RunStatus.CANCELLED, "cancelled before dispatch")
            return sweep
        if sweep.status != RunStatus.CANCELLING:
            sweep.transition(RunStatus.CANCELLING, f"cancel requested by {user.get_username()}")
    _stop(sweep)
    sweep.refresh_from_db()
    return sweep


def _stop(sweep: Sweep) -> None:
    try:
        state = ray_jobs.lookup(sweep.job_id)
        if state is None or state.status in _RAY_END:
            _apply(sweep.pk, RunStatus.CANCELLED, "cancelled")
        else:
            ray_jobs.stop(sweep.job_id)
    except ray_jobs.RayUnavailable as exc:
        log.warning("could not stop sweep %s yet (%s); reconcile will retry", sweep.pk, exc)


_RAY_END = {"SUCCEEDED": RunStatus.SUCCEEDED, "FAILED": RunStatus.FAILED, "STOPPED": RunStatus.CANCELLED}


def reconcile() -> dict:
    """Map Ray job states onto active sweeps (and so onto their trials)."""
    counts = {"checked": 0, "changed": 0, "redispatched": 0}
    grace = timezone.now() - timedelta(seconds=settings.TRAINYARD_DISPATCH_GRACE_SECONDS)
    # lost dispatch tasks, and sweeps waiting for a slot of their team's running limit (see services.reconcile)
    for pk in quotas.startable(Sweep, grace=grace):
        queue_dispatch(pk)
        counts["redispatched"] += 1
    active = Sweep.objects.filter(status__in=[RunStatus.DISPATCHING, RunStatus.RUNNING, RunStatus.CANCELLING])
    for sweep in active.only("pk", "status", "dispatched_at", "attempt"):
        counts["checked"] += 1
        state = ray_jobs.lookup(sweep.job_id)
        if state is None:
            if sweep.status == RunStatus.DISPATCHING and (sweep.dispatched_at or grace) <= grace:
                queue_dispatch(sweep.pk)
                counts["redispatched"] += 1
            elif sweep.status == RunStatus.CANCELLING:
                counts["changed"] += _apply(sweep.pk, RunStatus.CANCELLED, "cancelled")
            elif sweep.status == RunStatus.RUNNING:
                counts["changed"] += _apply(sweep.pk, RunStatus.FAILED, "lost: the Ray cluster has no record of its job")
            continue
        if sweep.status == RunStatus.CANCELLING:
            if state.status in _RAY_END:
                counts["changed"] += _apply(sweep.pk, RunStatus.CANCELLED, "cancelled")
            else:
                ray_jobs.stop(sweep.job_id)
            continue
        if state.status == "RUNNING":
            counts["changed"] += _apply(sweep.pk, RunStatus.RUNNING, "")
        elif state.status in _RAY_END:
            target = _RAY_END[state.status]
            reason = state.message or state.status.lower()
            if state.status == "STOPPED":
                target, reason = RunStatus.FAILED, "the Ray job was stopped outside Trainyard"
            counts["changed"] += _apply(sweep.pk, target, reason)
    # A trial whose sweep has ended cannot report any more.
    for sweep in Sweep.objects.filter(status__in=TERMINAL, trials__status=RunStatus.RUNNING).distinct():
        _close_trials(sweep)
    return counts


def _apply(sweep_id, target: str, reason: str) -> int:
    from .models import TRANSITIONS

    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().get(pk=sweep_id)
        if sweep.is_terminal or target not in TRANSITIONS[sweep.status]:
            return 0
        changed = int(sweep.transition(target, reason))
    if sweep.is_terminal:
        _close_trials(sweep)
    return changed


def _close_trials(sweep: Sweep) -> None:
    """End the trials still open when their sweep ended: cancelled with it, or failed without word."""
    if sweep.status == RunStatus.CANCELLED:
        target, reason = RunStatus.CANCELLED, "the sweep was cancelled"
    else:
        target, reason = RunStatus.FAILED, f"the sweep ended ({sweep.status}) without word from this trial"
    for run in sweep.trials.exclude(status__in=TERMINAL):
        with transaction.atomic():
            run = Run.objects.select_for_update().get(pk=run.pk)
            if not run.is_terminal:
                run.transition(target, reason)
