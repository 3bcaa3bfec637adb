"""An evaluation job: one checkpoint of a team's run scored on a split of one of the team's datasets by several
Ray workers, each scoring a shard (the seed's ``multi_gpu_test``).

An ``Evaluation`` is a ``Job`` like a run (``backend.experiments.models.Job``): the same state machine, events and
ingestion-token digests, so the run lifecycle dispatches, cancels and reconciles it (``lifecycle.py`` here only
says what differs). Its spec is the run's, copied at submit. Every sample's scores and label are stored once, by
the job, in ``evaluations/<id>/predictions.npz`` on the storage; the backend reads them when the job ends and
keeps the metrics here (``metrics``). An evaluation that ``verifies`` a run re-scores the number the leaderboard
reports for it (``backend.leaderboard.verification``).
"""
from django.db import models

from backend.experiments.models import Checkpoint, Event, Job, Run


class Split(models.TextChoices):
    VAL = "val"
    TEST = "test"


class Evaluation(Job):
    """A checkpoint scored on ``split`` of ``dataset`` with ``metrics`` (+ ``metric_options``)."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="evaluations")
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TEST)
    metric_names = models.JSONField(default=list, help_text="MMClassification metric names, e.g. accuracy.")
    metric_options = models.JSONField(default=dict, blank=True, help_text="topk, thrs, average_mode.")
    num_workers = models.PositiveIntegerField(default=2, help_text="Ray workers, each scoring one shard.")
    metrics = models.JSONField(default=dict, blank=True, help_text="What the job's stored predictions score.")
    num_samples = models.IntegerField(null=True, blank=True)
    scoring_seconds = models.FloatField(null=True, blank=True, help_text="Wall time of the sharded scoring.")
    # A verification of a leaderboard row (issue #17, item 3): the run whose reported number this re-scores on
    # its dataset's val split, and that number as the board showed it when the verification was asked.
    verifies = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="verifications",
                                 help_text="The run whose leaderboard number this evaluation verifies.")
    reported = models.JSONField(default=dict, blank=True,
                                help_text="The verified number: {metric, value} as the leaderboard reported it.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "-created_at"])]

    @property
    def job_id(self) -> str:
        """The Ray submission id: ``eval-<uuid>`` (an evaluation is not retried)."""
        return f"eval-{self.pk}"

    @property
    def folder(self) -> str:
        """The evaluation's folder on the storage (job file, predictions)."""
        return f"evaluations/{self.pk}"


class EvaluationEvent(Event):
    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="events")
