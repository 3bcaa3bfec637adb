"""``MlflowLoggerHook`` and ``WandbLoggerHook`` in ``log_config.hooks``: offline by default, under the run's work
dir; the test reads back what each wrote (MLflow's file store, W&B's offline run file). A spec that turns W&B
online is refused by the path policy."""

from __future__ import annotations

import json

import pytest

from jobspecs import load_text
from jobspecs import paths as path_policy
from tests.support.specs import tiny_spec
from tests.support.wandb_files import history, run_file
from workers.engine import train
from workers.engine.logger_hooks import WandbLoggerHook


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, tiny_root):
    work_dir = tmp_path_factory.mktemp("loggers") / "work"
    spec = tiny_spec(max_epochs=2)
    spec["log_config"]["hooks"] = [
        {"type": "TextLoggerHook"},
        {"type": "MlflowLoggerHook", "exp_name": "tiny", "params": {"lr": 0.1}, "tags": {"team": "a"}},
        {"type": "WandbLoggerHook", "init_kwargs": {"project": "tiny", "name": "r1"}},
    ]
    train(spec, work_dir, data_root=tiny_root, console=False)
    records = [json.loads(line) for line in next(work_dir.glob("*.log.json")).read_text().splitlines()]
    return work_dir, records


def _mlflow_metric(run_dir, name: str) -> list[tuple[int, float]]:
    lines = (run_dir / "metrics" / name).read_text().split("\n")
    return [(int(step), float(value)) for _, value, step in (line.split() for line in lines if line)]


def test_mlflow_keeps_the_runs_numbers_params_and_checkpoint_in_a_file_store_under_the_work_dir(logged_run):
    work_dir, records = logged_run
    (experiment,) = [p for p in (work_dir / "mlruns").iterdir() if p.name not in (".trash", "models")]
    assert "name: tiny" in (experiment / "meta.yaml").read_text()
    (run_dir,) = [p for p in experiment.iterdir() if p.is_dir()]
    losses = [r["loss"] for r in records if r["mode"] == "train"]
    assert [value for _, value in _mlflow_metric(run_dir, "train/loss")] == pytest.approx(losses)
    assert [step for step, _ in _mlflow_metric(run_dir, "train/loss")] == [1, 2, 3, 4, 5, 6]
    val = [r["accuracy_top-1"] for r in records if r["mode"] == "val"]
    assert _mlflow_metric(run_dir, "val/accuracy_top-1") == [(3, pytest.approx(val[0])), (6, pytest.approx(val[1]))]
    assert (run_dir / "params" / "lr").read_text() == "0.1"
    assert (run_dir / "tags" / "team").read_text() == "a"
    assert (run_dir / "artifacts" / "models" / "epoch_2.pth").stat().st_size > 0
    assert "status: 3" in (run_dir / "meta.yaml").read_text()  # FINISHED


def test_wandb_writes_an_offline_run_with_one_row_per_logged_iteration(logged_run):
    work_dir, records = logged_run
    rows = history(run_file(work_dir))
    assert [row["_step"] for row in rows] == [1, 2, 3, 4, 5, 6]
    losses = [r["loss"] for r in records if r["mode"] == "train"]
    assert [row["train/loss"] for row in rows] == pytest.approx(losses)
    val = [r["accuracy_top-1"] for r in records if r["mode"] == "val"]
    assert [row.get("val/accuracy_top-1") for row in rows] == [None, None, val[0], None, None, val[1]]
    assert all("learning_rate" in row for row in rows)


def test_wandb_refuses_to_write_outside_the_work_dir():
    with pytest.raises(ValueError, match="writes under the run's work dir; remove init_kwargs.dir"):
        WandbLoggerHook(init_kwargs={"dir": "/tmp/elsewhere"})


def test_a_submitted_spec_may_not_turn_wandb_online():
    spec, positions = load_text(
        "log_config = dict(interval=10, hooks=[\n"
        "    dict(type='WandbLoggerHook', init_kwargs=dict(project='p', mode='online'))])\n", "spec.py", positions=True)
    errors, _ = path_policy.check(spec, positions)
    assert [str(e) for e in errors] == [
        "spec.py:2:69: WandbLoggerHook mode 'online' sends the run's metrics over the network; a spec may not — "
        "leave mode='offline': the run is kept in its folder for `wandb sync`"]
    offline = load_text("log_config = dict(hooks=[dict(type='WandbLoggerHook', init_kwargs=dict(project='p'))])")
    assert path_policy.check(offline)[0] == []
