"""Entrypoint of a deployment's Ray jobs: ``python -m workers.serve.launch deploy JOB.json`` starts its Ray
Serve application and returns once Serve reports it healthy; ``... delete APP`` removes one.

A Serve application outlives the job that started it (Serve's controller is detached): the job ends, the
application keeps answering, and the backend follows it through the dashboard's Serve API (``reconcile``).
The job file (``backend/deployments/jobfiles.py``) names the checkpoint by its key on the storage;
``TRAINYARD_DEPLOYMENT_KEY`` (environment) is the key the web process sends with each request.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

__all__ = ["main", "read_job"]


def read_job(job_key: str) -> dict:
    """The job file at ``job_key`` on ``$TRAINYARD_STORAGE``, with the storage location added."""
    from workers.storage import open_storage

    storage = open_storage()
    job = json.loads(storage.read_text(job_key))
    folder = job_key.rsplit("/", 1)[0]
    if not job["checkpoint_key"].startswith("runs/"):
        raise ValueError(f"the checkpoint {job['checkpoint_key']!r} is not in a run's folder")
    job.update(storage=os.environ["TRAINYARD_STORAGE"], folder=folder)
    return job


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_serve() -> None:
    """Start Serve's proxy if it is not running (a port of its own on the head: ``TRAINYARD_SERVE_PORT``, or a
    free one when that is 0); a running Serve keeps its port."""
    from ray import serve

    try:
        serve.context._connect(raise_if_no_controller_running=True)  # noqa: SLF001 - Serve's own check
        return
    except Exception:  # no controller yet
        pass
    port = int(os.environ.get("TRAINYARD_SERVE_PORT") or 0) or _free_port()
    host = os.environ.get("TRAINYARD_SERVE_HOST") or "127.0.0.1"
    serve.start(http_options={"host": host, "port": port})


def deploy(job_key: str) -> int:
    import ray
    from ray import serve

    from workers.serve.app import build_app

    job = read_job(job_key)
    key = os.environ.get("TRAINYARD_DEPLOYMENT_KEY", "")
    if not key:
        raise SystemExit("TRAINYARD_DEPLOYMENT_KEY is not set")
    ray.init(address="auto", log_to_driver=True)
    _start_serve()
    print(f"[trainyard] deploying {job['app_name']} at {job['route_prefix']} ({job['runtime']}, "
          f"{job['replicas']} replica(s))", flush=True)
    serve.run(build_app(job, key), name=job["app_name"], route_prefix=job["route_prefix"], blocking=False)
    print(f"[trainyard] {job['app_name']} is running", flush=True)
    return 0


def delete(app_name: str) -> int:
    import ray
    from ray import serve

    if not app_name.startswith("trainyard-"):
        raise SystemExit(f"not a Trainyard application: {app_name}")
    ray.init(address="auto")
    serve.delete(app_name, _blocking=True)
    print(f"[trainyard] deleted {app_name}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.serve.launch")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("deploy").add_argument("job", help="the job file's key on TRAINYARD_STORAGE")
    sub.add_parser("delete").add_argument("app", help="the Serve application's name")
    args = parser.parse_args(argv)
    return deploy(args.job) if args.command == "deploy" else delete(args.app)


if __name__ == "__main__":
    sys.exit(main())
