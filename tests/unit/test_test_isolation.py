"""The suite's isolation of parallel workers (tests/support/isolation.py), on the real Redis: two live stacks
never get the same Redis database, and a database left by a process that died is emptied and reused; and
their distribution: every module of live tests runs in a lane (tests/support/lanes.py)."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.isolation import CLAIM_KEY, REDIS_DBS, claim_redis_db, ray_cpus, try_claim
from tests.support.lanes import LANES, lane_of
from tests.support.stack_fixtures import LIVE_FIXTURES, REDIS_URL, require_service


@pytest.fixture
def claims():
    """Claims made by a test, released at its end (emptied, and free for the next stack)."""
    require_service(REDIS_URL, 6379, "Redis")
    made = []
    yield made
    for claim in made:
        claim.release()


def test_two_claims_get_two_databases_and_a_released_one_is_empty_and_free(claims):
    import redis

    first, second = claim_redis_db(REDIS_URL, "first"), claim_redis_db(REDIS_URL, "second")
    claims += [first, second]
    assert first.url != second.url
    assert {int(u.rsplit("/", 1)[1]) for u in (first.url, second.url)} <= set(REDIS_DBS)
    assert not try_claim(first.url, "someone:else")  # held by this live process
    client = redis.Redis.from_url(first.url)
    client.rpush("celery", "a task")
    first.release()
    assert client.dbsize() == 0  # neither the queue nor the claim is left
    assert try_claim(first.url, first.owner)  # free again
    client.close()


def test_a_database_whose_claimer_died_is_taken_over_and_emptied(claims):
    import redis

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    victim = claim_redis_db(REDIS_URL, "victim")
    claims.append(victim)
    client = redis.Redis.from_url(victim.url)
    client.set(CLAIM_KEY, f"{socket.gethostname()}:{dead}:gw9:stack")  # a stack whose pytest was killed
    client.rpush("celery", "a stale task")

    assert try_claim(victim.url, victim.owner)
    assert client.lrange("celery", 0, -1) == [] and client.get(CLAIM_KEY).decode() == victim.owner
    client.close()


def test_a_test_ray_head_offers_what_manage_py_up_offers(monkeypatch):
    monkeypatch.delenv("TRAINYARD_TEST_RAY_CPUS", raising=False)
    assert ray_cpus() == max(4, os.cpu_count())  # the demo sweep's two trials need more than 2 (isolation.py)
    monkeypatch.setenv("TRAINYARD_TEST_RAY_CPUS", "6")
    assert ray_cpus() == 6


def test_every_module_with_live_tests_runs_in_a_lane():
    """A module naming a live fixture outside the lanes would start a Ray head on each worker that gets one of
    its tests (tests/support/lanes.py)."""
    root = Path(__file__).resolve().parents[2]
    live = re.compile(r"\b(" + "|".join(sorted(LIVE_FIXTURES)) + r")\b")
    modules = {p.relative_to(root).as_posix() for folder in ("integration", "security", "e2e")
               for p in (root / "tests" / folder).glob("test_*.py")
               if folder != "security" or live.search(p.read_text(encoding="utf-8"))}
    assert modules - set(LANES) == set()
    assert {m for m in LANES if not (root / m).is_file()} == set()
    assert lane_of("tests/integration/test_sweep.py::test_x[a]") == LANES["tests/integration/test_sweep.py"]
    assert lane_of("tests/unit/test_x.py::test_y@mine") == "mine" and lane_of("tests/unit/test_x.py::t") is None


def test_a_worker_running_a_unit_test_yields_the_cores_to_the_lanes():
    """On an xdist worker a unit test lowers the worker's priority (all its threads, and what it starts later)
    below the Ray lane's; a lane's test, or a run without xdist, leaves it as it is."""
    probe = (
        "import os, sys, threading, time\n"
        "from tests.support.lanes import UNIT_NICENESS, yield_to_lanes\n"
        "stop = threading.Event(); threading.Thread(target=stop.wait, daemon=True).start()\n"
        "print(yield_to_lanes(sys.argv[1]))\n"
        "print(sorted({os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir('/proc/self/task')}))\n"
        "print(int(os.popen('ps -o nice= -p $$').read()))\n"  # a child started after it
    )
    root = Path(__file__).resolve().parents[2]

    def run(nodeid: str, worker: str | None) -> list[str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
        if worker:
            env["PYTEST_XDIST_WORKER"] = worker
        done = subprocess.run([sys.executable, "-c", probe, nodeid], cwd=root, env=env, capture_output=True,
                              text=True, check=True)
        return done.stdout.split("\n")[:3]

    base = os.getpriority(os.PRIO_PROCESS, 0)
    lowered = max(base, 10)  # this test itself may run on a worker that has yielded already
    assert run("tests/unit/test_x.py::test_y", "gw1") == [str(base < 10), f"[{lowered}]", str(lowered)]
    assert run("tests/integration/test_sweep.py::test_x", "gw0") == ["False", f"[{base}]", str(base)]
    assert run("tests/unit/test_x.py::test_y", None) == ["False", f"[{base}]", str(base)]
