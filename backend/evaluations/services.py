"""State changes of evaluations that users ask for: submit and cancel (called by the API and the dashboard
alike). Dispatch, cancel and reconcile are the run lifecycle's (``lifecycle.py`` registers the kind).
"""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.accounts import access
from backend.experiments import lifecycle as job_lifecycle
from backend.experiments import quotas, throttles
from backend.experiments.checkpoints import checkpoint_file
from backend.experiments.errors import ServiceError
from backend.experiments.models import Checkpoint, Dataset
from jobspecs.training import MULTILABEL_METRICS

from . import scoring
from .models import Evaluation, Split

DEFAULT_METRICS = ["accuracy", "precision", "recall", "f1_score", "support"]


def run_is_multi_label(run) -> bool | None:
    """Whether the run's spec evaluates a multi-label dataset, by its facts (its val metrics are ``mAP``,
    ``CP``...); None where the facts name no val metrics (no ``data.val``): the metrics asked for decide."""
    names = (run.facts or {}).get("metric_names") if isinstance(run.facts, dict) else None
    if not names:
        return None
    return scoring.is_multi_label(names)


def submit_evaluation(user, checkpoint: Checkpoint, *, dataset=None, split: str = Split.TEST, metrics=None,
                      metric_options: dict | None = None, num_workers: int = 2, name: str | None = None,
                      verifies=None, reported: dict | None = None) -> Evaluation:
    """Validate and store an evaluation of ``checkpoint`` (a run of the user's team), and queue its dispatch
    once the transaction commits.

    Args:
        user: Who submits; must be able to write in the run's team.
        checkpoint: The checkpoint to score (already found through ``access.get_checkpoint_for_user``).
        dataset: A dataset of the same team, by name or id (default: the run's).
        split: ``val`` or ``test``: the run's spec's ``data.val`` / ``data.test`` on that dataset.
        metrics: MMClassification metric names (default: accuracy, precision, recall, f1_score, support; for a
            multi-label spec mAP, CP, CR, CF1, OP, OR, OF1).
        metric_options: ``topk``, ``thrs``, ``average_mode`` (multi-label: ``thr`` or ``k``).
        num_workers: Ray workers, each scoring one shard.
        name: Default: the run's name, the checkpoint and the split.
        verifies, reported: For a leaderboard verification (``backend.leaderboard.verification``): the run
            whose reported number this re-scores, and that number (``{metric, value}``).

    Raises:
        PermissionDenied: a viewer.
        ServiceError: a bad field (400, naming it), or the team is at its queued limit (429).
    """
    run = checkpoint.run
    team = run.team
    access.require_write(user, team)
    throttles.check(user, "runs")
    if split not in Split.values:
        raise ServiceError(f"split must be one of {', '.join(Split.values)}, got {split!r}.",
                           errors=[{"field": "split", "message": "unknown split"}])
    multi_label = run_is_multi_label(run)
    default = list(MULTILABEL_METRICS) if multi_label else DEFAULT_METRICS
    try:
        names, options = scoring.check_request(default if metrics in (None, []) else metrics, metric_options,
                                               multi_label=multi_label)
    except scoring.ScoringError as err:
        raise ServiceError(str(err), errors=[{"field": "metrics", "message": str(err)}]) from None
    limit = settings.TRAINYARD_MAX_NUM_WORKERS
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or not 1 <= num_workers <= limit:
        raise ServiceError(f"num_workers must be a whole number from 1 to {limit} (TRAINYARD_MAX_NUM_WORKERS), "
                           f"got {num_workers!r}.", errors=[{"field": "num_workers", "message": "out of range"}])
    spec = run.resolved_spec if isinstance(run.resolved_spec, dict) else {}
    if not (spec.get("data") or {}).get(split):
        raise ServiceError(f"The run's spec has no data.{split} to score on; pick the other split.",
                           errors=[{"field": "split", "message": f"no data.{split}"}])
    if checkpoint_file(checkpoint) is None:
        raise ServiceError(f"Checkpoint {checkpoint.pk} ({checkpoint.filename}) has no file any more (rotated out "
                           "by max_keep_ckpts?); evaluate a checkpoint the run page lists as downloadable.",
                           errors=[{"field": "checkpoint", "message": "no file"}])
    ds = _find_dataset(team, run.dataset if dataset in (None, "") else dataset)
    default_name = f"{run.name} · {checkpoint.filename} · {split}"
    with transaction.atomic():
        quotas.check_queued(team, Evaluation)  # under the team's lock until the evaluation is stored
        evaluation = Evaluation.objects.create(
            team=team, created_by=user, name=((name or "").strip() or default_name)[:200], dataset=ds,
            spec_name=run.spec_name, spec_text=run.spec_text, cfg_options=run.cfg_options,
            resolved_spec=run.resolved_spec, spec_hash=run.spec_hash, resources={"num_workers": num_workers},
            facts=run.facts, checkpoint=checkpoint, split=split, metric_names=names, metric_options=options,
            num_workers=num_workers, verifies=verifies, reported=reported or {}, created_at=timezone.now())
        transaction.on_commit(lambda: job_lifecycle.queue_dispatch(Evaluation, evaluation.pk))
    return evaluation


def cancel_evaluation(user, evaluation: Evaluation) -> Evaluation:
    """Cancel an evaluation (the run lifecycle's ``cancel``): a queued one ends at once, a running one when Ray
    has stopped its job. Raises ``Conflict`` for an ended one, ``PermissionDenied`` for a viewer."""
    return job_lifecycle.cancel(user, evaluation)


def _find_dataset(team, dataset) -> Dataset:
    if isinstance(dataset, Dataset):
        if dataset.team_id != team.pk:
            raise ServiceError("The dataset must belong to the run's team.", errors=[{"field": "dataset"}])
        return dataset
    qs = Dataset.objects.filter(team=team)
    found = qs.filter(pk=dataset).first() if str(dataset).isdigit() else qs.filter(name=str(dataset)).first()
    if found is None:
        names = ", ".join(qs.values_list("name", flat=True)[:20]) or "none yet"
        raise ServiceError(f"No dataset '{dataset}' in team {team.name} (available: {names}).",
                           errors=[{"field": "dataset", "message": "not found"}])
    return found
