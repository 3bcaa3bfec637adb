"""Checkpoints: their keys and meta, latest.pth, max_keep_ckpts, resume (model + optimizer + epoch) and
load_from (weights only)."""

from __future__ import annotations

import json

import torch

from tests.support.reporters import ListReporter
from tests.support.specs import tiny_spec
from workers.engine import load_checkpoint, train


def _json_log(work_dir) -> list[dict]:
    records = []
    for path in sorted(work_dir.glob("*.log.json")):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


def test_it_saves_checkpoints_with_named_keys_and_keeps_the_newest(tiny_root, tmp_path):
    spec = tiny_spec(max_epochs=3, checkpoint_config={"interval": 1, "max_keep_ckpts": 2})
    reporter = ListReporter()

    train(spec, tmp_path, data_root=tiny_root, seed=0, reporter=reporter, console=False)

    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["epoch_2.pth", "epoch_3.pth", "latest.pth"]
    assert (tmp_path / "latest.pth").resolve() == (tmp_path / "epoch_3.pth").resolve()
    checkpoint = load_checkpoint(tmp_path / "latest.pth")
    assert set(checkpoint) == {"state_dict", "optimizer", "meta"}
    meta = checkpoint["meta"]
    assert {"spec", "epoch", "iter", "CLASSES", "torch_version", "time", "seed"} <= set(meta)
    assert (meta["epoch"], meta["iter"], meta["CLASSES"]) == (3, 9, ["a", "b", "c"])
    assert meta["spec"]["model"]["backbone"]["type"] == "ResNet_CIFAR"
    assert "backbone.layer1.0.conv1.weight" in checkpoint["state_dict"]
    assert [(c[1], c[2]) for c in reporter.checkpoints] == [(1, 3), (2, 6), (3, 9)]
    assert set(reporter.checkpoints[-1][3]) == {"accuracy_top-1", "accuracy_top-5"}


def test_it_resumes_model_optimizer_and_epoch_count(tiny_root, tmp_path):
    first = tmp_path / "first"
    train(tiny_spec(max_epochs=2), first, data_root=tiny_root, seed=0, console=False)
    saved = load_checkpoint(first / "epoch_2.pth")

    resumed = tmp_path / "resumed"
    reporter = ListReporter()
    best = train(tiny_spec(max_epochs=3), resumed, data_root=tiny_root, seed=0, reporter=reporter, console=False,
                 resume_from=first / "epoch_2.pth")

    records = _json_log(resumed)
    assert {r["epoch"] for r in records if "epoch" in r} == {3}
    assert [r["iter"] for r in records if r.get("mode") == "train"] == [1, 2, 3]
    assert [p[0] for p in reporter.points if p[3] == "train"] == [7, 8, 9]  # global steps continue
    final = load_checkpoint(resumed / "latest.pth")
    assert (final["meta"]["epoch"], final["meta"]["iter"]) == (3, 9)
    assert not torch.equal(final["state_dict"]["head.fc.weight"], saved["state_dict"]["head.fc.weight"])
    momentum = final["optimizer"]["state"][0]["momentum_buffer"]
    assert momentum is not None
    assert best["epoch"] in (1, 2, 3)


def test_it_resumes_automatically_from_the_work_dir(tiny_root, tmp_path):
    train(tiny_spec(max_epochs=1), tmp_path, data_root=tiny_root, seed=0, console=False)
    reporter = ListReporter()
    train(tiny_spec(max_epochs=2), tmp_path, data_root=tiny_root, seed=0, console=False, reporter=reporter,
          resume_from="auto")
    assert any("resumed epoch 1, iter 3" in line for line in reporter.lines)
    assert {p[2] for p in reporter.points} == {2}


def test_it_loads_only_weights_with_load_from(tiny_root, tmp_path):
    train(tiny_spec(max_epochs=1), tmp_path / "a", data_root=tiny_root, seed=0, console=False)
    reporter = ListReporter()
    train(tiny_spec(max_epochs=1), tmp_path / "b", data_root=tiny_root, seed=1, console=False, reporter=reporter,
          load_from=tmp_path / "a" / "epoch_1.pth")
    assert {p[2] for p in reporter.points} == {1}  # starts again at epoch 1
    assert any("load checkpoint from" in line for line in reporter.lines)


def _train_lrs(reporter) -> set[float]:
    return {round(p[1]["lr"], 10) for p in reporter.points if p[3] == "train" and "lr" in p[1]}


def test_a_resumed_run_keeps_the_checkpoints_lr_unless_told_to_take_the_specs(tiny_root, tmp_path):
    """PBT continues a clone's weights with mutated hyperparameters: the spec's lr must win then."""
    train(tiny_spec(max_epochs=2), tmp_path / "a", data_root=tiny_root, seed=0, console=False)
    saved = tmp_path / "a" / "epoch_2.pth"
    mutated = tiny_spec(max_epochs=3)
    mutated["optimizer"] = {**mutated["optimizer"], "lr": mutated["optimizer"]["lr"] * 4, "weight_decay": 0.0}
    as_mmcv, as_pbt = ListReporter(), ListReporter()
    train(mutated, tmp_path / "mmcv", data_root=tiny_root, seed=0, console=False, reporter=as_mmcv,
          resume_from=saved)
    train(mutated, tmp_path / "pbt", data_root=tiny_root, seed=0, console=False, reporter=as_pbt,
          resume_from=saved, hparams_from_spec=True)
    base = tiny_spec()["optimizer"]["lr"]
    # the step policy has decayed the lr by 0.1 after epoch 1: epoch 3 trains at base * 0.1
    assert _train_lrs(as_mmcv) == {round(base * 0.1, 10)}
    assert _train_lrs(as_pbt) == {round(base * 4 * 0.1, 10)}
    final = load_checkpoint(tmp_path / "pbt" / "latest.pth")
    group = final["optimizer"]["param_groups"][0]
    assert group["weight_decay"] == 0.0 and group["initial_lr"] == base * 4
    assert final["optimizer"]["state"][0]["momentum_buffer"] is not None  # the state came along


def test_each_evaluation_is_announced_after_its_checkpoint_is_on_disk(tiny_root, tmp_path):
    seen = []

    def on_evaluate(metrics):
        path = metrics["checkpoint"]
        seen.append((metrics["epoch"], path and load_checkpoint(path)["meta"]["epoch"]))

    train(tiny_spec(max_epochs=2), tmp_path, data_root=tiny_root, seed=0, console=False, on_evaluate=on_evaluate)
    assert seen == [(1, 1), (2, 2)]
