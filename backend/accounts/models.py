"""Users belong to teams with a role; every object in Trainyard belongs to a team.

Personal API tokens are stored as SHA-256 digests: the plain token is shown once, at creation.
"""
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def _limit_field(what: str, setting: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        null=True, blank=True,
        help_text=f"Most {what} this team may have at once; empty: the default ({setting}). 0 stops the team.")


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The team's own limits (backend/experiments/quotas.py), set by an operator in /admin; empty: the setting.
    max_queued_runs = _limit_field("runs waiting to start", "TRAINYARD_TEAM_MAX_QUEUED_RUNS")
    max_running_runs = _limit_field("runs running", "TRAINYARD_TEAM_MAX_RUNNING_RUNS")
    max_queued_sweeps = _limit_field("sweeps waiting to start", "TRAINYARD_TEAM_MAX_QUEUED_SWEEPS")
    max_running_sweeps = _limit_field("sweeps running", "TRAINYARD_TEAM_MAX_RUNNING_SWEEPS")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team")]

    @property
    def can_write(self) -> bool:
        return self.role in (Role.OWNER, Role.MEMBER)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal API token; requests authenticate with ``Authorization: Bearer ty_...``."""

    PREFIX = "ty_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def issue(cls, user, name: str) -> tuple["ApiToken", str]:
        """Create a token; returns the row and the plain token (never stored)."""
        plain = cls.PREFIX + secrets.token_urlsafe(32)
        return cls.objects.create(user=user, name=name, digest=hash_token(plain)), plain
