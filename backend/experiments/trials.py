"""A sweep's trials: each a ``Run`` with ``sweep`` set, created when Ray Tune starts it (its parameters are
chosen then, by the search algorithm), reporting through the ordinary run ingestion.

The sweep keeps its best trial up to date as val metric points arrive, so its page shows a leader while the
search runs; when the sweep ends, the trials still open end with it.
"""
from __future__ import annotations

import json

from django.db import IntegrityError, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

import jobspecs

from .errors import Conflict, ServiceError
from .models import TERMINAL, MetricPoint, Run, RunEvent, RunStatus, Sweep, facts_of


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
                spec_hash=jobspecs.spec_hash(spec), resources=sweep.resources,
                facts=facts_of(spec, sweep.resources), status=RunStatus.RUNNING,
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
            spec_hash=jobspecs.spec_hash(spec), facts=facts_of(spec, run.resources))
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


def close_trials(sweep: Sweep) -> None:
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


def trial_values(sweep: Sweep) -> dict:
    """Each trial's best value of the sweep's metric (max or min by the sweep's mode)."""
    agg = Max if sweep.config.get("mode", "max") == "max" else Min
    rows = (MetricPoint.objects.filter(run__sweep=sweep, mode="val", name=sweep.config.get("metric"))
            .values("run_id").annotate(v=agg("value")))
    return {row["run_id"]: row["v"] for row in rows}
