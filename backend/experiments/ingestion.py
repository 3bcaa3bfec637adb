"""What the Ray jobs report: a run's reporter batches (metric points, log lines, checkpoints, status events)
and a sweep driver's status events. Each caller has been let in by its token (``tokens``) first.

A batch is stored exactly once (its session and sequence number); a run that was cancelled answers
``stop``, which tells the trainer to stop.
"""
import json
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backend.project import metrics

from . import lifecycle
from .checkpoints import checkpoint_key
from .models import (
    TRANSITIONS,
    Checkpoint,
    IngestBatch,
    LogLine,
    MetricPoint,
    Run,
    RunStatus,
    Sweep,
)
from .storage import run_key
from .trials import note_trial_points


@dataclass
class IngestResult:
    duplicate: bool
    stored: dict
    stop: bool  # tells the trainer to stop (the run was cancelled)


def record_batch(run: Run, batch: dict) -> IngestResult:
    """Store one reporter batch exactly once (keyed by its session and sequence number)."""
    result = _record_batch(run, batch)
    outcome = "stopped" if result.stop else "duplicate" if result.duplicate else "stored"
    metrics.count_ingest(outcome, result.stored.get("metrics", 0), result.stored.get("logs", 0))
    return result


def _record_batch(run: Run, batch: dict) -> IngestResult:
    session, seq = str(batch["session"])[:64], int(batch["seq"])
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status in (RunStatus.CANCELLING, RunStatus.CANCELLED):
            return IngestResult(False, {}, True)
        if run.sweep_id and run.sweep.status in (RunStatus.CANCELLING, RunStatus.CANCELLED):
            # a trial of a cancelled sweep: whatever it reports now is the cancel taking effect
            if not run.is_terminal:
                run.transition(RunStatus.CANCELLED, "the sweep was cancelled")
            return IngestResult(False, {}, True)
        try:
            with transaction.atomic():
                IngestBatch.objects.create(run=run, session=session, seq=seq)
        except IntegrityError:
            return IngestResult(True, {}, False)
        now = timezone.now()
        metrics = batch.get("metrics", [])
        insert_points(run, metrics, now)
        # only the val points feed the best metrics (and a sweep's best trial)
        points = [MetricPoint(run=run, mode="val", name=m["name"], step=m["step"], epoch=m.get("epoch"),
                              value=m["value"], created_at=now) for m in metrics if m["mode"] == "val"]
        lines = [LogLine(run=run, text=str(t)[:4000], created_at=now) for t in batch.get("logs", [])]
        checkpoints = []
        for c in batch.get("checkpoints", []):
            key = checkpoint_key(run, c["path"])
            if key is None:
                # Dropped, not refused: the reporter would re-send a refused batch for ever. The run's log
                # says so, where the run's owner looks.
                lines.append(LogLine(run=run, created_at=now, text=(
                    "[trainyard] refused a checkpoint record outside the run's folder: "
                    f"{str(c['path'])[:500]!r} (a run records only files under {run_key(run)}/)")))
            else:
                checkpoints.append((key, c))
        LogLine.objects.bulk_create(lines)
        for key, c in checkpoints:
            Checkpoint.objects.update_or_create(
                run=run, path=key,
                defaults={"epoch": int(c["epoch"]), "iteration": int(c["iteration"]),
                          "size": int(c.get("size", 0)), "metrics": c.get("metrics") or {}},
            )
        _update_best(run, points)
        _note_trained(run, metrics, [c for _, c in checkpoints])
        if run.sweep_id:
            note_trial_points(run, points)
        for event in batch.get("events", []):
            _apply_event(run, event)
    return IngestResult(False, {"metrics": len(metrics), "logs": len(lines)}, False)


# The batch travels as one JSON document: psycopg2 sends a Python list as an ``ARRAY[...]`` literal
# of one expression per element, which PostgreSQL parses and plans element by element (about a quarter
# of the statement's time at 1000 points); one text parameter is parsed in a single pass.
_INSERT_POINTS = """
INSERT INTO experiments_metricpoint (run_id, mode, name, step, epoch, value, created_at)
SELECT %s, u.mode, u.name, u.step, u.epoch, u.value, %s
FROM json_to_recordset(%s) AS u(mode varchar, name varchar, step bigint, epoch integer, value double precision)
ON CONFLICT (run_id, mode, name, step) DO NOTHING
"""


def insert_points(run: Run, metrics: list[dict], now) -> None:
    """Store checked metric points once each: a replayed (mode, name, step) keeps its first value.

    On PostgreSQL one ``INSERT ... SELECT FROM json_to_recordset(...) ON CONFLICT DO NOTHING`` per
    batch (no model object per point, unlike ``bulk_create``); a step repeated within the batch keeps
    its first value too, as the rows are inserted in the batch's order. Elsewhere ``bulk_create``.
    """
    if not metrics:
        return
    if connection.vendor == "postgresql":
        # The values were checked finite; allow_nan=False would rather fail than send invalid JSON.
        rows = json.dumps([{"mode": m["mode"], "name": m["name"], "step": m["step"], "epoch": m.get("epoch"),
                            "value": m["value"]} for m in metrics], allow_nan=False)
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_POINTS, [run.pk, now, rows])
        return
    MetricPoint.objects.bulk_create(
        [MetricPoint(run=run, mode=m["mode"], name=m["name"], step=m["step"], epoch=m.get("epoch"),
                     value=m["value"], created_at=now) for m in metrics], ignore_conflicts=True)


def _update_best(run: Run, points: list[MetricPoint]) -> None:
    """Keep ``best_metrics``: the best value of the run's primary metric (its spec's facts say which, and
    whether higher is better), its epoch and step, and the other val metrics of that evaluation."""
    metric, mode = run.primary_metric
    best = dict(run.best_metrics or {})
    changed = False
    for p in points:
        if p.mode != "val" or p.name != metric:
            continue
        if metric not in best or (p.value > best[metric] if mode == "max" else p.value < best[metric]):
            best.update({metric: p.value, "epoch": p.epoch, "step": p.step})
            changed = True
    if changed:
        # the other metrics at the best epoch ride along (e.g. accuracy_top-5)
        for p in points:
            if p.mode == "val" and p.step == best["step"]:
                best[p.name] = p.value
        run.best_metrics = best
        run.save(update_fields=["best_metrics"])


def _note_trained(run: Run, metrics: list[dict], checkpoints: list[dict]) -> None:
    """Keep ``trained``: the furthest epoch (iteration, for a run whose facts count iterations) the batch's points
    and checkpoints reached. What the leaderboard shows as trained: an early-stopped trial's 1 epoch of 6."""
    if run.spec_facts().unit == "iter":
        reached = [m["step"] for m in metrics] + [c["iteration"] for c in checkpoints]
    else:
        reached = [m["epoch"] for m in metrics if m.get("epoch") is not None] + [c["epoch"] for c in checkpoints]
    furthest = max((int(v) for v in reached), default=None)
    if furthest is not None and (run.trained is None or furthest > run.trained):
        run.trained = furthest
        run.save(update_fields=["trained"])


def _apply_event(run: Run, event: dict) -> None:
    status = event.get("status")
    reason = str(event.get("reason", ""))[:4000]
    if isinstance(event.get("environment"), dict):
        run.environment = {**(run.environment or {}), **event["environment"]}
        run.save(update_fields=["environment"])
    if event.get("early_stopped") and not run.is_terminal:
        run.early_stopped = True
        run.save(update_fields=["early_stopped"])
    if status in (RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED) and not run.is_terminal:
        if status in TRANSITIONS[run.status]:
            run.transition(status, reason)


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
            lifecycle.apply_status(Sweep, sweep.pk, status, reason)
