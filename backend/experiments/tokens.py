"""Ingestion tokens: how a run's reporter (and a sweep's driver) proves it is that job.

A token is random, made at dispatch (a trial's at its registration), and reaches only that job's environment;
the backend keeps its SHA-256 digest on the run or sweep. A few digests are kept per attempt: a redelivered
dispatch (acks_late) makes a second token whose job Ray refuses, so the first job must keep working with the
first token; a PBT re-registration or the driver closing a trial issues another one while the trial's own may
still be reporting. A retry forgets them all (``lifecycle.retry_or_fail``).
"""
import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

TOKEN_DIGESTS_KEPT = 8


def token_digest(token: str) -> str:
    """The SHA-256 hex digest of an ingestion token (what the database keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_ingest_token(obj) -> str:
    """A new random ingestion token for a run or a sweep; its digest joins those the current attempt may use.

    Committed before it returns, so a job that starts reporting at once is already let in.

    Args:
        obj: A ``Run`` or a ``Sweep``.

    Returns:
        The token (``secrets.token_urlsafe(32)``); it is not stored anywhere.
    """
    token = secrets.token_urlsafe(32)
    _set_digests(obj, lambda digests: [*digests, token_digest(token)][-TOKEN_DIGESTS_KEPT:])
    return token


def withdraw_ingest_token(obj, token: str) -> None:
    """Forget a token that reached no job (Ray refused the redelivered dispatch that carried it)."""
    _set_digests(obj, lambda digests: [d for d in digests if d != token_digest(token)])


def _set_digests(obj, change) -> None:
    """Change the object's digests under its row lock (concurrent issues must not lose one)."""
    model = type(obj)
    with transaction.atomic():
        locked = model.objects.select_for_update().only("pk", "ingest_token_digests").get(pk=obj.pk)
        digests = change(list(locked.ingest_token_digests or []))
        model.objects.filter(pk=obj.pk).update(ingest_token_digests=digests)
    obj.ingest_token_digests = digests


def check_ingest_token(obj, token: str) -> bool:
    """Whether ``token`` is one of the run's (or sweep's) current tokens; constant-time per digest."""
    if not token:
        return False
    digest = token_digest(token)
    matches = [hmac.compare_digest(digest, str(d)) for d in obj.ingest_token_digests or []]
    return any(matches)


def ingestion_closed(obj) -> bool:
    """Whether a run (or sweep) ended more than ``TRAINYARD_INGEST_GRACE_SECONDS`` ago: its tokens are refused.

    The grace lets the batches in flight when reconcile (or the job's own last event) ended it arrive.
    """
    if not obj.is_terminal:
        return False
    if obj.finished_at is None:
        return True
    return timezone.now() > obj.finished_at + timedelta(seconds=settings.TRAINYARD_INGEST_GRACE_SECONDS)
