"""Verified leaderboard entries (issue #17, item 3): "is this number real?"

A row's number is whatever its run's reporter said. Verifying the row starts an evaluation job (the machinery of
``backend.evaluations``) that re-scores the run's best stored checkpoint on the run's dataset's validation split;
when it has succeeded the row shows the re-scored number beside the reported one, and a difference beyond
``TOLERANCE`` is flagged as a mismatch instead of "verified".

What is verified is the number the row ranks by: top-1 for a classification spec, ``mAP`` for a multi-label one
(both need no threshold, so the re-score does not depend on the spec's ``metric_options``, which the service does
not read). The checkpoint is the one whose recorded value of that metric is the best among those whose file is
still stored (a ``best_*.pth`` of ``save_best`` wins a tie), else the latest stored one.

Access: the run must be in one of the user's teams (404 otherwise) and the user must be able to start jobs there
(a viewer gets 403), exactly as ``POST /api/evaluations``.
"""
from __future__ import annotations

import math

from backend.accounts import access
from backend.evaluations import services as evaluations
from backend.evaluations.models import Evaluation
from backend.experiments.access import get_run_for_user
from backend.experiments.checkpoints import with_availability
from backend.experiments.errors import Conflict, ServiceError
from backend.experiments.models import DEFAULT_PRIMARY, TERMINAL, Checkpoint, Run, RunStatus
from jobspecs.training import accuracy_keys

# The top-1 key (the engine's name for topk 1) and the multi-label metric a row may be verified on.
TOP1 = accuracy_keys((1, 5))[0]
MAP = "mAP"
# Percentage points the re-scored number may differ from the reported one before the row is flagged: one sample
# in 200, room for the float differences of another batch size or device, never for another model.
TOLERANCE = 0.5
# What each verifiable metric is re-scored with (evaluation metrics and options).
RESCORE = {TOP1: (["accuracy"], {"topk": [1, 5]}), MAP: ([MAP], {})}
TRUE_VALUES = ("1", "true", "yes", "on")


def verified_metric(run: Run) -> str:
    """The metric a run's row is verified on: top-1 when the run reported one, else ``mAP`` for a multi-label run.

    Raises:
        ServiceError: the run reports neither (400, naming the metric its row ranks by).
    """
    best = run.best_metrics if isinstance(run.best_metrics, dict) else {}
    if _finite(best.get(TOP1)) is not None:
        return TOP1
    primary = (run.facts or {}).get("primary_metric") if isinstance(run.facts, dict) else None
    if primary == MAP and _finite(best.get(MAP)) is not None:
        return MAP
    metric = primary or DEFAULT_PRIMARY[0]
    raise ServiceError(f"This run has no reported {TOP1} or {MAP} to verify (its row ranks by {metric}).",
                       errors=[{"field": "run", "message": "nothing to verify"}])


def pick_checkpoint(run: Run, metric: str) -> Checkpoint | None:
    """The stored checkpoint of ``run`` whose recorded ``metric`` is the best (``best_*.pth``, then the latest,
    on a tie), else the latest stored checkpoint; None when no checkpoint file is left."""
    stored = [c for c in with_availability(run.checkpoints.all()) if c.available]
    if not stored:
        return None
    scored = [c for c in stored if _finite((c.metrics or {}).get(metric)) is not None]
    if not scored:  # top-1 and mAP: higher is better
        return max(stored, key=lambda c: (c.iteration, c.epoch, c.pk))
    return max(scored, key=lambda c: (c.metrics[metric], c.filename.startswith("best_"), c.iteration, c.epoch, c.pk))


def verify(user, run_id, *, num_workers: int = 2) -> Evaluation:
    """Start the evaluation that verifies the leaderboard number of run ``run_id``.

    Args:
        user: Who asks; must be able to start jobs in the run's team.
        run_id: The row's run (``run_id`` of a leaderboard entry).
        num_workers: Ray workers of the evaluation, each scoring one shard.

    Returns:
        The queued evaluation (``verifies`` the run, ``reported`` the number it checks).

    Raises:
        Http404: not a run of the user's teams. PermissionDenied: a viewer.
        Conflict: the run has not finished, or a verification of it has not.
        ServiceError: nothing to verify, no val split, no checkpoint left.
    """
    run = get_run_for_user(user, run_id)
    access.require_write(user, run.team)
    if run.status not in TERMINAL:
        raise Conflict(f"The run is {run.status}: verify its number once it has finished.",
                       errors=[{"field": "run", "message": run.status}])
    pending = run.verifications.exclude(status__in=TERMINAL).order_by("created_at").first()
    if pending is not None:
        raise Conflict(f"A verification of this run is already {pending.status} (evaluation {pending.pk}).",
                       errors=[{"field": "run", "message": "being verified"}])
    metric = verified_metric(run)
    spec = run.resolved_spec if isinstance(run.resolved_spec, dict) else {}
    if not (spec.get("data") or {}).get("val"):
        raise ServiceError("The run's spec has no data.val: there is no validation split to verify its number on.",
                           errors=[{"field": "run", "message": "no data.val"}])
    checkpoint = pick_checkpoint(run, metric)
    if checkpoint is None:
        raise ServiceError("The run has no stored checkpoint left to re-score (none recorded, or rotated out by "
                           "max_keep_ckpts).", errors=[{"field": "run", "message": "no checkpoint"}])
    names, options = RESCORE[metric]
    reported = {"metric": metric, "value": float(run.best_metrics[metric]),
                "checkpoint_value": _finite((checkpoint.metrics or {}).get(metric))}
    return evaluations.submit_evaluation(
        user, checkpoint, split="val", metrics=names, metric_options=options, num_workers=num_workers,
        name=f"verify {run.name} · {checkpoint.filename}", verifies=run, reported=reported)


def status_of(evaluation: Evaluation) -> dict:
    """A verification as a leaderboard row carries it.

    Returns:
        ``status`` (``verified``, ``mismatch``, ``pending`` or ``failed``), ``evaluation_id``, ``checkpoint``,
        ``metric``, ``reported``, ``rescored`` (None until succeeded), ``difference`` (re-scored minus reported),
        ``tolerance``, ``mismatch`` and ``finished_at``.
    """
    reported = evaluation.reported if isinstance(evaluation.reported, dict) else {}
    metric, value = reported.get("metric"), _finite(reported.get("value"))
    rescored = difference = None
    if evaluation.status == RunStatus.SUCCEEDED:
        rescored = _finite((evaluation.metrics or {}).get(metric)) if metric else None
        status = "failed" if rescored is None or value is None else "verified"
        if status == "verified":
            difference = round(rescored - value, 4)
            status = "mismatch" if abs(difference) > TOLERANCE else "verified"
    elif evaluation.status in TERMINAL:
        status = "failed"
    else:
        status = "pending"
    return {"status": status, "evaluation_id": str(evaluation.pk), "checkpoint": evaluation.checkpoint_id,
            "metric": metric, "reported": value, "rescored": rescored, "difference": difference,
            "tolerance": TOLERANCE, "mismatch": status == "mismatch", "finished_at": evaluation.finished_at}


def verifications(run_ids) -> dict[str, dict]:
    """``{run id: verification}`` for the runs that have one: the latest succeeded verification decides; a run
    never verified successfully shows its latest attempt (pending or failed). The callers' runs are already
    scoped to the user's teams, and a verification is in its run's team."""
    ids = [i for i in run_ids if i]
    found: dict[str, Evaluation] = {}
    for evaluation in Evaluation.objects.filter(verifies_id__in=ids).order_by("-created_at"):
        key = str(evaluation.verifies_id)
        current = found.get(key)
        if current is None or (evaluation.status == RunStatus.SUCCEEDED and current.status != RunStatus.SUCCEEDED):
            found[key] = evaluation
    return {key: status_of(evaluation) for key, evaluation in found.items()}


def wants_verified(value) -> bool:
    """The ``verified`` filter's value read as a flag (``1``, ``true``, ``yes``, ``on``)."""
    return str(value or "").strip().lower() in TRUE_VALUES


def _finite(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else None
