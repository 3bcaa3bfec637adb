"""A sweep end to end: REST API -> Celery -> Ray Job -> Ray Tune (ASHA) -> one TorchTrainer per trial.

Each trial is a run with its own curve; the sweep keeps its best trial; trials the scheduler stopped
are marked early-stopped; cancelling the sweep stops its Ray job and every trial.
"""
import time

import pytest

from tests.support.sweeps import SWEEP_SPEC, TERMINAL, check_pbt_clones
from tests.support.sweeps import wait_for_sweep as _wait

pytestmark = pytest.mark.integration


def test_it_searches_with_asha_and_stores_every_trial(pg_stack):
    t0 = time.monotonic()
    r = pg_stack.api("POST", "/api/sweeps", json={
        "spec_name": SWEEP_SPEC, "dataset": "digits", "name": "asha",
        "cfg_options": {"runner.max_epochs": 3, "checkpoint_config.interval": 1},
        "sweep": {"space": {"optimizer.lr": {"type": "loguniform", "lower": 1e-3, "upper": 0.3},
                            "model.head.loss.label_smooth_val": {"type": "choice", "values": [0.0, 0.1]}},
                  "metric": "accuracy_top-1", "mode": "max", "num_samples": 4,
                  "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
                  "max_concurrent_trials": 2}})
    assert r.status_code == 201, r.text
    sweep_id = r.json()["id"]
    done = _wait(pg_stack, sweep_id, lambda s: s["status"] in TERMINAL, 600, "the sweep to finish")
    assert done["status"] == "succeeded", done["status_reason"]
    trials = pg_stack.api("GET", f"/api/sweeps/{sweep_id}/trials").json()
    driver_log = pg_stack.api("GET", f"/api/sweeps/{sweep_id}/logs").json()["text"][-6000:]
    assert len(trials) == 4, (trials, driver_log)
    assert len({t["trial_id"] for t in trials}) == 4
    for trial in trials:
        assert trial["status"] == "succeeded", (trial["status_reason"], trial, driver_log)
        assert 1e-3 <= trial["trial_params"]["optimizer.lr"] <= 0.3
        points = pg_stack.api("GET", f"/api/runs/{trial['id']}/metrics",
                              params={"name": "accuracy_top-1", "mode": "val"}).json()
        epochs = sorted(p["epoch"] for p in points)
        assert epochs == list(range(1, len(epochs) + 1)), epochs  # each evaluation once, none missing
        # a trial ASHA stopped has fewer evaluations than the schedule, and only such a trial
        assert trial["early_stopped"] == (len(epochs) < 3), (trial, epochs)
        run = pg_stack.api("GET", f"/api/runs/{trial['id']}").json()
        assert run["resolved_spec"]["optimizer"]["lr"] == trial["trial_params"]["optimizer.lr"]
    values = [t["value"] for t in trials]
    assert values == sorted(values, reverse=True)  # best first
    assert done["best_trial"] == trials[0]["id"] and done["best_value"] == values[0]
    print(f"\nsweep: 4 trials, {sum(t['early_stopped'] for t in trials)} stopped early, "
          f"{time.monotonic() - t0:.0f}s")


def test_it_cancels_a_sweep_and_every_trial_with_it(pg_stack):
    from ray.job_submission import JobSubmissionClient

    r = pg_stack.api("POST", "/api/sweeps", json={
        "spec_name": SWEEP_SPEC, "dataset": "digits", "name": "to-cancel",
        "cfg_options": {"runner.max_epochs": 50},
        "sweep": {"space": {"optimizer.lr": {"type": "choice", "values": [0.01, 0.05]}},
                  "metric": "accuracy_top-1", "mode": "max", "num_samples": 2, "max_concurrent_trials": 2}})
    assert r.status_code == 201, r.text
    sweep_id = r.json()["id"]
    _wait(pg_stack, sweep_id, lambda s: s["num_trials"] >= 1, 240, "a trial to start")
    trial = pg_stack.api("GET", f"/api/sweeps/{sweep_id}/trials").json()[0]
    deadline = time.monotonic() + 180
    while not pg_stack.api("GET", f"/api/runs/{trial['id']}/metrics").json():
        assert time.monotonic() < deadline, pg_stack.logs_tail()
        time.sleep(1)
    r = pg_stack.api("POST", f"/api/sweeps/{sweep_id}/cancel")
    assert r.status_code == 202, r.text
    done = _wait(pg_stack, sweep_id, lambda s: s["status"] in TERMINAL, 120, "the cancel to finish")
    assert done["status"] == "cancelled"
    trials = pg_stack.api("GET", f"/api/sweeps/{sweep_id}/trials").json()
    assert trials and all(t["status"] == "cancelled" for t in trials), trials
    env = pg_stack.stack.env
    ray = JobSubmissionClient(env["RAY_ADDRESS"], headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"})
    assert ray.get_job_status(f"sweep-{sweep_id}").value == "STOPPED"


def test_pbt_clones_the_strong_trial_into_the_weak_one(pg_stack):
    """Two trials, one with a good lr and one with a hopeless one: PBT restarts the weak trial on the
    strong one's checkpoint with the strong one's lr (and a perturbed label smoothing)."""
    check_pbt_clones(pg_stack)
