"""Fixtures every test folder can use, and the markers the suite is selected and distributed by.

Markers (``pytest -m``): ``integration`` on every test of ``tests/integration`` and every test that uses a live
fixture (a Ray head or a whole stack: ``stack_fixtures.LIVE_FIXTURES``); ``e2e`` on the browser tests of
``tests/e2e``. ``make test-fast`` runs the rest.

Distribution (``pytest -n N --dist loadgroup``): the live tests run in lanes, one worker and one Ray head each,
beside the unit tests, which yield the cores to them (``tests/support/lanes.py``).
"""
import os
from pathlib import Path

import pytest

from tests.support.lanes import RAY_WORKER_NICENESS

# every Ray a test starts (its head, a simulated cluster's nodes) runs its workers at normal priority, as the lanes
# need (tests/support/lanes.py); a production Ray keeps its own default
os.environ.update(RAY_WORKER_NICENESS)
# one OpenMP thread in every test process and what it starts: on a busy 2-core machine OpenMP's spinning threads make
# a two-thread run several times slower than a one-thread one (measured: 4 s against 40 s an epoch of the demo)
os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest_plugins = ["tests.support.s3", "tests.support.stack_fixtures"]  # s3_server; ray_head, pg_stack, ...

TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    from tests.support.stack_fixtures import LIVE_FIXTURES  # imported here: a plugin, so pytest rewrites it

    for item in items:
        module = Path(str(item.fspath)).resolve().relative_to(TESTS).as_posix()
        if module.startswith("e2e/"):
            item.add_marker(pytest.mark.e2e)
        if module.startswith("integration/") or LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory) -> Path:
    """A data root holding ``data/digits/{train,val}`` (the demo's layout: scikit-learn's digits as PNGs)."""
    from workers.data.demo import write_digits_dataset

    root = tmp_path_factory.mktemp("digits-root")
    write_digits_dataset(root / "data" / "digits")
    return root


def pytest_runtest_setup(item):
    from tests.support.lanes import yield_to_lanes

    yield_to_lanes(item.nodeid)  # a unit test on an xdist worker runs at a lower priority than the lanes


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup":
        from tests.support.lanes import make_scheduler

        return make_scheduler(config, log)
    return None
