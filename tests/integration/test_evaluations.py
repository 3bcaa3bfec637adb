"""An evaluation end to end: REST API -> Celery -> Ray Job -> 2 Ray workers, each scoring a shard -> every
prediction stored once, in dataset order -> metrics equal to ``trainyard test``'s on the same checkpoint. And the
leaderboard's verify flow on the same run: one more evaluation (one worker) re-scores the row's checkpoint on the
val split, and the row shows "verified" with the re-scored top-1 beside the reported one.

One stack, one one-epoch run (a module fixture both tests share), two evaluations: the suite stays fast.
"""
import json
import time

import numpy as np
import pytest

from tests.support.live import ONE_WORKER
from tests.support.stack_fixtures import pg_live_stack

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
def eval_stack(ray_head, tmp_path_factory):
    """A PostgreSQL stack of this module's own: the leaderboard shows the best run of each spec, so the verify test
    needs a database holding no other run of the demo spec (the session's pg_stack holds the spine's)."""
    with pg_live_stack(tmp_path_factory.mktemp("evaluations"), ray_head, what="eval_stack") as live:
        yield live


@pytest.fixture(scope="module")
def trained(eval_stack) -> tuple[dict, dict]:
    """One finished one-epoch run of the demo spec and its last checkpoint (the module's tests share them)."""
    live = eval_stack
    run = live.submit(name="to-evaluate", resources=ONE_WORKER, cfg_options={"runner.max_epochs": 1})
    done = live.wait_for(run["id"], lambda r: r["status"] in TERMINAL, 300, "the run to finish")
    assert done["status"] == "succeeded", done["status_reason"] + "\n" + live.logs_tail()
    return done, live.api("GET", f"/api/runs/{run['id']}/checkpoints").json()[-1]


def test_it_scores_a_checkpoint_with_two_workers_as_trainyard_test_does(eval_stack, trained, tmp_path):
    from jobspecs.contract import Job
    from workers.tools.test import score_checkpoint

    live = eval_stack
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


def _row(live, run_id: str, **params) -> dict | None:
    rows = live.api("GET", "/api/leaderboard", params={"dataset": "digits", **params}).json()["results"]
    return next((r for r in rows if r["run_id"] == run_id), None)


def test_it_verifies_the_runs_leaderboard_row_on_the_val_split(eval_stack, trained):
    live = eval_stack
    run, _ckpt = trained
    row = _row(live, run["id"])
    assert row is not None and row["top1"] is not None and row["verification"] is None, row
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
