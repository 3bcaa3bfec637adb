"""A checkpoint served on the Ray cluster: a ``Deployment`` (one Ray Serve application) and the latency of
each prediction answered through the API (``PredictionSample``, for the percentiles on its page).

A deployment moves ``pending`` (stored, its dispatch queued) -> ``deploying`` (its Ray job submitted) ->
``running`` (Serve says the application is up) -> ``stopped`` (undeployed); ``failed`` when the application
could not start, ``lost`` when Ray no longer has an application that was running (reconcile).
"""
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from backend.accounts.models import Team
from backend.experiments.models import Checkpoint, Run


class Runtime(models.TextChoices):
    PYTORCH = "pytorch"
    ONNXRUNTIME = "onnxruntime"


class DeploymentStatus(models.TextChoices):
    PENDING = "pending"
    DEPLOYING = "deploying"
    RUNNING = "running"
    FAILED = "failed"
    LOST = "lost"
    STOPPED = "stopped"


ACTIVE = frozenset({DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING, DeploymentStatus.RUNNING})
ENDED = frozenset({DeploymentStatus.FAILED, DeploymentStatus.LOST, DeploymentStatus.STOPPED})


class Deployment(models.Model):
    """A checkpoint of one of the team's runs, answering predictions as a Ray Serve application."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="deployments")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    name = models.CharField(max_length=200)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="deployments")
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="deployments")
    runtime = models.CharField(max_length=12, choices=Runtime.choices, default=Runtime.PYTORCH)
    replicas = models.PositiveIntegerField(default=1)
    cpus_per_replica = models.FloatField(default=1.0)
    gpus_per_replica = models.FloatField(default=0.0)
    max_batch_size = models.PositiveIntegerField(default=8)
    batch_wait_timeout_s = models.FloatField(default=0.01)

    status = models.CharField(max_length=10, choices=DeploymentStatus.choices, default=DeploymentStatus.PENDING,
                              db_index=True)
    status_reason = models.TextField(blank=True)
    attempt = models.IntegerField(default=0, help_text="Deploy jobs submitted before the current one.")
    request_count = models.BigIntegerField(default=0, help_text="Predict requests answered (200).")
    image_count = models.BigIntegerField(default=0, help_text="Images classified.")
    error_count = models.BigIntegerField(default=0, help_text="Predict requests refused (400) or failed.")

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    running_at = models.DateTimeField(null=True, blank=True)
    first_prediction_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def app_name(self) -> str:
        """The Ray Serve application's name."""
        return f"trainyard-{self.pk}"

    @property
    def route_prefix(self) -> str:
        """Where Serve's HTTP proxy answers for it."""
        return f"/trainyard/{self.pk}"

    @property
    def job_id(self) -> str:
        """The Ray submission id of the deploy job of the current attempt."""
        base = f"deploy-{self.pk}"
        return base if self.attempt == 0 else f"{base}-retry{self.attempt}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


class PredictionSample(models.Model):
    """One answered predict request: how long it took end to end in the web process, and how many images."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="samples")
    latency_ms = models.FloatField()
    images = models.PositiveIntegerField(default=1)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["deployment", "-id"], name="prediction_sample_recent")]
