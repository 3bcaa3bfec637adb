"""What keeps test processes that run side by side (pytest-xdist's workers gw0, gw1..., or two developers'
suites on one machine) out of each other's way: a Redis database of their own for each live stack, and a Ray
head of their own (``stack_fixtures.ray_head``) sized like ``manage.py up``'s.

PostgreSQL needs nothing here: pytest-django suffixes the test database per worker (``_gw0``) and each live
stack creates a database with a random name (``live.create_database``). Folders come from ``tmp_path`` (xdist
gives every worker its own base temp dir) and ports from ``ports.free_port``.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

# Redis databases the suite may claim: not 0 (a local ``manage.py up``'s and redis-cli's default) nor 10
# (bench/spine_latency.py's). A Redis server has 16 unless configured otherwise.
REDIS_DBS = tuple(n for n in range(1, 16) if n != 10)
CLAIM_KEY = "trainyard-tests:claimed-by"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def worker_name() -> str:
    """This process's xdist worker (``gw0``, ``gw1``...), or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def ray_cpus() -> int:
    """The CPUs a test's Ray head offers (``TRAINYARD_TEST_RAY_CPUS`` to change): the machine's, but at least 4,
    as ``manage.py up``'s head (backend/stack.py). Fewer starve the demo sweep: its two trials need 2 x (0.01 +
    1) CPUs side by side, so on 2 they run one after the other and PBT has no stronger trial to clone the weak
    one from (seen: the PBT test failed on a 2-CPU head, passed on 4). How many heads share the cores is set by
    the lanes (tests/support/lanes.py)."""
    return int(os.environ.get("TRAINYARD_TEST_RAY_CPUS") or max(4, os.cpu_count() or 1))


@dataclass
class RedisClaim:
    """One Redis database held by this process for one stack: ``url`` is its broker URL."""

    url: str
    owner: str

    def release(self) -> None:
        """Empty the database and give it back (only if still ours)."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            for key in client.scan_iter(count=500):
                if key != CLAIM_KEY.encode():
                    client.delete(key)
            client.eval(_RELEASE, 1, CLAIM_KEY, self.owner)
        finally:
            client.close()


def _alive(owner: str) -> bool:
    """Whether the process named by a claim (``host:pid:...``) still runs; another host's is assumed to."""
    host, pid, *_ = owner.split(":") + ["", ""]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def try_claim(url: str, owner: str) -> bool:
    """Claim the Redis database at ``url`` for ``owner`` (``SET NX`` of a key naming the process), taking it
    over from a claimer that is gone, and empty it of what a stack left there. False: someone alive holds it."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        if not client.set(CLAIM_KEY, owner, nx=True):
            holder = (client.get(CLAIM_KEY) or b"").decode()
            if not holder or _alive(holder) or not client.eval(_RELEASE, 1, CLAIM_KEY, holder):
                return False
            if not client.set(CLAIM_KEY, owner, nx=True):
                return False
        for key in client.scan_iter(count=500):
            if key != CLAIM_KEY.encode():
                client.delete(key)
        return True
    finally:
        client.close()


def claim_redis_db(base_url: str, what: str) -> RedisClaim:
    """The first Redis database of ``REDIS_DBS`` that this process can claim (``try_claim``), as its URL."""
    base = base_url.rsplit("/", 1)[0] if base_url.count("/") > 2 else base_url.rstrip("/")
    owner = f"{socket.gethostname()}:{os.getpid()}:{worker_name()}:{what}"
    for db in REDIS_DBS:
        if try_claim(f"{base}/{db}", owner):
            return RedisClaim(f"{base}/{db}", owner)
    raise RuntimeError(f"every Redis database the tests may use ({REDIS_DBS}) at {base} is claimed by a live "
                       f"process: too many suites at once, or raise Redis's `databases`")
