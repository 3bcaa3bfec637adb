"""A train worker killed mid-run: Ray Train restarts the group, the engine resumes from the latest
checkpoint, and the stored curve has every step once."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.live import ONE_WORKER

pytestmark = pytest.mark.integration


def _train_worker_pids(run_id: str) -> list[int]:
    """The Ray Train workers of this run only (other stacks' tests may train beside it on the machine)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    pids = [int(line.split()[0]) for line in out.splitlines() if "RayTrainWorker" in line]
    return [pid for pid in pids if f"TRAINYARD_RUN_ID={run_id}".encode() in _environ(pid).split(b"\0")]


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or not ours to read
        return b""


def test_it_survives_a_killed_train_worker_and_stores_each_step_once(embedded_stack):
    live = embedded_stack
    run = live.submit(name="kill-a-worker", resources={"max_failures": 2},
                      cfg_options={"runner.max_epochs": 6, "checkpoint_config.interval": 1})
    # wait until the second epoch's checkpoint exists, then kill a worker in the middle of training
    deadline = time.monotonic() + 300
    while len(live.api("GET", f"/api/runs/{run['id']}/checkpoints").json()) < 2:
        assert time.monotonic() < deadline, live.logs_tail()
        time.sleep(0.3)
    pids = _train_worker_pids(run["id"])
    assert pids, "no Ray Train worker process found"
    os.kill(pids[-1], signal.SIGKILL)
    killed_at = time.monotonic()

    done = live.wait_for(run["id"], lambda r: r["status"] in ("succeeded", "failed", "cancelled"), 400, "the run")
    assert done["status"] == "succeeded", done["status_reason"] + live.logs_tail()
    points = live.api("GET", f"/api/runs/{run['id']}/metrics").json()
    loss = [(p["epoch"], p["step"]) for p in points if p["name"] == "loss"]
    assert len(loss) == len({step for _, step in loss})  # the replayed steps were stored once
    val = {p["epoch"]: p["step"] for p in points if p["name"] == "accuracy_top-1"}
    assert sorted(val) == [1, 2, 3, 4, 5, 6]
    per_epoch = val[1]  # iterations in one epoch
    first = [step for epoch, step in loss if epoch == 1]
    expected = {step + (e - 1) * per_epoch for step in first for e in range(1, 7)}
    assert {step for _, step in loss} == expected  # no gap: every epoch has all its points
    logs = " ".join(line["text"] for line in live.api("GET", f"/api/runs/{run['id']}/logs").json())
    assert "resumed epoch" in logs
    print(f"\nrecovery: killed -> succeeded in {time.monotonic() - killed_at:.1f}s")


def test_it_loses_nothing_while_the_backend_is_down(embedded_stack):
    """The reporter spools batches while the web server is gone and re-sends them when it is back."""
    live = embedded_stack
    run = live.submit(name="backend-outage", resources=ONE_WORKER, cfg_options={"runner.max_epochs": 3})
    deadline = time.monotonic() + 300
    while not live.api("GET", f"/api/runs/{run['id']}/metrics").json():
        assert time.monotonic() < deadline, live.logs_tail()
        time.sleep(0.3)
    port = int(live.url.rsplit(":", 1)[1])
    live.stack.stop_process("web")
    time.sleep(15)  # training goes on; batches pile up in the spool
    live.stack.start_web(port=port)
    done = live.wait_for(run["id"], lambda r: r["status"] in ("succeeded", "failed", "cancelled"), 300, "the run")
    assert done["status"] == "succeeded", done["status_reason"]
    points = live.api("GET", f"/api/runs/{run['id']}/metrics").json()
    val = {p["epoch"]: p["step"] for p in points if p["name"] == "accuracy_top-1"}
    assert sorted(val) == [1, 2, 3]
    loss = [(p["epoch"], p["step"]) for p in points if p["name"] == "loss"]
    first = [step for epoch, step in loss if epoch == 1]
    assert {step for _, step in loss} == {s + (e - 1) * val[1] for s in first for e in (1, 2, 3)}
    logs = [line["text"] for line in live.api("GET", f"/api/runs/{run['id']}/logs").json()]
    assert logs[-1] == "[trainyard] run finished"
    assert len(logs) == len(set(logs))  # log lines carry timestamps: a duplicate would show


def _driver_pids(run_id: str) -> list[int]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()
            if "workers.distributed.launch" in line and run_id in line and "/bin/sh" not in line]


def test_it_resubmits_a_run_whose_driver_was_killed_and_resumes_it(embedded_stack):
    live = embedded_stack
    run = live.submit(name="kill-the-driver", resources={**ONE_WORKER, "max_failures": 1},
                      cfg_options={"runner.max_epochs": 4, "checkpoint_config.interval": 1})
    deadline = time.monotonic() + 300
    while not live.api("GET", f"/api/runs/{run['id']}/checkpoints").json():
        assert time.monotonic() < deadline, live.logs_tail()
        time.sleep(0.3)
    pids = _driver_pids(run["id"])
    assert pids, "no driver process found"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    done = live.wait_for(run["id"], lambda r: r["status"] in ("succeeded", "failed", "cancelled"), 400, "the run")
    assert done["status"] == "succeeded", done["status_reason"] + live.logs_tail()
    steps = [e["to_status"] for e in done["events"]]
    assert steps == ["dispatching", "running", "dispatching", "running", "succeeded"], done["events"]
    assert done["events"][2]["reason"].startswith("retry 1 of 1: ")
    points = live.api("GET", f"/api/runs/{run['id']}/metrics").json()
    assert sorted(p["epoch"] for p in points if p["name"] == "accuracy_top-1") == [1, 2, 3, 4]
    logs = " ".join(line["text"] for line in live.api("GET", f"/api/runs/{run['id']}/logs").json())
    assert "resumed epoch" in logs
