"""The backend's only door to Ray: submit, look up and stop Ray Jobs through the Jobs API.

Ray 2.60's dashboard asks for a bearer token by default. The token comes from
``RAY_AUTH_TOKEN``, else the file at ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``;
with none of them the client connects without one (a cluster with auth disabled).
"""
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


class RayUnavailable(Exception):
    """The Ray dashboard could not be reached or refused us."""


@dataclass
class JobState:
    status: str  # PENDING | RUNNING | STOPPED | SUCCEEDED | FAILED
    message: str


def auth_token() -> str | None:
    token = os.environ.get("RAY_AUTH_TOKEN")
    if token:
        return token.strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if path.is_file():
        return path.read_text().strip() or None
    return None


def client():
    from ray.job_submission import JobSubmissionClient

    token = auth_token()
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return JobSubmissionClient(settings.RAY_ADDRESS, headers=headers)
    except Exception as exc:  # ConnectionError, auth errors: all mean "not now"
        raise RayUnavailable(f"Ray at {settings.RAY_ADDRESS} is unreachable: {exc}") from exc


def submit(submission_id: str, entrypoint: str, env_vars: dict[str, str]) -> bool:
    """Submit a job; returns False if a job with this id already exists (a redelivered task)."""
    c = client()
    try:
        c.submit_job(entrypoint=entrypoint, submission_id=submission_id, runtime_env={"env_vars": env_vars})
    except RuntimeError as exc:
        # Ray refuses a second submission with the same id; make sure that is what happened.
        if lookup(submission_id) is not None:
            return False
        raise RayUnavailable(f"Ray refused the job: {exc}") from exc
    return True


def lookup(submission_id: str) -> JobState | None:
    """The job's state, or None when Ray has no job with this id."""
    c = client()
    try:
        info = c.get_job_info(submission_id)
    except RuntimeError as exc:
        if "does not exist" in str(exc) or "404" in str(exc):
            return None
        raise RayUnavailable(str(exc)) from exc
    return JobState(status=str(info.status.value), message=info.message or "")


def stop(submission_id: str) -> bool:
    c = client()
    try:
        return bool(c.stop_job(submission_id))
    except RuntimeError as exc:
        if "does not exist" in str(exc):
            return False
        raise RayUnavailable(str(exc)) from exc


def logs(submission_id: str) -> str:
    try:
        return client().get_job_logs(submission_id)
    except RuntimeError:
        return ""
