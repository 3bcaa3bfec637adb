"""Runtime settings (seed 10): lr / momentum per iteration inside a real run, IterBasedRunner, the
('val', 1) workflow, checkpoint out_dir, TensorBoard, custom hook priority, fp16 on CPU."""

from __future__ import annotations

import json

import pytest
import torch

from tests.support.specs import tiny_spec
from workers.engine import Hook, build_lr_schedule, build_momentum_schedule, load_checkpoint, train
from workers.registry import HOOKS


def _json_log(work_dir) -> list[dict]:
    records = []
    for path in sorted(work_dir.glob("*.log.json")):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


def test_it_sets_the_schedules_lr_and_momentum_at_every_iteration(tiny_root, tmp_path):
    lr_config = {"policy": "cyclic", "target_ratio": (10, 1e-4), "cyclic_times": 1, "step_ratio_up": 0.4}
    momentum_config = {"policy": "cyclic", "target_ratio": (0.85 / 0.95, 1), "cyclic_times": 1,
                       "step_ratio_up": 0.4}
    spec = tiny_spec(max_epochs=2, lr_config=lr_config, momentum_config=momentum_config, evaluation=None)
    spec["optimizer"] = {"type": "SGD", "lr": 0.01, "momentum": 0.95}

    train(spec, tmp_path, data_root=tiny_root, seed=0, validate=False, console=False)

    records = [r for r in _json_log(tmp_path) if r["mode"] == "train"]
    lr, momentum = build_lr_schedule(lr_config), build_momentum_schedule(momentum_config)
    # 12 images, 4 a batch: 3 iterations an epoch, 6 in all
    expected_lr = [lr.lr_at(0.01, epoch=i // 3, iteration=i, max_epochs=2, epoch_len=3) for i in range(6)]
    expected_m = [momentum.momentum_at(0.95, epoch=i // 3, iteration=i, max_epochs=2, epoch_len=3) for i in range(6)]
    assert [r["lr"] for r in records] == pytest.approx(expected_lr)
    assert [r["momentum"] for r in records] == pytest.approx(expected_m)
    assert expected_lr[2] == pytest.approx(0.1)  # the peak: up for int(0.4 * 6) = 2 iterations


def test_it_runs_by_iteration_with_checkpoints_and_evaluation(tiny_root, tmp_path):
    spec = tiny_spec(runner={"type": "IterBasedRunner", "max_iters": 5},
                     checkpoint_config={"by_epoch": False, "interval": 2, "max_keep_ckpts": 1},
                     evaluation={"interval": 2, "metric": "accuracy", "save_best": "auto"},
                     lr_config={"policy": "step", "step": [4], "by_epoch": False})

    best = train(spec, tmp_path, data_root=tiny_root, seed=0, console=False)

    names = sorted(p.name for p in tmp_path.glob("*.pth"))
    assert "iter_5.pth" in names and "iter_4.pth" in names and "iter_2.pth" not in names
    assert any(name.startswith("best_accuracy_top-1_iter_") for name in names)
    assert load_checkpoint(tmp_path / "latest.pth")["meta"]["iter"] == 5
    records = _json_log(tmp_path)
    assert [r["iter"] for r in records if r["mode"] == "val"] == [2, 4]
    assert [r["iter"] for r in records if r["mode"] == "train"] == [1, 2, 3, 4, 5]
    assert [r["lr"] for r in records if r["mode"] == "train"] == pytest.approx([0.1] * 4 + [0.01])
    assert best["iter"] in (2, 4)
    assert "Iter [5/5]" in next(tmp_path.glob("*.log")).read_text()


def test_it_computes_a_val_loss_epoch_and_writes_elsewhere(tiny_root, tmp_path):
    spec = tiny_spec(max_epochs=2, workflow=[("train", 1), ("val", 1)],
                     checkpoint_config={"interval": 1, "out_dir": str(tmp_path / "ckpts")})
    spec["log_config"]["hooks"] = [{"type": "TextLoggerHook"}, {"type": "TensorboardLoggerHook"}]
    work_dir = tmp_path / "run"

    train(spec, work_dir, data_root=tiny_root, seed=0, console=False)

    val_losses = [r for r in _json_log(work_dir) if r["mode"] == "val" and "loss" in r]
    assert [r["epoch"] for r in val_losses] == [1, 2]
    assert all(r["loss"] > 0 and r["iter"] == 3 for r in val_losses)  # 9 val images, 4 a batch
    assert sorted(p.name for p in (tmp_path / "ckpts" / "run").glob("epoch_*.pth")) == ["epoch_1.pth", "epoch_2.pth"]
    assert list((work_dir / "tf_logs").glob("events.out.tfevents.*"))


class _Recorder(Hook):
    calls: list[str] = []

    def __init__(self, name: str):
        self.name = name

    def after_train_iter(self, state) -> None:
        _Recorder.calls.append(f"{self.name}@{state.iter}")


def test_it_runs_custom_hooks_by_priority_and_trains_in_bf16_on_cpu(tiny_root, tmp_path):
    HOOKS.add("PriorityRecorder", _Recorder, force=True)
    _Recorder.calls = []
    spec = tiny_spec(max_epochs=1, fp16={"loss_scale": 512.0}, evaluation=None,
                     custom_hooks=[{"type": "PriorityRecorder", "name": "low", "priority": "LOW"},
                                   {"type": "PriorityRecorder", "name": "first", "priority": 5},
                                   {"type": "EMAHook", "momentum": 0.5, "priority": "ABOVE_NORMAL"}])

    train(spec, tmp_path, data_root=tiny_root, seed=0, validate=False, console=False)

    assert _Recorder.calls == ["first@1", "low@1", "first@2", "low@2", "first@3", "low@3"]
    records = [r for r in _json_log(tmp_path) if r["mode"] == "train"]
    assert all(r["loss"] == r["loss"] for r in records)  # finite under bf16 autocast
    state_dict = load_checkpoint(tmp_path / "latest.pth")["state_dict"]
    assert "ema_backbone_conv1_weight" in state_dict


def test_it_rejects_unsupported_runtime_settings(tiny_root, tmp_path):
    with pytest.raises(ValueError, match="workflow"):
        train(tiny_spec(workflow=[("val", 1)]), tmp_path, data_root=tiny_root, console=False)
    with pytest.raises(ValueError, match="only supported with an EpochBasedRunner"):
        train(tiny_spec(runner={"type": "IterBasedRunner", "max_iters": 2}, workflow=[("train", 1), ("val", 1)]),
              tmp_path, data_root=tiny_root, console=False)
    with pytest.raises(ValueError, match="by_epoch=False"):
        train(tiny_spec(runner={"type": "IterBasedRunner", "max_iters": 2}), tmp_path, data_root=tiny_root,
              console=False)


def test_it_resumes_a_run_with_ema_averages_and_iteration_checkpoints(tiny_root, tmp_path):
    hooks = [{"type": "EMAHook", "momentum": 0.1, "warm_up": 1, "priority": "ABOVE_NORMAL"}]
    spec = tiny_spec(runner={"type": "IterBasedRunner", "max_iters": 4}, custom_hooks=hooks, evaluation=None,
                     checkpoint_config={"by_epoch": False, "interval": 2},
                     lr_config={"policy": "fixed"})
    train(spec, tmp_path, data_root=tiny_root, seed=0, validate=False, console=False)
    first = load_checkpoint(tmp_path / "iter_2.pth")

    longer = dict(spec, runner={"type": "IterBasedRunner", "max_iters": 6})
    train(longer, tmp_path / "resumed", data_root=tiny_root, seed=0, validate=False, console=False,
          resume_from=tmp_path / "iter_4.pth")

    resumed = load_checkpoint(tmp_path / "resumed" / "latest.pth")
    assert resumed["meta"]["iter"] == 6
    key = "ema_backbone_conv1_weight"
    assert key in first["state_dict"]
    # as mmcv's IterBasedRunner: no epoch-end swaps, the averages trail the weights in their buffers
    assert not torch.equal(first["state_dict"][key], first["state_dict"]["backbone.conv1.weight"])
    records = [r for r in _json_log(tmp_path / "resumed") if r["mode"] == "train"]
    assert [r["iter"] for r in records] == [5, 6]
