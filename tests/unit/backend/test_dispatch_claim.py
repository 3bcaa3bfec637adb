"""Claiming a run or a sweep for dispatch: once, into ``dispatching``, with its Ray submission id."""
import uuid

from backend.experiments import submit
from backend.experiments.lifecycle import claim_for_dispatch
from backend.experiments.models import Run, RunStatus, Sweep


def test_it_moves_a_queued_run_to_dispatching_with_its_submission_id(cast):
    run = cast.make_run()
    claimed = claim_for_dispatch(Run, run.pk)
    assert claimed.status == RunStatus.DISPATCHING and claimed.ray_submission_id == str(run.pk)
    again = claim_for_dispatch(Run, run.pk)  # a redelivered task: same id, still dispatching
    assert again.ray_submission_id == str(run.pk) and again.events.count() == 1


def test_it_skips_what_is_gone_or_past_dispatch(cast):
    run = cast.make_run()
    run.transition(RunStatus.CANCELLED)
    assert claim_for_dispatch(Run, run.pk) == "skipped (cancelled)"
    assert claim_for_dispatch(Run, uuid.uuid4()) == "skipped (no such run)"


def test_it_gives_a_sweep_its_own_submission_id(cast):
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits",
                                spec_name="demo/resnet18-tiny_asha-sweep_digits.py")
    claimed = claim_for_dispatch(Sweep, sweep.pk)
    assert claimed.status == RunStatus.DISPATCHING and claimed.ray_submission_id == f"sweep-{sweep.pk}"


def test_two_reconcile_passes_acting_on_one_failure_retry_it_once(cast, settings):
    """Two passes (two beats, or a slow pass overlapping the next) that both saw one attempt fail: the
    second finds the attempt moved on under the row lock and leaves it, so one failure costs one retry."""
    from backend.experiments.lifecycle import retry_or_fail

    run = cast.make_run(resources={"num_workers": 2, "max_failures": 2})
    claim_for_dispatch(Run, run.pk)
    Run.objects.get(pk=run.pk).transition(RunStatus.RUNNING)
    first, second = Run.objects.get(pk=run.pk), Run.objects.get(pk=run.pk)  # what each pass read
    assert retry_or_fail(first, "the driver died") == 1
    assert retry_or_fail(second, "the driver died") == 0
    run.refresh_from_db()
    assert run.attempt == 1 and run.status == RunStatus.DISPATCHING


def test_only_one_reconcile_pass_runs_at_a_time(db):
    """The periodic task takes a PostgreSQL advisory lock: a pass that finds it held (on another connection,
    as another worker process would hold it) skips."""
    import zlib

    import psycopg2
    from django.db import connection

    from backend.experiments.lifecycle import exclusive
    from backend.experiments.tasks import reconcile_runs

    params = connection.get_connection_params()
    other = psycopg2.connect(**{k: v for k, v in params.items() if k in ("host", "port", "user", "dbname", "password")})
    other.autocommit = True
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [zlib.crc32(b"trainyard:reconcile")])
        assert reconcile_runs() == {"skipped": "another reconcile pass is running"}
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
        with exclusive("reconcile") as held:
            assert held
    finally:
        other.close()


def test_the_embedded_stack_takes_the_reconcile_lock_on_a_file(monkeypatch, settings, tmp_path):
    """SQLite has no advisory locks: the embedded stack (one machine) takes an exclusive flock under VAR_DIR, and a
    second pass (here a second open of the lock file, as another worker process would) finds it held."""
    from django.db import connection

    from backend.experiments.lifecycle import exclusive

    monkeypatch.setattr(connection, "vendor", "sqlite")
    settings.VAR_DIR = tmp_path
    with exclusive("reconcile") as held:
        assert held and (tmp_path / "locks" / "reconcile.lock").exists()
        with exclusive("reconcile") as again:
            assert not again
    with exclusive("reconcile") as held:
        assert held
