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
