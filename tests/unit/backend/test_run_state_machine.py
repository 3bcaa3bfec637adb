import pytest

from backend.experiments.models import TERMINAL, TRANSITIONS, InvalidTransition, RunStatus


def test_it_walks_the_happy_path_and_records_each_step(cast):
    run = cast.make_run()
    for status in ("dispatching", "running", "succeeded"):
        assert run.transition(status)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.dispatched_at <= run.started_at <= run.finished_at
    assert [e.to_status for e in run.events.all()] == ["dispatching", "running", "succeeded"]


def test_it_refuses_to_leave_an_end_state(cast):
    run = cast.make_run(status=RunStatus.CANCELLED)
    with pytest.raises(InvalidTransition, match="A cancelled run cannot become running"):
        run.transition(RunStatus.RUNNING)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.events.count() == 0


def test_it_cannot_skip_dispatch_from_the_queue(cast):
    run = cast.make_run()
    with pytest.raises(InvalidTransition):
        run.transition(RunStatus.RUNNING)


def test_it_treats_a_repeated_status_as_no_change(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    assert run.transition(RunStatus.RUNNING) is False
    assert run.events.count() == 0


def test_every_state_can_reach_an_end_state_and_end_states_are_final():
    for status in RunStatus.values:
        if status in TERMINAL:
            assert TRANSITIONS[status] == frozenset()
        else:
            assert TRANSITIONS[status] & TERMINAL
