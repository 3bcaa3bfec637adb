"""How ``make test`` spreads the suite over pytest-xdist's workers (``-n N --dist loadgroup``).

The tests that start a Ray head or a whole stack run in a few *lanes*: all the tests of a lane's modules go to
one worker, in file order, so that a lane starts one Ray head and each module's stack once, and the lanes run
side by side while the other workers take the unit tests one at a time (the biggest lanes are handed out
first). A module in no lane is spread test by test like the unit tests; its live fixtures then start on each
worker that gets one of its tests, which is correct (nothing is shared) but slower.

Why a scheduler of our own: xdist's ``loadgroup`` reads ``@pytest.mark.xdist_group`` by renaming each test's
node id, which pytest 9.2 no longer allows (the rename is lost, and every test is scheduled alone). The lanes
go by module path, which the controller sees without collecting anything; a test that still carries an
``@group`` suffix (a future xdist) keeps its group.
"""
from __future__ import annotations

# Module -> lane. Every module that starts a Ray head or a stack is in ONE lane. Measured on this 2-core machine
# (fresh clones, `.ci/run`): three Ray lanes took 1075 s against 954 s serially while Ray still ran its trainers at
# nice 15, below every unit test (see UNIT_NICENESS); with that fixed, one lane took 1341 s and two lanes with 4
# workers 1323 s for the same 3895 tests - the suite is CPU-bound (both cores busy throughout), so a second lane
# only made each Ray test slower (PBT 116 s -> 254 s, nearer its timeouts) and starved the unit tests. One lane keeps
# the Ray work serial while the unit tests fill the cores beside it. The modules sharing the session's
# ``attack_stack`` (tests/security) stay in it too, so that it is started once.
RAY_LANE = "ray"
LANES = {module: RAY_LANE for module in (
    "tests/integration/test_object_storage.py",
    "tests/integration/test_deepspeed.py",
    "tests/integration/test_spine.py",
    "tests/integration/test_deployments.py",
    "tests/integration/test_evaluations.py",
    "tests/integration/test_recovery.py",
    "tests/integration/test_multinode.py",
    "tests/integration/test_sweep.py",
    "tests/integration/test_reconcile.py",
    "tests/integration/test_lane_priorities.py",
    "tests/integration/test_up.py",
    "tests/integration/test_operating.py",
    "tests/integration/test_production_stack.py",
    "tests/security/test_datasets_belong_to_teams.py",
    "tests/security/test_fair_share.py",
    "tests/security/test_no_code_from_data.py",
    "tests/security/test_no_network_from_spec.py",
    "tests/security/test_path_policy_live.py",
    "tests/security/test_secrets_stay_with_the_service.py",
)}
LANES["tests/e2e/test_browser.py"] = "e2e"  # one Chromium (and one apt-get, if it is missing)


def lane_of(nodeid: str) -> str | None:
    """The lane (or xdist group) of a test by its node id, None for a test scheduled alone."""
    if "@" in nodeid and nodeid.rfind("@") > nodeid.rfind("]"):
        return nodeid.rsplit("@", 1)[1]
    return LANES.get(nodeid.split("::", 1)[0])


# How much the unit tests yield to the lanes. On 2 cores the Ray lane is the suite's critical path (its tests run
# one after another, and each waits on Ray, Celery and the web process), while the unit tests beside it only need
# *some* core time before the lane ends. Ray starts every worker process (a run's trainers included) at nice 15
# (its ``worker_niceness``), so at equal priority the unit tests took nearly all the cores from the lane's trainers
# (weight 1024 against 36): the lane ran far slower beside them than alone. So the test Ray heads run their workers
# at nice 0 (``RAY_WORKER_NICENESS``, set for every Ray a test starts, tests/conftest.py), and a worker lowers its
# own priority (never raises it: no privilege needed) when it first runs a test of no lane; the lane's Ray head,
# stacks and trainers are started by a worker still at normal priority, and keep it.
RAY_WORKER_NICENESS = {"RAY_worker_niceness": "0"}
UNIT_NICENESS = 10


def yield_to_lanes(nodeid: str) -> bool:
    """Lower this process's priority (every thread, and so every process it starts from now on) to
    ``UNIT_NICENESS`` if ``nodeid`` is a test of no lane and this is an xdist worker. True if it did."""
    import os
    from pathlib import Path

    if lane_of(nodeid) is not None or not os.environ.get("PYTEST_XDIST_WORKER"):
        return False
    if os.getpriority(os.PRIO_PROCESS, 0) >= UNIT_NICENESS:
        return False
    for task in Path("/proc/self/task").iterdir():  # Linux sets the priority per thread: every thread of ours
        try:
            os.setpriority(os.PRIO_PROCESS, int(task.name), UNIT_NICENESS)
        except (ProcessLookupError, PermissionError):
            pass
    return True


def make_scheduler(config, log):
    """xdist's LoadGroupScheduling with the lanes as its groups."""
    from xdist.scheduler import LoadGroupScheduling

    class LaneScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return lane_of(nodeid) or nodeid

    return LaneScheduling(config, log)
