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

# Module -> lane. Balanced by the durations of a full run (``--durations``); the modules sharing the session's
# ``attack_stack`` (tests/security) stay in one lane so that it is started once.
LANES = {
    # measured (s, 4 workers, a loaded machine): ~600
    "tests/integration/test_object_storage.py": "ray-a",
    "tests/integration/test_deepspeed.py": "ray-a",
    # ~660
    "tests/integration/test_spine.py": "ray-b",
    "tests/integration/test_recovery.py": "ray-b",
    "tests/integration/test_multinode.py": "ray-b",
    # ~690
    "tests/integration/test_sweep.py": "ray-c",
    "tests/integration/test_reconcile.py": "ray-c",
    "tests/integration/test_up.py": "ray-c",
    "tests/security/test_datasets_belong_to_teams.py": "ray-c",
    "tests/security/test_fair_share.py": "ray-c",
    "tests/security/test_no_code_from_data.py": "ray-c",
    "tests/security/test_no_network_from_spec.py": "ray-c",
    "tests/security/test_path_policy_live.py": "ray-c",
    "tests/security/test_secrets_stay_with_the_service.py": "ray-c",
    "tests/e2e/test_browser.py": "e2e",  # one Chromium (and one apt-get, if it is missing)
}


def lane_of(nodeid: str) -> str | None:
    """The lane (or xdist group) of a test by its node id, None for a test scheduled alone."""
    if "@" in nodeid and nodeid.rfind("@") > nodeid.rfind("]"):
        return nodeid.rsplit("@", 1)[1]
    return LANES.get(nodeid.split("::", 1)[0])


def make_scheduler(config, log):
    """xdist's LoadGroupScheduling with the lanes as its groups."""
    from xdist.scheduler import LoadGroupScheduling

    class LaneScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return lane_of(nodeid) or nodeid

    return LaneScheduling(config, log)
