"""State changes of runs and datasets. The API, the HTML views and the Celery tasks all call these.

Nothing here knows about HTTP: errors are ``ServiceError`` subclasses that the views turn into
400 / 404 / 409 responses.
"""
import hashlib
import hmac
import json
import logging
import secrets
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import jobspecs
from backend.accounts import access
from jobspecs.paths import relative_problem
from workers.storage import strip_credentials

from . import ray_jobs, spec_paths
from .models import (
    TERMINAL,
    Checkpoint,
    Dataset,
    IngestBatch,
    LogLine,
    MetricPoint,
    Run,
    RunStatus,
)
from .storage import StorageError, storage

log = logging.getLogger(__name__)

# The metric the leaderboard and the run list rank by (MMClassification's name).
PRIMARY_METRIC = "accuracy_top-1"
DEFAULT_RESOURCES = {"num_workers": 2, "cpus_per_worker": 1, "gpus_per_worker": 0, "strategy": "ddp"}


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, *, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class Conflict(ServiceError):
    status = 409


@dataclass
class SpecProblem:
    message: str
    filename: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        where = ":".join(str(x) for x in (self.filename, self.line, self.column) if x is not None)
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" — {self.hint}"
        return {"message": self.message, "file": self.filename, "line": self.line, "column": self.column,
                "hint": self.hint, "text": text, **self.extra}


def _problem_from_spec_error(err: jobspecs.SpecError) -> SpecProblem:
    return SpecProblem(err.message, err.filename, err.lineno, err.col, err.hint)


# --- specs -------------------------------------------------------------------------------------


def library_spec_text(name: str) -> str:
    """The text of a library spec, refusing anything that is not one of the listed files."""
    if name not in set(jobspecs.list_library()):
        raise ServiceError(f"No library spec named '{name}'.", errors=[{"field": "spec_name", "message": "unknown"}])
    return (jobspecs.library_dir() / name).read_text()


def resolve_spec(*, spec_text: str | None, spec_name: str | None, cfg_options, user=None,
                 sweep_space: dict | None = None) -> tuple[dict, str]:
    """Load and check a spec the way the submit path does; returns (resolved spec, text).

    Besides the schema and the registries, the path policy (``spec_paths``): every path stays in its area,
    no URL the operator did not allow; with ``user``, each checkpoint the spec names must be one of a run the
    user may read (a sweep's ``sweep_space`` values too).

    Raises ServiceError whose ``errors`` carry file:line:col for each problem.
    """
    if bool(spec_text) == bool(spec_name):
        raise ServiceError("Give either spec_text (a spec to paste) or spec_name (a library spec), not both.")
    opts = _normalise_cfg_options(cfg_options)
    try:
        if spec_name:
            text = library_spec_text(spec_name)
            spec, positions = jobspecs.load(jobspecs.library_dir() / spec_name, cfg_options=opts, positions=True)
        else:
            text = spec_text
            spec, positions = jobspecs.load_text(spec_text, filename="<spec>", cfg_options=opts, positions=True)
    except jobspecs.SpecError as err:
        problem = _problem_from_spec_error(err)
        raise ServiceError(f"The spec is not valid: {problem.as_dict()['text']}", errors=[problem.as_dict()]) from None

    problems = [_problem_from_spec_error(e) for e in jobspecs.validate(spec, positions)]
    problems += [SpecProblem(p.message, p.filename, p.line, p.column, p.hint)
                 for p in spec_paths.check_spec(spec, positions, user=user, sweep_space=sweep_space)]
    from workers.registry import check_spec_types  # imports torch: only on the submit path

    for issue in check_spec_types(spec):
        fname, line, col = positions.get(tuple(issue.path) + ("type",), positions.get(tuple(issue.path), (None,) * 3))
        hint = f"did you mean {', '.join(repr(s) for s in issue.suggestions)}?" if issue.suggestions else None
        problems.append(SpecProblem(f"unknown {issue.kind} type '{issue.name}'", fname, line, col, hint))
    if problems:
        first = problems[0].as_dict()["text"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ServiceError(f"The spec is not valid: {first}{more}", errors=[p.as_dict() for p in problems])
    return spec, text


def _normalise_cfg_options(cfg_options) -> dict:
    if not cfg_options:
        return {}
    if isinstance(cfg_options, dict):
        return dict(cfg_options)
    if isinstance(cfg_options, (list, tuple)) and all(isinstance(o, str) for o in cfg_options):
        try:
            return jobspecs.parse_cfg_options(list(cfg_options))
        except jobspecs.SpecError as err:
            raise ServiceError(f"Bad cfg_options: {err}") from None
    raise ServiceError("cfg_options must be an object {\"a.b\": value} or a list of \"a.b=value\" strings.")


def _resources(spec: dict, requested: dict | None) -> dict:
    res = dict(DEFAULT_RESOURCES)
    res.update(spec.get("resources") or {})
    res.update(requested or {})
    n = res.get("num_workers")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= settings.TRAINYARD_MAX_NUM_WORKERS:
        raise ServiceError(f"resources.num_workers must be an integer from 1 to {settings.TRAINYARD_MAX_NUM_WORKERS} "
                           f"(TRAINYARD_MAX_NUM_WORKERS), not {n!r}.",
                           errors=[{"field": "resources.num_workers", "setting": "TRAINYARD_MAX_NUM_WORKERS"}])
    for key in ("cpus_per_worker", "gpus_per_worker"):
        v = res.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise ServiceError(f"resources.{key} must be a number ≥ 0, not {v!r}.")
    _check_maxima(res)
    if res.get("strategy") not in ("ddp", "deepspeed"):
        raise ServiceError(f"resources.strategy must be 'ddp' or 'deepspeed', not {res.get('strategy')!r}.")
    # The merged resources obey the same schema as a spec's own `resources` section.
    problems = [e for e in jobspecs.validate({**spec, "resources": res}) if e.message.startswith("resources")]
    if problems:
        hint = f" — {problems[0].hint}" if problems[0].hint else ""
        raise ServiceError(f"Bad resources: {problems[0].message}{hint}",
                           errors=[{"field": "resources", "message": p.message, "hint": p.hint} for p in problems])
    return res


# --- runs --------------------------------------------------------------------------------------


# --- ingestion tokens --------------------------------------------------------------------------
# A run's reporter (and a sweep's driver) authenticates with a random token made at dispatch (a trial's at
# its registration). Only its SHA-256 digest is stored; the token itself reaches only that run's Ray job.
# A few digests are kept per attempt: a redelivered dispatch (acks_late) makes a second token whose job
# Ray refuses, so the first job must keep working with the first token. A PBT re-registration or the
# driver closing a trial issues another one while the trial's own may still be reporting.
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
    model = type(obj)
    with transaction.atomic():
        locked = model.objects.select_for_update().only("pk", "ingest_token_digests").get(pk=obj.pk)
        digests = [*(locked.ingest_token_digests or []), token_digest(token)][-TOKEN_DIGESTS_KEPT:]
        model.objects.filter(pk=obj.pk).update(ingest_token_digests=digests)
    obj.ingest_token_digests = digests
    return token


def withdraw_ingest_token(obj, token: str) -> None:
    """Forget a token that reached no job (Ray refused the redelivered dispatch that carried it)."""
    model = type(obj)
    with transaction.atomic():
        locked = model.objects.select_for_update().only("pk", "ingest_token_digests").get(pk=obj.pk)
        digests = [d for d in locked.ingest_token_digests or [] if d != token_digest(token)]
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


# resources key -> the setting bounding it (the operator sets them to the cluster's largest node)
RESOURCE_MAXIMA = {"cpus_per_worker": "TRAINYARD_MAX_CPUS_PER_WORKER",
                   "gpus_per_worker": "TRAINYARD_MAX_GPUS_PER_WORKER", "max_failures": "TRAINYARD_MAX_FAILURES"}


def _check_maxima(res: dict) -> None:
    """Refuse resources beyond the operator's maxima, naming the setting (the schema checked the types)."""
    for key, setting in RESOURCE_MAXIMA.items():
        value, most = res.get(key), getattr(settings, setting)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > most:
            message = (f"resources.{key} is {value}, above this service's maximum of {most:g} ({setting}); "
                       f"ask less, or an operator to raise {setting} if the cluster has room.")
            raise ServiceError(message, errors=[{"field": f"resources.{key}", "message": message,
                                                 "setting": setting}])


def submit_run(user, *, team=None, dataset, spec_text: str | None = None, spec_name: str | None = None,
               cfg_options=None, name: str | None = None, resources: dict | None = None) -> Run:
    """Validate and store a run, and queue its dispatch once the transaction commits."""
    team = team or access.default_team(user)
    if team is None:
        raise ServiceError("You are not in any team yet; ask a team owner to add you.")
    access.require_write(user, team)
    from . import quotas, throttles  # they import this module

    throttles.check(user, "runs")
    spec, text = resolve_spec(spec_text=spec_text, spec_name=spec_name, cfg_options=cfg_options, user=user)
    if spec.get("sweep"):
        raise ServiceError("This spec has a sweep section: submit it as a sweep (POST /api/sweeps, or "
                           "\"New sweep\" on the dashboard), or drop the section to train it once.",
                           errors=[{"field": "sweep", "message": "a spec with a sweep section is a sweep"}])
    ds = _find_dataset(team, dataset)
    res = _resources(spec, resources)
    with transaction.atomic():
        quotas.check_queued(team, Run)  # under the team's lock until the run is stored
        run = Run.objects.create(
            team=team, created_by=user, dataset=ds,
            name=(name or "").strip()[:200] or _default_name(spec_name),
            spec_name=spec_name or "", spec_text=text, cfg_options=_normalise_cfg_options(cfg_options),
            resolved_spec=json.loads(json.dumps(spec)), spec_hash=jobspecs.spec_hash(spec), resources=res,
        )
        transaction.on_commit(lambda: queue_dispatch(run.pk))
    return run


def queue_dispatch(run_id) -> None:
    """Queue the dispatch task. A broker hiccup must not fail the request: the run is stored, and
    reconcile queues any run still ``queued`` after the grace period."""
    from .tasks import dispatch_run

    try:
        dispatch_run.delay(str(run_id))
    except Exception:
        log.exception("could not queue the dispatch of run %s; reconcile will retry", run_id)


def _default_name(spec_name: str | None) -> str:
    base = Path(spec_name).stem if spec_name else "pasted-spec"
    return f"{base} {timezone.now():%Y-%m-%d %H:%M:%S}"


def _find_dataset(team, dataset) -> Dataset:
    if dataset in (None, ""):
        raise ServiceError("Pick a dataset for the run.", errors=[{"field": "dataset", "message": "required"}])
    qs = Dataset.objects.filter(team=team)
    found = qs.filter(pk=dataset).first() if str(dataset).isdigit() else qs.filter(name=str(dataset)).first()
    if found is None:
        names = ", ".join(qs.values_list("name", flat=True)[:20]) or "none yet"
        raise ServiceError(f"No dataset '{dataset}' in team {team.name} (available: {names}).",
                           errors=[{"field": "dataset", "message": "not found"}])
    return found


def cancel_run(user, run: Run) -> Run:
    access.require_write(user, run.team)
    if run.sweep_id:
        raise Conflict(f"This run is a trial of sweep '{run.sweep.name}'; cancel the sweep to stop its trials.")
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.is_terminal:
            raise Conflict(f"The run has already ended ({run.status}).")
        if run.status == RunStatus.QUEUED:
            run.transition(RunStatus.CANCELLED, "cancelled before dispatch")
            return run
        if run.status != RunStatus.CANCELLING:
            run.transition(RunStatus.CANCELLING, f"cancel requested by {user.get_username()}")
    _stop_job(run)
    return run


def _stop_job(run: Run) -> None:
    try:
        state = ray_jobs.lookup(run.job_id)
        if state is None or state.status in ("STOPPED", "SUCCEEDED", "FAILED"):
            _finish_cancel(run, state)
        else:
            ray_jobs.stop(run.job_id)
    except ray_jobs.RayUnavailable as exc:
        log.warning("could not stop run %s yet (%s); reconcile will retry", run.pk, exc)


def _finish_cancel(run: Run, state) -> None:
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status == RunStatus.CANCELLING:
            if state is not None and state.status == "SUCCEEDED":
                run.transition(RunStatus.SUCCEEDED, "finished before the cancel reached it")
            else:
                run.transition(RunStatus.CANCELLED, "cancelled")


# --- dispatch and reconcile (called by Celery tasks) ------------------------------------------


def run_key(run: Run) -> str:
    """The run's folder on the storage, as a key: ``runs/<id>`` (job.json, work/ with the checkpoints)."""
    return f"runs/{run.pk}"


def run_dir(run: Run) -> Path:
    """The run's folder on this machine: on the storage itself for a path, else in the scratch mirror."""
    return storage().local(run_key(run))


def claim_for_dispatch(model, pk):
    """Lock a run or sweep, move it to ``dispatching`` and note its Ray submission id.

    A queued one whose team is at its running limit stays queued, its status reason saying it waits for a
    slot (``quotas.wait_reason``); it is dispatched again when a slot frees.

    Returns the object, or what to answer instead ('skipped (...)') when it is gone or past dispatch, or
    'deferred (...)' when it waits for a slot.
    """
    from .quotas import wait_reason  # quotas imports this module

    with transaction.atomic():
        obj = model.objects.select_for_update().filter(pk=pk).first()
        if obj is None:
            return f"skipped (no such {model._meta.verbose_name})"
        if obj.status not in (RunStatus.QUEUED, RunStatus.DISPATCHING):
            return f"skipped ({obj.status})"
        if obj.status == RunStatus.QUEUED:
            if waiting := wait_reason(obj):  # locks the team's row: concurrent dispatches count in turn
                if obj.status_reason != waiting:
                    obj.status_reason = waiting
                    obj.save(update_fields=["status_reason"])
                return f"deferred ({waiting})"
            obj.transition(RunStatus.DISPATCHING)
        obj.ray_submission_id = obj.job_id
        obj.save(update_fields=["ray_submission_id"])
    return obj


def dispatch(run_id: str) -> str:
    """Submit the run's Ray job. Idempotent: the submission id is the run's UUID.

    Returns what happened: 'submitted', 'already-submitted' or 'skipped (<status>)'.
    """
    run = claim_for_dispatch(Run, run_id)
    if isinstance(run, str):
        return run
    try:
        job_file = _write_job_file(run)
    except DispatchRefused as err:  # retrying cannot help: fail the run with the reason
        return refuse_dispatch(Run, run.pk, err)
    token = issue_ingest_token(run)
    env = {
        "TRAINYARD_RUN_ID": str(run.pk),
        "TRAINYARD_RUN_TOKEN": token,
        "TRAINYARD_INGEST_URL": settings.TRAINYARD_PUBLIC_URL.rstrip("/") + f"/api/ingest/{run.pk}",
        "TRAINYARD_STORAGE": job_storage_location(),
        "TRAINYARD_MAX_IMAGE_PIXELS": str(settings.TRAINYARD_MAX_IMAGE_PIXELS),  # the workers' image loader
    }
    # the job file by its key on the storage (TRAINYARD_STORAGE names the storage), quoted for the shell
    entrypoint = f"{settings.TRAINYARD_JOB_PYTHON} -m workers.distributed.launch {shlex.quote(job_file)}"
    submitted = submit_job(run, entrypoint, env, token)
    return "submitted" if submitted else "already-submitted"


def job_storage_location() -> str:
    """``TRAINYARD_STORAGE`` as a Ray job gets it: without credentials (``s3://KEY:SECRET@...`` loses
    ``KEY:SECRET@``); the nodes open the store with their own (``AWS_*`` in their environment, a role)."""
    return strip_credentials(storage().location)


def submit_job(obj, entrypoint: str, env: dict[str, str], token: str) -> bool:
    """Submit the Ray job of a run or sweep, whose environment carries ``token``; False when Ray already has
    the job (a redelivered dispatch): that job keeps its own token, and this one is withdrawn.

    A submission that fails otherwise (Ray unreachable) keeps its token: Ray may have taken the job.
    """
    submitted = ray_jobs.submit(obj.job_id, entrypoint, env)
    if not submitted:
        withdraw_ingest_token(obj, token)
    return submitted


def _write_job_file(run: Run) -> str:
    """Write ``runs/<id>/job.json`` on the storage (whole or not at all); returns its key.

    The job names everything by key on the storage (no path or URI that could carry the storage's
    credentials): the dataset, the run's folder, and each checkpoint the spec names by id, resolved again
    here for the run's submitter (``spec_paths.job_checkpoints``)."""
    st = storage()
    key = run_key(run)
    st.write_text(f"{key}/job.json", json.dumps(job_document(run.resolved_spec, run.dataset, run.resources,
                                                             run.created_by, run_id=str(run.pk), name=run.name,
                                                             run_key=key), indent=2))
    return f"{key}/job.json"


def job_document(spec: dict, dataset: Dataset, resources: dict, user, *, sweep_space: dict | None = None,
                 **fields) -> dict:
    """The parts of a job file runs and sweeps share: spec, dataset, resources, checkpoints and network policy."""
    from .datasets import stored_dataset_key  # datasets imports this module

    return {
        **fields,
        "spec": spec,
        "data_key": stored_dataset_key(dataset),  # checked again: DispatchRefused outside the team's area
        "dataset_name": dataset.name,
        "resources": resources,
        "checkpoints": spec_paths.job_checkpoints([spec], user, sweep_space),
        "allowed_url_hosts": spec_paths.allowed_url_hosts(),
    }


class DispatchRefused(ServiceError):
    """What a stored run or sweep cannot be dispatched with (a dataset outside its team's area): dispatch
    fails it with this message instead of submitting a job."""


def refuse_dispatch(model, pk, err: DispatchRefused) -> str:
    """Fail a run or sweep that ``dispatch`` claimed, with the refusal's message; returns what happened."""
    with transaction.atomic():
        obj = model.objects.select_for_update().get(pk=pk)
        if not obj.is_terminal:
            obj.transition(RunStatus.FAILED, f"not dispatched: {err.message}")
    log.warning("%s %s not dispatched: %s", model._meta.verbose_name, pk, err.message)
    return "refused"


# Ray job status -> what it means for an active run.
_RAY_END = {"SUCCEEDED": RunStatus.SUCCEEDED, "FAILED": RunStatus.FAILED, "STOPPED": RunStatus.CANCELLED}


def reconcile() -> dict:
    """Map Ray job states onto active runs; re-dispatch stuck ones, fail lost ones."""
    counts = {"checked": 0, "changed": 0, "redispatched": 0}
    grace = timezone.now() - timedelta(seconds=settings.TRAINYARD_DISPATCH_GRACE_SECONDS)
    # Trials run inside their sweep's Ray job: the sweep's reconcile (sweeps.py) looks after them.
    standalone = Run.objects.filter(sweep__isnull=True)
    from .quotas import startable  # quotas imports this module

    # Queued runs whose dispatch task was lost (broker down at submit time) or that wait for a slot of their
    # team's running limit: per team, only as many as it has free slots, oldest first (no busy loop).
    for run_id in startable(Run, grace=grace):
        queue_dispatch(run_id)
        counts["redispatched"] += 1
    active = standalone.filter(status__in=[RunStatus.DISPATCHING, RunStatus.RUNNING, RunStatus.CANCELLING])
    for run in active.only("pk", "status", "dispatched_at", "attempt", "resources"):
        counts["checked"] += 1
        state = ray_jobs.lookup(run.job_id)  # RayUnavailable propagates: nothing is changed
        if state is None:
            if run.status == RunStatus.DISPATCHING and (run.dispatched_at or grace) <= grace:
                queue_dispatch(run.pk)
                counts["redispatched"] += 1
            elif run.status == RunStatus.CANCELLING:
                _finish_cancel(run, None)
                counts["changed"] += 1
            elif run.status == RunStatus.RUNNING:
                counts["changed"] += _retry_or_fail(run, "lost: the Ray cluster has no record of its job")
            continue
        if run.status == RunStatus.CANCELLING:
            if state.status in _RAY_END:
                _finish_cancel(run, state)
                counts["changed"] += 1
            else:
                ray_jobs.stop(run.job_id)
            continue
        if state.status == "RUNNING":
            counts["changed"] += _apply(run.pk, RunStatus.RUNNING, "")
        elif state.status in _RAY_END:
            target = _RAY_END[state.status]
            reason = state.message or state.status.lower()
            if state.status == "FAILED":
                # The launcher reports a training error itself (the run is already failed then);
                # a job failing without that means its driver died: a retry resumes it.
                counts["changed"] += _retry_or_fail(run, _failure_reason(run, state))
                continue
            if state.status == "STOPPED":
                target, reason = RunStatus.FAILED, "the Ray job was stopped outside Trainyard"
            counts["changed"] += _apply(run.pk, target, reason)
    return counts


def _retry_or_fail(run: Run, reason: str) -> int:
    """Submit the run again (resuming from its checkpoint) while ``max_failures`` allows."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.is_terminal:
            return 0
        allowed = int((run.resources or {}).get("max_failures", 0) or 0)
        if run.attempt >= allowed:
            tries = f" (after {run.attempt + 1} attempts)" if run.attempt else ""
            return int(run.transition(RunStatus.FAILED, reason + tries))
        run.attempt += 1
        run.ingest_token_digests = []  # the dead attempt's job may not report into the new one
        run.save(update_fields=["attempt", "ingest_token_digests"])
        run.transition(RunStatus.DISPATCHING, f"retry {run.attempt} of {allowed}: {reason}")
    queue_dispatch(run.pk)
    return 1


def _failure_reason(run: Run, state) -> str:
    tail = [line for line in ray_jobs.logs(run.job_id).splitlines() if line.strip()][-5:]
    return (state.message or "the Ray job failed") + ("\n" + "\n".join(tail) if tail else "")


def _apply(run_id, target: str, reason: str) -> int:
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.is_terminal or target not in _allowed(run.status):
            return 0
        return int(run.transition(target, reason))


def _allowed(status: str):
    from .models import TRANSITIONS

    return TRANSITIONS[status]


# --- ingestion ---------------------------------------------------------------------------------


@dataclass
class IngestResult:
    duplicate: bool
    stored: dict
    stop: bool  # tells the trainer to stop (the run was cancelled)


def record_batch(run: Run, batch: dict) -> IngestResult:
    """Store one reporter batch exactly once (keyed by its session and sequence number)."""
    session, seq = str(batch["session"])[:64], int(batch["seq"])
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status in (RunStatus.CANCELLING, RunStatus.CANCELLED):
            return IngestResult(False, {}, True)
        if run.sweep_id and run.sweep.status in (RunStatus.CANCELLING, RunStatus.CANCELLED):
            # a trial of a cancelled sweep: whatever it reports now is the cancel taking effect
            if not run.is_terminal:
                run.transition(RunStatus.CANCELLED, "the sweep was cancelled")
            return IngestResult(False, {}, True)
        try:
            with transaction.atomic():
                IngestBatch.objects.create(run=run, session=session, seq=seq)
        except IntegrityError:
            return IngestResult(True, {}, False)
        now = timezone.now()
        metrics = batch.get("metrics", [])
        _insert_points(run, metrics, now)
        # only the val points feed the best metrics (and a sweep's best trial)
        points = [MetricPoint(run=run, mode="val", name=m["name"], step=m["step"], epoch=m.get("epoch"),
                              value=m["value"], created_at=now) for m in metrics if m["mode"] == "val"]
        lines = [LogLine(run=run, text=str(t)[:4000], created_at=now) for t in batch.get("logs", [])]
        checkpoints = []
        for c in batch.get("checkpoints", []):
            key = checkpoint_key(run, c["path"])
            if key is None:
                # Dropped, not refused: the reporter would re-send a refused batch for ever. The run's log
                # says so, where the run's owner looks.
                lines.append(LogLine(run=run, created_at=now, text=(
                    "[trainyard] refused a checkpoint record outside the run's folder: "
                    f"{str(c['path'])[:500]!r} (a run records only files under {run_key(run)}/)")))
            else:
                checkpoints.append((key, c))
        LogLine.objects.bulk_create(lines)
        for key, c in checkpoints:
            Checkpoint.objects.update_or_create(
                run=run, path=key,
                defaults={"epoch": int(c["epoch"]), "iteration": int(c["iteration"]),
                          "size": int(c.get("size", 0)), "metrics": c.get("metrics") or {}},
            )
        _update_best(run, points)
        if run.sweep_id:
            from .sweeps import note_trial_points

            note_trial_points(run, points)
        for event in batch.get("events", []):
            _apply_event(run, event)
    return IngestResult(False, {"metrics": len(metrics), "logs": len(lines)}, False)


# The batch travels as one JSON document: psycopg2 sends a Python list as an ``ARRAY[...]`` literal
# of one expression per element, which PostgreSQL parses and plans element by element (about a quarter
# of the statement's time at 1000 points); one text parameter is parsed in a single pass.
_INSERT_POINTS = """
INSERT INTO experiments_metricpoint (run_id, mode, name, step, epoch, value, created_at)
SELECT %s, u.mode, u.name, u.step, u.epoch, u.value, %s
FROM json_to_recordset(%s) AS u(mode varchar, name varchar, step bigint, epoch integer, value double precision)
ON CONFLICT (run_id, mode, name, step) DO NOTHING
"""


def _insert_points(run: Run, metrics: list[dict], now) -> None:
    """Store checked metric points once each: a replayed (mode, name, step) keeps its first value.

    On PostgreSQL one ``INSERT ... SELECT FROM json_to_recordset(...) ON CONFLICT DO NOTHING`` per
    batch (no model object per point, unlike ``bulk_create``); a step repeated within the batch keeps
    its first value too, as the rows are inserted in the batch's order. Elsewhere ``bulk_create``.
    """
    if not metrics:
        return
    if connection.vendor == "postgresql":
        # The values were checked finite; allow_nan=False would rather fail than send invalid JSON.
        rows = json.dumps([{"mode": m["mode"], "name": m["name"], "step": m["step"], "epoch": m.get("epoch"),
                            "value": m["value"]} for m in metrics], allow_nan=False)
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_POINTS, [run.pk, now, rows])
        return
    MetricPoint.objects.bulk_create(
        [MetricPoint(run=run, mode=m["mode"], name=m["name"], step=m["step"], epoch=m.get("epoch"),
                     value=m["value"], created_at=now) for m in metrics], ignore_conflicts=True)


def _update_best(run: Run, points: list[MetricPoint]) -> None:
    best = dict(run.best_metrics or {})
    changed = False
    for p in points:
        if p.mode != "val":
            continue
        if p.name == PRIMARY_METRIC and p.value > best.get(PRIMARY_METRIC, float("-inf")):
            best.update({PRIMARY_METRIC: p.value, "epoch": p.epoch, "step": p.step})
            changed = True
    if changed:
        # the other metrics at the best epoch ride along (e.g. accuracy_top-5)
        for p in points:
            if p.mode == "val" and p.step == best["step"]:
                best[p.name] = p.value
        run.best_metrics = best
        run.save(update_fields=["best_metrics"])


def _apply_event(run: Run, event: dict) -> None:
    status = event.get("status")
    reason = str(event.get("reason", ""))[:4000]
    if isinstance(event.get("environment"), dict):
        run.environment = {**(run.environment or {}), **event["environment"]}
        run.save(update_fields=["environment"])
    if event.get("early_stopped") and not run.is_terminal:
        run.early_stopped = True
        run.save(update_fields=["early_stopped"])
    if status in (RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED) and not run.is_terminal:
        if status in _allowed(run.status):
            run.transition(status, reason)


def checkpoint_key(run: Run, path) -> str | None:
    """The storage key of a checkpoint a run's reporter records, if it lies in that run's own folder.

    ``runs/<run id>/...`` for a run and for a sweep's trial alike (a trial trains in the folder of its own
    run, ``workers/distributed/sweep.py``). Refused (None): an absolute path, ``..``, another folder, and on a
    path storage a file whose real location (links followed) leaves the run's folder.
    """
    return _key_in_folder(run_key(run), path)


def checkpoint_file(ckpt: Checkpoint) -> str | None:
    """The key of a recorded checkpoint's file for a download, or None: gone, or outside its run's folder
    (rows stored before records were checked are checked again here)."""
    key = _key_in_folder(f"runs/{ckpt.run_id}", ckpt.path)  # run_key's folder, without loading the run
    return storage_file(key) if key is not None else None


def _key_in_folder(folder: str, path) -> str | None:
    text = str(path or "")
    if not text or "\\" in text or len(text) > 500 or relative_problem(text):  # the path policy's rule
        return None
    key = PurePosixPath(text).as_posix()
    if not key.startswith(folder + "/"):
        return None
    st = storage()
    if st.is_local:
        # The folder as named under the storage root, not resolved itself: a ``runs/<id>`` that is a link to
        # elsewhere must not move the boundary with it.
        if Path(st.root) / folder not in (Path(st.root) / key).resolve().parents:
            return None
    return key


def storage_file(relpath: str) -> str | None:
    """The key of a file on the storage named by ``relpath``, or None if it leaves the storage or is missing.

    On a path storage links are followed and what they lead to must be inside the storage too (the key
    returned is the file's own, after resolving); on an object store the key must be one (no ``..``, not
    absolute) and name an object.
    """
    st = storage()
    try:
        if st.is_local:
            root = Path(st.root)
            target = (root / relpath).resolve()
            if root not in target.parents or not target.is_file():
                return None
            return target.relative_to(root).as_posix()
        key = st.key(relpath)
        return key if key and st.is_file(key) else None
    except StorageError:  # an absolute path or one with '..'
        return None


__all__ = [
    "PRIMARY_METRIC", "ServiceError", "Conflict", "submit_run", "cancel_run", "dispatch", "reconcile",
    "record_batch", "resolve_spec", "storage_file", "issue_ingest_token", "check_ingest_token", "ingestion_closed",
    "checkpoint_key", "checkpoint_file", "TERMINAL",
]
