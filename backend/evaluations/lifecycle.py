"""An evaluation as a kind of job of the run lifecycle (``backend.experiments.lifecycle``): dispatch, cancel,
reconcile and the team's slots are the run's code; this module says only what differs — its job file, its
environment, its entrypoint (``python -m workers.evaluate.launch``), and that succeeding means scoring the stored
predictions (``results.record``, in the transaction of the change).

Importing this module registers the kind (``EvaluationsConfig.ready``).
"""
from __future__ import annotations

import json
import logging

from django.dispatch import receiver

from backend.experiments import jobfiles, lifecycle, quotas
from backend.experiments.checkpoints import checkpoint_file
from backend.experiments.errors import DispatchRefused
from backend.experiments.models import RunStatus, status_changed
from backend.experiments.storage import storage

from .models import Evaluation

log = logging.getLogger(__name__)

EVALUATIONS_COUNTED = quotas.Kind("evaluations", "evaluation", Evaluation)


class EvaluationKind(lifecycle.JobKind):
    counted = EVALUATIONS_COUNTED
    dispatch_task = "backend.evaluations.tasks.dispatch_evaluation"
    entrypoint_module = "workers.evaluate.launch"

    def write_job_file(self, evaluation: Evaluation) -> str:
        return write_evaluation_job(evaluation)

    def environment(self, evaluation: Evaluation, token: str) -> dict[str, str]:
        # The job reports nothing over HTTP (its results are files in its own folder), so its token stays here.
        return {"TRAINYARD_EVALUATION_ID": str(evaluation.pk), **jobfiles._common_environment()}

    def failure_reason(self, evaluation: Evaluation, state) -> str:
        from backend.experiments import ray_jobs

        tail = [line for line in ray_jobs.logs(evaluation.job_id).splitlines() if line.strip()][-5:]
        return (state.message or "the Ray job failed") + ("\n" + "\n".join(tail) if tail else "")



EVALUATIONS = EvaluationKind()
lifecycle.KINDS[Evaluation] = EVALUATIONS
quotas.KINDS[Evaluation] = EVALUATIONS_COUNTED


@receiver(status_changed, sender=Evaluation, dispatch_uid="backend.evaluations.lifecycle.record_on_success")
def record_on_success(sender, job: Evaluation, old: str, new: str, **kwargs) -> None:
    """Score the stored predictions in the transaction that marks the evaluation succeeded (``Job.transition``
    sends this inside it), so no reader sees it succeeded without its metrics."""
    if new == RunStatus.SUCCEEDED:
        from .results import record

        record(job)


def write_evaluation_job(evaluation: Evaluation) -> str:
    """Write ``evaluations/<id>/job.json`` (the contract's ``Job``: the run's spec on the evaluation's dataset,
    its folder the evaluation's) and ``evaluation.json`` beside it (checkpoint key, split, workers); returns the
    job file's key.

    Raises:
        DispatchRefused: the checkpoint's file is gone, or the dataset left its team's area.
    """
    ckpt_key = checkpoint_file(evaluation.checkpoint)
    if ckpt_key is None:
        raise DispatchRefused(f"checkpoint {evaluation.checkpoint_id} has no file any more (rotated out?)")
    job = jobfiles.job_for(evaluation.resolved_spec, evaluation.dataset, {"num_workers": evaluation.num_workers},
                           evaluation.created_by, run_id=str(evaluation.pk), name=evaluation.name,
                           run_key=evaluation.folder)
    store = storage()
    store.write_text(f"{evaluation.folder}/evaluation.json", json.dumps({
        "evaluation_id": str(evaluation.pk), "checkpoint_key": ckpt_key, "split": evaluation.split,
        "num_workers": evaluation.num_workers,
    }, indent=2))
    store.write_text(f"{evaluation.folder}/job.json", json.dumps(job.to_json(), indent=2))
    return f"{evaluation.folder}/job.json"
