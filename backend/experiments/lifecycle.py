"""The life of a job (a run with a Ray job of its own, or a sweep) from the queue to its end.

One driver for both kinds: claim for dispatch, dispatch, cancel, map Ray's job states, reconcile, retry a job
whose driver died. A ``JobKind`` says the little that differs: its Ray job's file, environment and entrypoint,
how often a dead driver is retried, how a cancel ends, and what ending means (a sweep's open trials end with
it). A trial of a sweep runs inside its sweep's Ray job: the sweep's lifecycle looks after it.

The Celery tasks (``tasks.py``) call in here; this module queues them by their registered names
(``queue_dispatch``) and never imports them. Each state change locks the job's row (``select_for_update``)
and, where a limit is counted, then the team's (``quotas``).
"""
from __future__ import annotations

import contextlib
import logging
import zlib
from datetime import timedelta

from celery import signature
from django.conf import settings
from django.db import connection, transaction
from django.dispatch import receiver
from django.utils import timezone

from backend.accounts import access
from backend.project import metrics

from . import jobfiles, quotas, ray_jobs, trials
from .errors import Conflict, DispatchRefused
from .models import TERMINAL, TRANSITIONS, Run, RunStatus, Sweep, status_changed
from .tokens import issue_ingest_token, withdraw_ingest_token

log = logging.getLogger(__name__)

# Ray job status -> the end state it means for a job
RAY_END = {"SUCCEEDED": RunStatus.SUCCEEDED, "FAILED": RunStatus.FAILED, "STOPPED": RunStatus.CANCELLED}


class JobKind:
    """What differs between the kinds of job; the functions below do the rest."""

    counted: quotas.Kind  # the model, its noun, and the jobs that have a Ray job of their own
    dispatch_task: str  # the Celery task's registered name: a queue may hold it, so it never changes
    entrypoint_module: str  # what the Ray job runs (``python -m <module> <job file>``)
    fields = ("pk", "status", "dispatched_at", "attempt", "resources")  # what reconcile reads of each job

    @property
    def model(self):
        return self.counted.model

    @property
    def noun(self) -> str:
        return self.counted.singular

    def jobs(self):
        """The jobs of this kind with a Ray job of their own."""
        return self.counted.jobs()

    def write_job_file(self, job) -> str:
        """Write the job's file on the storage; its key. Raises ``DispatchRefused``."""
        raise NotImplementedError

    def environment(self, job, token: str) -> dict[str, str]:
        """The Ray job's environment variables, ``token`` its ingestion token."""
        raise NotImplementedError

    def check_cancel(self, job) -> None:
        """Raise ``Conflict`` where the job cannot be cancelled on its own."""

    def max_retries(self, job) -> int:
        """How many times a job whose Ray driver died is submitted again."""
        return 0

    def failure_reason(self, job, state: ray_jobs.JobState) -> str:
        """The status reason of a job whose Ray job failed."""
        return state.message or "failed"

    def cancel_end(self, state: ray_jobs.JobState | None) -> tuple[str, str]:
        """The end state (and reason) of a cancelled job once Ray's job is gone (``state``: its last state)."""
        return RunStatus.CANCELLED, "cancelled"

    def ended(self, job) -> None:
        """Called once the lifecycle has moved the job to an end state."""

    def reconciled(self) -> None:
        """Called after each reconcile pass over the kind."""


class RunKind(JobKind):
    counted = quotas.RUNS
    dispatch_task = "backend.experiments.tasks.dispatch_run"
    entrypoint_module = "workers.distributed.launch"
    fields = JobKind.fields + ("sweep",)  # ``job_id`` asks whether it is a trial

    def write_job_file(self, run: Run) -> str:
        return jobfiles.write_run_job(run)

    def environment(self, run: Run, token: str) -> dict[str, str]:
        return jobfiles.run_environment(run, token)

    def check_cancel(self, run: Run) -> None:
        if run.sweep_id:
            raise Conflict(f"This run is a trial of sweep '{run.sweep.name}'; cancel the sweep to stop its trials.")

    def max_retries(self, run: Run) -> int:
        return int((run.resources or {}).get("max_failures", 0) or 0)

    def failure_reason(self, run: Run, state: ray_jobs.JobState) -> str:
        """Ray's message and the last lines of the job's log (the launcher reports a training error itself, so
        a run still active when its job fails lost its driver)."""
        tail = [line for line in ray_jobs.logs(run.job_id).splitlines() if line.strip()][-5:]
        return (state.message or "the Ray job failed") + ("\n" + "\n".join(tail) if tail else "")

    def cancel_end(self, state: ray_jobs.JobState | None) -> tuple[str, str]:
        if state is not None and state.status == "SUCCEEDED":
            return RunStatus.SUCCEEDED, "finished before the cancel reached it"
        return RunStatus.CANCELLED, "cancelled"


class SweepKind(JobKind):
    counted = quotas.SWEEPS
    dispatch_task = "backend.experiments.tasks.dispatch_sweep"
    entrypoint_module = "workers.distributed.sweep"

    def write_job_file(self, sweep: Sweep) -> str:
        return jobfiles.write_sweep_job(sweep)

    def environment(self, sweep: Sweep, token: str) -> dict[str, str]:
        return jobfiles.sweep_environment(sweep, token)

    def ended(self, sweep: Sweep) -> None:
        trials.close_trials(sweep)

    def reconciled(self) -> None:
        # A trial whose sweep has ended cannot report any more.
        for sweep in Sweep.objects.filter(status__in=TERMINAL, trials__status=RunStatus.RUNNING).distinct():
            trials.close_trials(sweep)


RUNS, SWEEPS = RunKind(), SweepKind()
KINDS = {Run: RUNS, Sweep: SWEEPS}


def kind_of(model) -> JobKind:
    """The kind of a model class or object (``Run`` or ``Sweep``)."""
    return KINDS[model if isinstance(model, type) else type(model)]


# --- dispatch ------------------------------------------------------------------------------------------


def queue_dispatch(model, pk) -> None:
    """Queue the dispatch task of a run or sweep, by the task's name.

    A broker hiccup must not fail the caller (a submit): the job is stored, and reconcile queues any job still
    ``queued`` after the grace period.
    """
    kind = kind_of(model)
    try:
        signature(kind.dispatch_task, args=[str(pk)]).delay()
    except Exception:
        log.exception("could not queue the dispatch of %s %s; reconcile will retry", kind.noun, pk)


def claim_for_dispatch(model, pk):
    """Lock a run or sweep, move it to ``dispatching`` and note its Ray submission id.

    A queued one whose team is at its running limit stays queued, its status reason saying it waits for a
    slot (``quotas.wait_reason``); it is dispatched again when a slot frees.

    Returns:
        The object, or what to answer instead: 'skipped (...)' when it is gone or past dispatch, 'deferred
        (...)' when it waits for a slot.
    """
    with transaction.atomic():
        obj = model.objects.select_for_update().filter(pk=pk).first()
        if obj is None:
            return f"skipped (no such {model._meta.verbose_name})"
        if obj.status not in (RunStatus.QUEUED, RunStatus.DISPATCHING):
            return f"skipped ({obj.status})"
        if obj.status == RunStatus.QUEUED:
            if waiting := quotas.wait_reason(obj):  # locks the team's row: concurrent dispatches count in turn
                if obj.status_reason != waiting:
                    obj.status_reason = waiting
                    obj.save(update_fields=["status_reason"])
                return f"deferred ({waiting})"
            obj.transition(RunStatus.DISPATCHING)
        obj.ray_submission_id = obj.job_id
        obj.save(update_fields=["ray_submission_id"])
    return obj


def dispatch(model, pk) -> str:
    """Submit the Ray job of a run or sweep. Idempotent: the submission id is the job's (``Job.job_id``).

    Returns:
        What happened: 'submitted', 'already-submitted', 'refused', 'skipped (...)' or 'deferred (...)'.
    """
    kind = kind_of(model)
    job = claim_for_dispatch(model, pk)
    if isinstance(job, str):
        return job
    try:
        job_file = kind.write_job_file(job)
    except DispatchRefused as err:  # retrying cannot help: fail the job with the reason
        return refuse_dispatch(model, job.pk, err)
    token = issue_ingest_token(job)
    entrypoint = jobfiles.entrypoint(kind.entrypoint_module, job_file)
    return "submitted" if submit_job(job, entrypoint, kind.environment(job, token), token) else "already-submitted"


def refuse_dispatch(model, pk, err: DispatchRefused) -> str:
    """Fail a run or sweep that ``dispatch`` claimed, with the refusal's message; returns what happened."""
    apply_status(model, pk, RunStatus.FAILED, f"not dispatched: {err.message}")
    log.warning("%s %s not dispatched: %s", model._meta.verbose_name, pk, err.message)
    return "refused"


def submit_job(obj, entrypoint: str, env: dict[str, str], token: str) -> bool:
    """Submit the Ray job of a run or sweep, whose environment carries ``token``; False when Ray already has
    the job (a redelivered dispatch): that job keeps its own token, and this one is withdrawn.

    A submission that fails otherwise (Ray unreachable) keeps its token: Ray may have taken the job.
    """
    submitted = ray_jobs.submit(obj.job_id, entrypoint, env)
    if not submitted:
        withdraw_ingest_token(obj, token)
    elif not obj.attempt:  # a retry's wait began when its driver died, not at submission
        metrics.observe_dispatch(obj._meta.model_name, (timezone.now() - obj.created_at).total_seconds())
    return submitted


# --- state changes -------------------------------------------------------------------------------------


def apply_status(model, pk, target: str, reason: str) -> int:
    """Move a run or sweep to ``target`` if the state machine allows it from where it is now (an ended job
    stays as it is); returns 1 if it moved. Locks the job's row."""
    kind = kind_of(model)
    with transaction.atomic():
        job = kind.model.objects.select_for_update().get(pk=pk)
        if job.is_terminal or target not in TRANSITIONS[job.status]:
            return 0
        changed = int(job.transition(target, reason))
    if job.is_terminal:
        kind.ended(job)
    return changed


def retry_or_fail(job, reason: str) -> int:
    """Submit a job whose Ray driver died again (it resumes from its checkpoint) while its kind allows
    (a run's ``max_failures``); fail it otherwise. Returns 1 if it changed."""
    kind = kind_of(job)
    seen = (job.status, job.attempt)  # the attempt whose failure the caller saw
    with transaction.atomic():
        job = kind.model.objects.select_for_update().get(pk=job.pk)
        if job.is_terminal or (job.status, job.attempt) != seen:
            return 0  # another reconcile pass (a second beat, an overlapping pass) has acted on this failure
        allowed = kind.max_retries(job)
        if job.attempt >= allowed:
            tries = f" (after {job.attempt + 1} attempts)" if job.attempt else ""
            changed = int(job.transition(RunStatus.FAILED, reason + tries))
        else:
            changed = None
            job.attempt += 1
            job.ingest_token_digests = []  # the dead attempt's job may not report into the new one
            job.save(update_fields=["attempt", "ingest_token_digests"])
            job.transition(RunStatus.DISPATCHING, f"retry {job.attempt} of {allowed}: {reason}")
    if changed is not None:
        kind.ended(job)
        return changed
    queue_dispatch(kind.model, job.pk)
    return 1


def cancel(user, job):
    """Cancel a run or sweep: a queued one ends at once; an active one is ``cancelling`` until Ray reports its
    job stopped (here, or at a later reconcile). A sweep's trials end with it.

    Raises:
        Conflict: the job has already ended, or is a trial (its sweep is cancelled instead).

    Returns:
        The job as it is now.
    """
    kind = kind_of(job)
    access.require_write(user, job.team)
    kind.check_cancel(job)
    with transaction.atomic():
        job = kind.model.objects.select_for_update().get(pk=job.pk)
        if job.is_terminal:
            raise Conflict(f"The {kind.noun} has already ended ({job.status}).")
        if job.status == RunStatus.QUEUED:
            job.transition(RunStatus.CANCELLED, "cancelled before dispatch")
            return job
        if job.status != RunStatus.CANCELLING:
            job.transition(RunStatus.CANCELLING, f"cancel requested by {user.get_username()}")
    try:
        state = ray_jobs.lookup(job.job_id)
        if state is None or state.status in RAY_END:
            _finish_cancel(kind, job.pk, state)
        else:
            ray_jobs.stop(job.job_id)
    except ray_jobs.RayUnavailable as exc:
        log.warning("could not stop %s %s yet (%s); reconcile will retry", kind.noun, job.pk, exc)
    job.refresh_from_db()
    return job


def _finish_cancel(kind: JobKind, pk, state: ray_jobs.JobState | None) -> int:
    target, reason = kind.cancel_end(state)
    return apply_status(kind.model, pk, target, reason)


# --- reconcile -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def exclusive(name: str):
    """A lock named ``name`` across processes and hosts, taken without waiting: yields True while this process
    holds it, False when another holds it (the caller then skips its work). On PostgreSQL a session advisory
    lock; on the embedded stack's SQLite (one machine) an exclusive ``flock`` on a file under ``VAR_DIR``."""
    if connection.vendor != "postgresql":
        import fcntl

        path = settings.VAR_DIR / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    key = zlib.crc32(f"trainyard:{name}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def reconcile(model) -> dict:
    """Map Ray's job states onto the active runs (or sweeps); dispatch stuck and waiting ones again, retry or
    fail lost ones.

    Raises:
        RayUnavailable: Ray could not be asked; nothing was changed for the job being looked at.

    Returns:
        Counts: ``checked``, ``changed``, ``redispatched``.
    """
    kind = kind_of(model)
    counts = {"checked": 0, "changed": 0, "redispatched": 0}
    grace = timezone.now() - timedelta(seconds=settings.TRAINYARD_DISPATCH_GRACE_SECONDS)
    # Queued jobs whose dispatch task was lost (broker down at submit time) or that wait for a slot of their
    # team's running limit: per team, only as many as it has free slots, oldest first (no busy loop).
    for pk in quotas.startable(model, grace=grace):
        queue_dispatch(model, pk)
        counts["redispatched"] += 1
    for job in kind.jobs().filter(status__in=quotas.ACTIVE).only(*kind.fields):
        counts["checked"] += 1
        state = ray_jobs.lookup(job.job_id)
        if state is None:
            if job.status == RunStatus.DISPATCHING and (job.dispatched_at or grace) <= grace:
                queue_dispatch(model, job.pk)
                counts["redispatched"] += 1
            elif job.status == RunStatus.CANCELLING:
                counts["changed"] += _finish_cancel(kind, job.pk, None)
            elif job.status == RunStatus.RUNNING:
                counts["changed"] += retry_or_fail(job, "lost: the Ray cluster has no record of its job")
        elif job.status == RunStatus.CANCELLING:
            if state.status in RAY_END:
                counts["changed"] += _finish_cancel(kind, job.pk, state)
            else:
                ray_jobs.stop(job.job_id)
        elif state.status == "RUNNING":
            counts["changed"] += apply_status(model, job.pk, RunStatus.RUNNING, "")
        elif state.status == "FAILED":
            # The launcher reports a training error itself (the run has failed then); a job that fails without
            # it lost its driver: a retry resumes it.
            counts["changed"] += retry_or_fail(job, kind.failure_reason(job, state))
        elif state.status == "STOPPED":
            counts["changed"] += apply_status(model, job.pk, RunStatus.FAILED,
                                              "the Ray job was stopped outside Trainyard")
        elif state.status == "SUCCEEDED":
            counts["changed"] += apply_status(model, job.pk, RunStatus.SUCCEEDED, state.message or "succeeded")
    kind.reconciled()
    return counts


# --- team slots ----------------------------------------------------------------------------------------


@receiver(status_changed, dispatch_uid="backend.experiments.lifecycle.slot_freed")
def slot_freed(sender, job, old: str, new: str, **kwargs) -> None:
    """When an active run (or sweep) ends, its team's next waiting ones are dispatched once the transaction
    commits. A sweep's trials hold no slot."""
    if old not in quotas.ACTIVE or new in quotas.ACTIVE:  # running -> dispatching (a retry) keeps its slot
        return
    if isinstance(job, Run) and job.sweep_id:
        return
    team_id = job.team_id
    transaction.on_commit(lambda: start_waiting(sender, team_id))


def start_waiting(model, team_id: int) -> list:
    """Queue the dispatch of the team's oldest queued runs (or sweeps), as many as it has free slots.

    Returns:
        The ids queued.
    """
    ids = quotas.free_slots(model, team_id)
    for pk in ids:
        queue_dispatch(model, pk)
    return ids
