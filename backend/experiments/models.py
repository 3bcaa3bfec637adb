"""What a team trains and what its runs produce.

A ``Run`` (and a ``Sweep``) moves through a small state machine (``TRANSITIONS``); every change goes through
``Job.transition`` inside the service functions, is kept as a ``RunEvent`` (``SweepEvent``) for the timeline,
and is announced by ``status_changed`` (``lifecycle`` starts a team's waiting jobs when one ends).
"""
import uuid

from django.conf import settings
from django.db import models
from django.dispatch import Signal
from django.utils import timezone

from backend.accounts.models import Team
from jobspecs import training
from jobspecs.batch import batch_facts
from jobspecs.contract import ContractError, SpecFacts, spec_facts


class Dataset(models.Model):
    """A dataset on shared storage that specs read through ``data/<name>/...`` paths."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="datasets")
    name = models.SlugField(max_length=100)
    path = models.CharField(max_length=500, help_text="Folder on the cluster's shared storage.")
    description = models.TextField(blank=True)
    classes = models.JSONField(default=list, blank=True)
    num_train = models.IntegerField(default=0)
    num_val = models.IntegerField(default=0)
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Hash of the file list and sizes.")
    verification = models.JSONField(default=dict, blank=True, help_text="The last check of the layout.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="dataset_name_unique_in_team")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    DISPATCHING = "dispatching"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})

# The state machine of a run. A Ray job can finish before the backend saw it start (a short
# job, a missed poll), so the active states may go straight to any end state.
TRANSITIONS: dict[str, frozenset[str]] = {
    RunStatus.QUEUED: frozenset({RunStatus.DISPATCHING, RunStatus.CANCELLED, RunStatus.FAILED}),
    RunStatus.DISPATCHING: frozenset(
        {RunStatus.RUNNING, RunStatus.CANCELLING, RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.SUCCEEDED}
    ),
    # running -> dispatching: the Ray job's driver died and the run is submitted again (max_failures)
    RunStatus.RUNNING: frozenset(
        {RunStatus.DISPATCHING, RunStatus.CANCELLING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    RunStatus.CANCELLING: frozenset({RunStatus.CANCELLED, RunStatus.SUCCEEDED, RunStatus.FAILED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


class InvalidTransition(Exception):
    pass


# Sent by ``Job.transition`` after each change, inside the caller's transaction: ``sender`` is the model class,
# with ``job``, ``old`` and ``new`` (statuses). The lifecycle listens (``lifecycle.slot_freed``).
status_changed = Signal()

# What the service assumes of a spec it knows no facts of (a row stored before facts, a spec that cannot be
# read) and the metric "best" compares for a spec that evaluates nothing: MMClassification's default
# evaluation (``evaluation = dict(metric='accuracy')``), named by the engine's rule.
DEFAULT_METRICS = tuple(training.metric_names())
DEFAULT_PRIMARY = (DEFAULT_METRICS[0], "max" if training.greater_is_better(DEFAULT_METRICS[0]) else "min")


def _trained(spec, resources: dict | None) -> dict:
    """The spec as a worker trains it: the job's ``resources`` merged over the spec's own."""
    spec = spec if isinstance(spec, dict) else {}
    own = spec.get("resources") if isinstance(spec.get("resources"), dict) else {}
    return {**spec, "resources": {**own, **(resources or {})}}


def facts_of(spec, resources: dict | None = None) -> dict:
    """``SpecFacts.to_json()`` of a stored spec trained with ``resources`` (the run's, merged over the spec's:
    the effective batch counts the real workers); ``{}`` when the spec cannot be read (it reads as
    ``default_facts``). What submit stores on a job, and what a migration filled in for the rows before it.
    The model's family is the workers' name for it (``workers.models.families``; their registries import torch,
    as submit's type check does already)."""
    if not isinstance(spec, dict):
        return {}
    from workers.models.families import model_family

    try:
        return spec_facts(_trained(spec, resources), family_of=model_family).to_json()
    except (ContractError, TypeError, ValueError, AttributeError, KeyError):
        return {}


def default_facts(spec=None, resources: dict | None = None) -> SpecFacts:
    """The facts of a job whose spec could not be read whole: MMClassification's default evaluation, one epoch,
    and the batch arithmetic of what there is (``jobspecs.batch``, on ``resources``)."""
    try:
        batch = batch_facts(_trained(spec, resources))
    except (TypeError, ValueError, AttributeError):
        batch = batch_facts(_trained({}, resources))
    return SpecFacts(model=None, backbone=None, unit="epoch", length=1, evaluation_interval=1, evaluations=1,
                     metric_names=DEFAULT_METRICS, primary_metric=DEFAULT_PRIMARY[0], primary_mode=DEFAULT_PRIMARY[1],
                     batch=batch)


class Tag(models.Model):
    """A label a team puts on runs (``baseline``, ``paper-fig-3``): filter and bulk-tag by it."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="tags")
    name = models.SlugField(max_length=50)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="tag_name_unique_in_team")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    """What a run and a sweep share: the submitted spec, the resources, the state machine."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="%(class)ss")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="%(class)ss")

    spec_name = models.CharField(max_length=300, blank=True, help_text="Library spec, if picked from it.")
    spec_text = models.TextField(help_text="The spec as submitted (library file text or pasted).")
    cfg_options = models.JSONField(default=dict, blank=True)
    resolved_spec = models.JSONField()
    spec_hash = models.CharField(max_length=64, db_index=True)
    resources = models.JSONField(default=dict, blank=True)
    facts = models.JSONField(
        default=dict, db_default=models.Value({}, models.JSONField()), blank=True, editable=False,
        help_text="What the service knows of the spec (jobspecs.contract.SpecFacts): metrics, length, batch.")

    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    status_reason = models.TextField(blank=True)
    ray_submission_id = models.CharField(max_length=100, blank=True)
    attempt = models.IntegerField(default=0, help_text="Ray jobs submitted before the current one.")
    # The ingestion tokens themselves live only in the Ray job's environment (a run, a sweep's driver) or in
    # the sweep driver's memory (a trial): the backend keeps their SHA-256 digests, a few per attempt (see
    # tokens.issue_ingest_token), and forgets them when a retry starts a new attempt.
    ingest_token_digests = models.JSONField(
        default=list, blank=True, editable=False,
        help_text="SHA-256 digests of the ingestion tokens the current attempt may use.")

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def save(self, *args, **kwargs):
        """Save; a job created without facts (not through submit: a trial, the admin, a script) gets those of
        its spec, so every job has them."""
        if not self.facts and kwargs.get("update_fields") is None:
            self.facts = facts_of(self.resolved_spec, self.resources)
        super().save(*args, **kwargs)

    def spec_facts(self) -> SpecFacts:
        """The stored facts of the job's spec (``default_facts`` where none could be computed). The service
        reads a spec's metrics, length and batch here, never in the spec's training fields."""
        if self.facts:
            try:
                return SpecFacts.from_json(self.facts)
            except ContractError:
                pass
        return default_facts(self.resolved_spec, self.resources)

    @property
    def primary_metric(self) -> tuple[str, str]:
        """The metric "best" compares and its mode (``'max'``, ``'min'``): the spec's (``evaluation.save_best``,
        else its first metric); MMClassification's default for a spec that evaluates nothing."""
        facts = self.spec_facts()
        if facts.primary_metric is None:
            return DEFAULT_PRIMARY
        return facts.primary_metric, facts.primary_mode or DEFAULT_PRIMARY[1]

    def transition(self, new: str, reason: str = "") -> bool:
        """Move to ``new`` (saving the object and an event). Returns False if already there.

        Raises ``InvalidTransition`` for a move the state machine does not allow.
        """
        if new == self.status:
            return False
        if new not in TRANSITIONS[self.status]:
            raise InvalidTransition(f"A {self.status} {self._meta.verbose_name} cannot become {new}.")
        old, now = self.status, timezone.now()
        self.status = new
        self.status_reason = reason  # the reason belongs to this step; an old one would mislead
        if new == RunStatus.DISPATCHING and self.dispatched_at is None:
            self.dispatched_at = now
        if new == RunStatus.RUNNING and self.started_at is None:
            self.started_at = now
        if new in TERMINAL:
            self.finished_at = now
        self.save(update_fields=["status", "status_reason", "dispatched_at", "started_at", "finished_at"])
        self.events.create(from_status=old, to_status=new, reason=reason[:2000], at=now)  # RunEvent, SweepEvent
        status_changed.send(sender=type(self), job=self, old=old, new=new)
        return True


class Run(Job):
    """One training run: a Ray job of its own, or one trial of a sweep (``sweep`` set)."""

    best_metrics = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="runs")
    environment = models.JSONField(
        default=dict, blank=True,
        help_text="Reproducibility: code version, package versions, seed, dataset fingerprint (from the run).")

    sweep = models.ForeignKey("Sweep", on_delete=models.CASCADE, null=True, blank=True, related_name="trials")
    trial_id = models.CharField(max_length=64, blank=True, help_text="Ray Tune's id of this trial.")
    trial_params = models.JSONField(default=dict, blank=True, help_text="The sampled values, by dotted key.")
    early_stopped = models.BooleanField(default=False, help_text="The sweep's scheduler stopped it early.")
    trained = models.BigIntegerField(
        null=True, blank=True, editable=False,
        help_text="How far the run trained, in its facts' unit: the last epoch (or iteration) its reports reached.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "-created_at"])]
        constraints = [models.UniqueConstraint(fields=["sweep", "trial_id"], condition=models.Q(sweep__isnull=False),
                                               name="trial_once_per_sweep")]

    @property
    def primary_best(self) -> float | None:
        """The best value of ``primary_metric`` so far (``best_metrics`` keeps it), or None."""
        value = (self.best_metrics or {}).get(self.primary_metric[0])
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def job_id(self) -> str:
        """The Ray submission id of the current attempt: the run's UUID, then ``<uuid>-retry<n>``.

        Ray refuses a second job with one id, which makes a redelivered dispatch harmless; a
        deliberate retry after the driver died therefore needs an id of its own. A trial runs inside
        its sweep's job.
        """
        if self.sweep_id:
            return self.sweep.job_id
        return str(self.pk) if self.attempt == 0 else f"{self.pk}-retry{self.attempt}"


class Sweep(Job):
    """A hyperparameter search: one Ray job whose Ray Tune ``Tuner`` runs one trial (a ``Run``) per sample.

    ``resolved_spec`` is the base spec (its ``sweep`` section included); ``config`` is that section
    normalised (defaults filled in).
    """

    config = models.JSONField(default=dict)
    best_trial = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    best_value = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "-created_at"])]

    @property
    def job_id(self) -> str:
        base = f"sweep-{self.pk}"
        return base if self.attempt == 0 else f"{base}-retry{self.attempt}"


class Event(models.Model):
    """One step of a job's state machine, for its timeline."""

    from_status = models.CharField(max_length=12)
    to_status = models.CharField(max_length=12)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["id"]


class SweepEvent(Event):
    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="events")


class RunEvent(Event):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")


class IngestBatch(models.Model):
    """One delivered reporter batch; the unique key makes a re-sent batch a no-op."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="batches")
    session = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "session", "seq"], name="batch_once")]


class MetricPoint(models.Model):
    """One value of one curve (``run``, ``mode``, ``name``) at one step.

    Ingestion writes every point, so each index costs on every point: there are two, the primary key
    (``id`` orders the live stream and the ``after`` polling) and ``point_once``, which also serves
    every lookup by run (hence no index of the foreign key's own). Migration 0004 adds, on PostgreSQL,
    the curve envelopes ``downsample.py`` reads, kept by triggers on this table.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics", db_index=False)
    mode = models.CharField(max_length=8)  # train | val
    name = models.CharField(max_length=64)
    step = models.BigIntegerField()
    epoch = models.IntegerField(null=True)
    value = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        # A resumed run replays the steps after its checkpoint: one point per (name, step).
        constraints = [models.UniqueConstraint(fields=["run", "mode", "name", "step"], name="point_once")]


class LogLine(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_lines")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class Checkpoint(models.Model):
    """A checkpoint file a run's reporter recorded. Whether it is still stored is asked of the storage for a
    whole listing at once (``checkpoints.with_availability``), never per row."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="checkpoints")
    path = models.CharField(max_length=500, help_text="Relative to TRAINYARD_STORAGE.")
    epoch = models.IntegerField()
    iteration = models.BigIntegerField()
    size = models.BigIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["epoch", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="checkpoint_path_once")]

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]
