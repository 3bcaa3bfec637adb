"""An evaluation end to end: REST API -> Celery -> Ray Job -> 2 Ray workers, each scoring a shard -> every
prediction stored once, in dataset order -> metrics equal to ``trainyard test``'s on the same checkpoint. And the
leaderboard's verify flow on the demo spec's row: one more evaluation (one worker) re-scores the row's checkpoint on
the val split, and the row shows "verified" with the re-scored top-1 beside the reported one.

The session's PostgreSQL stack and its trained demo run (tests/support/stack_fixtures.py), two evaluations: the
suite stays fast.
"""
import json
import time

import numpy as np
import pytest

pytestmark = pytest.mark.integration

TERMINAL = {"succeeded", "failed", "cancelled"}
METRICS = ["accuracy", "precision", "recall", "f1_score", "support"]
OPTIONS = {"topk": [1, 3]}


def _wait(live, url: str, timeout: float, what: str) -> dict:
    deadline, obj = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        obj = live.api("GET", url).json()
        if obj.get("status") in TERMINAL:
            return obj
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {obj.get('status')} {obj.get('status_reason')}\n"
                         + live.logs_tail())


@pytest.fixture(scope="module")
def trained(trained_demo_run) -> tuple[dict, dict]:
    """A finished run of the demo spec and its last checkpoint (stack_fixtures.trained_demo_run)."""
    return trained_demo_run


def test_it_scores_a_checkpoint_with_two_workers_as_trainyard_test_does(pg_stack, trained, tmp_path):
    from jobspecs.contract import Job
    from workers.tools.test import score_checkpoint

    live = pg_stack
    _run, ckpt = trained

    t0 = time.monotonic()
    r = live.api("POST", "/api/evaluations", json={"checkpoint": ckpt["id"], "split": "test", "num_workers": 2,
                                                   "metrics": METRICS, "metric_options": OPTIONS})
    assert r.status_code == 201, r.text
    evaluation = _wait(live, f"/api/evaluations/{r.json()['id']}", 300, "the evaluation to finish")
    assert evaluation["status"] == "succeeded", evaluation["status_reason"] + "\n" + live.logs_tail()
    steps = [e["to_status"] for e in evaluation["events"]]
    assert steps[0] == "dispatching" and steps[-1] == "succeeded"
    print(f"\nevaluation: submit -> succeeded in {time.monotonic() - t0:.1f}s, "
          f"scoring {evaluation['scoring_seconds']:.1f}s with 2 workers")

    # every sample scored once, in dataset order, by two shards
    storage = live.stack.var_dir / "storage"
    folder = storage / "evaluations" / evaluation["id"]
    with np.load(folder / "predictions.npz", allow_pickle=False) as npz:
        scores, labels, index = npz["scores"], npz["labels"], npz["index"]
    result = json.loads((folder / "result.json").read_text())
    assert len(result["shards"]) == 2 and all(stop > start for start, stop in result["shards"])
    assert index.tolist() == list(range(len(index))) == list(range(evaluation["num_samples"]))
    assert len(result["files"]) == len(index) and all(f.startswith("val/") for f in result["files"])  # galleries

    # trainyard test on the same checkpoint and split, with the spec as the service's worker reads it
    job = Job.from_json(json.loads((folder / "job.json").read_text()))
    spec = job.worker_spec(data_root=storage / job.data_key, run_root=tmp_path)
    blob = live.api("GET", ckpt["download_url"])
    (tmp_path / "ckpt.pth").write_bytes(blob.content)
    expected = score_checkpoint(spec, tmp_path / "ckpt.pth", metrics=METRICS,
                                metric_options={"topk": (1, 3)}, out_items=["class_scores"])
    assert len(expected["class_scores"]) == len(index)
    assert np.allclose(expected["class_scores"], scores, atol=1e-5)
    for name, value in evaluation["results"].items():
        assert value == pytest.approx(float(expected[name]), abs=1e-4), name
    assert set(evaluation["results"]) == {k for k in expected if k != "class_scores"}

    # the stored predictions re-scored without the model
    again = live.api("GET", f"/api/evaluations/{evaluation['id']}/analysis",
                     params={"metrics": "accuracy", "metric_options": "topk=1"}).json()
    assert again["metrics"] == {"accuracy": pytest.approx(evaluation["results"]["accuracy_top-1"])}
    assert sum(map(sum, again["confusion_matrix"]["rows"])) == len(labels)


DEMO_SPEC = "demo/resnet18-tiny_2xb32-6e_digits.py"


def _row(live, run_id: str, **params) -> dict | None:
    rows = live.api("GET", "/api/leaderboard", params={"dataset": "digits", **params}).json()["results"]
    return next((r for r in rows if r["run_id"] == run_id), None)


def test_it_verifies_the_runs_leaderboard_row_on_the_val_split(pg_stack, trained):
    live = pg_stack
    # The row of the demo spec on the digits: the best of its runs on this stack (the shared stack holds other
    # tests' runs of it too; the trained run is one of them). That row's run is the one verified.
    rows = live.api("GET", "/api/leaderboard", params={"dataset": "digits", "q": DEMO_SPEC}).json()["results"]
    row = next(r for r in rows if r["spec"] == DEMO_SPEC and not r["reference"] and r["params"] is None)
    run = live.api("GET", f"/api/runs/{row['run_id']}").json()
    assert row["top1"] is not None and row["verification"] is None, row
    assert run["status"] == "succeeded" and run["spec_name"] == DEMO_SPEC, run
    assert _row(live, run["id"], verified="1") is None

    t0 = time.monotonic()
    r = live.api("POST", "/api/leaderboard/verify", json={"run": run["id"], "num_workers": 1})
    assert r.status_code == 201, r.text
    assert _row(live, run["id"])["verification"]["status"] in ("pending", "verified")
    evaluation = _wait(live, f"/api/evaluations/{r.json()['id']}", 300, "the verification to finish")
    assert evaluation["status"] == "succeeded", evaluation["status_reason"] + "\n" + live.logs_tail()
    assert (evaluation["split"], evaluation["verifies"]) == ("val", run["id"])
    checkpoints = {c["id"]: c for c in live.api("GET", f"/api/runs/{run['id']}/checkpoints").json()}
    assert evaluation["checkpoint"] in checkpoints  # the run's own, the one whose top-1 it reported
    print(f"\nverification: submit -> succeeded in {time.monotonic() - t0:.1f}s "
          f"(scoring {evaluation['scoring_seconds']:.1f}s, 1 worker)")

    v = _row(live, run["id"])["verification"]
    assert v["status"] == "verified" and not v["mismatch"], v
    assert v["evaluation_id"] == evaluation["id"] and v["reported"] == pytest.approx(row["top1"])
    top1 = next(k for k in evaluation["results"] if k.endswith("top-1"))
    assert v["rescored"] == pytest.approx(evaluation["results"][top1])
    assert abs(v["rescored"] - v["reported"]) <= v["tolerance"]
    assert _row(live, run["id"], verified="1")["verification"]["status"] == "verified"
