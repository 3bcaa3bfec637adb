"""How long a run takes to get going: POST /api/runs -> Ray job accepted -> first metric point stored.

Starts a Ray head and two stacks (embedded: SQLite + filesystem broker; production-like:
PostgreSQL + Redis), submits the demo spec N times on each, and cancels each run once its first
point is stored. The baseline, measured in the same run on the same Ray head, is a bare Ray Job
(`python -c pass`) from submit to SUCCEEDED: the part of the latency that is Ray's own.

    .venv/bin/python bench/spine_latency.py [--runs 5]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.project.settings")

from backend.stack import Stack  # noqa: E402
from tests.support.live import create_database, drop_database, start_live_stack  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/10"


def ray_client(env):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(env["RAY_ADDRESS"], headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"})


def bare_ray_job(env) -> float:
    c = ray_client(env)
    t0 = time.time()
    sid = c.submit_job(entrypoint=f"{sys.executable} -c pass")
    while c.get_job_status(sid).value not in ("SUCCEEDED", "FAILED", "STOPPED"):
        time.sleep(0.05)
    return time.time() - t0


def one_run(live, env) -> tuple[float, float]:
    c = ray_client(env)
    t0 = time.time()
    run = live.submit(name="latency", cfg_options={"runner.max_epochs": 50})
    accepted = first_point = None
    while first_point is None:
        if accepted is None:
            try:
                accepted = c.get_job_info(run["id"]).start_time / 1000.0 - t0
            except RuntimeError:
                pass
        if live.api("GET", f"/api/runs/{run['id']}/metrics").json():
            first_point = time.time() - t0
        elif time.time() - t0 > 300:
            raise RuntimeError("no metric point within 300 s:\n" + live.logs_tail())
        time.sleep(0.1)
    live.api("POST", f"/api/runs/{run['id']}/cancel")
    live.wait_for(run["id"], lambda r: r["status"] in ("cancelled", "succeeded", "failed"), 120, "cancel")
    return accepted, first_point


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="trainyard-bench-"))
    ray = Stack(var_dir=root / "ray")
    ray.start_ray(dashboard_port=free_port(), num_cpus=4)
    env = {k: ray.env[k] for k in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    env["RAY_AUTH_TOKEN"] = ray.ray_auth_token  # the bench's own Jobs API client; the head reads the file
    db_url = create_database(PG_URL)
    results = {}
    try:
        baseline = statistics.median(bare_ray_job(env) for _ in range(args.runs))
        for label, extra in [("embedded (SQLite + filesystem broker)", {}),
                             ("PostgreSQL + Redis", {"DATABASE_URL": db_url, "CELERY_BROKER_URL": REDIS_URL})]:
            live = start_live_stack(root / label.split()[0], env, extra)
            try:
                one_run(live, env)  # warm-up: first imports, first Ray Train start
                samples = [one_run(live, env) for _ in range(args.runs)]
            finally:
                live.stack.stop()
            results[label] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))
    finally:
        ray.stop()
        drop_database(PG_URL, db_url)
    print(f"\nbaseline: bare Ray job submit -> SUCCEEDED, median of {args.runs}: {baseline:.2f} s")
    for label, (acc, first) in results.items():
        print(f"{label}: POST -> Ray job accepted {acc:.2f} s; POST -> first metric point {first:.2f} s "
              f"({first / baseline:.1f}x the bare Ray job)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
