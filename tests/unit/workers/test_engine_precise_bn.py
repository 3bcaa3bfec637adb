"""PreciseBNHook (RegNet specs): BN statistics become the average of per-batch statistics over
``num_samples`` training samples, every ``interval`` epochs, before evaluation and the checkpoint."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from tests.support.engine import BNNet as _BNNet
from tests.support.specs import tiny_spec
from workers.data.builder import collate
from workers.engine import hooks as hooks_module
from workers.engine import load_checkpoint, train
from workers.engine.hooks import update_bn_stats
from workers.registry import HOOKS

torch.set_num_threads(1)


def _loader(batches: int, batch_size: int = 4) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    samples = [{"img": torch.randn(2, 3, 3, generator=generator) * (1 + i) + i, "gt_label": 0}
               for i in range(batches * batch_size)]
    return DataLoader(samples, batch_size=batch_size, shuffle=False, collate_fn=collate)


def test_it_sets_bn_statistics_to_the_mean_of_per_batch_statistics():
    model = _BNNet().train()
    loader = _loader(batches=3)

    ran = update_bn_stats(model, loader, num_samples=9)  # 9 // 4: two batches of the three

    assert ran == 2
    with torch.no_grad():
        feats = [model.conv(batch["img"]) for batch in list(loader)[:2]]
    mean = torch.stack([f.mean(dim=(0, 2, 3)) for f in feats]).mean(0)
    var = torch.stack([f.transpose(0, 1).reshape(2, -1).var(dim=1, unbiased=True) for f in feats]).mean(0)
    assert torch.allclose(model.bn.running_mean, mean, atol=1e-6)
    assert torch.allclose(model.bn.running_var, var, atol=1e-5)
    assert model.bn.momentum == 0.1


def test_it_uses_every_batch_when_the_loader_is_short_and_skips_models_without_bn():
    model = _BNNet().train()
    assert update_bn_stats(model, _loader(batches=2), num_samples=8192) == 2
    assert update_bn_stats(nn.Sequential(nn.Conv2d(2, 2, 1)), _loader(batches=1)) == 0


def test_it_recomputes_before_the_checkpoint_every_interval_epochs(tiny_root, tmp_path, monkeypatch):
    calls = []

    def recording(model, data_loader, num_samples):
        ran = update_bn_stats(model, data_loader, num_samples)
        bn = model.backbone.bn1
        calls.append((len(data_loader.dataset), ran, bn.running_mean.clone(), bn.running_var.clone()))
        return ran

    monkeypatch.setattr(hooks_module, "update_bn_stats", recording)
    spec = tiny_spec(max_epochs=2, custom_hooks=[{"type": "PreciseBNHook", "num_samples": 8, "interval": 2,
                                                  "priority": "ABOVE_NORMAL"}])

    train(spec, tmp_path, data_root=tiny_root, seed=0, console=False)

    assert [(size, ran) for size, ran, _, _ in calls] == [(12, 2)]  # after epoch 2 only, 8 // 4 batches
    state_dict = load_checkpoint(tmp_path / "epoch_2.pth")["state_dict"]
    assert torch.equal(state_dict["backbone.bn1.running_mean"], calls[0][2])
    assert torch.equal(state_dict["backbone.bn1.running_var"], calls[0][3])


def test_it_refuses_iteration_runs_and_bad_arguments(tiny_root, tmp_path):
    with pytest.raises(ValueError, match="positive int"):
        HOOKS.build({"type": "PreciseBNHook", "num_samples": 0})
    spec = tiny_spec(runner={"type": "IterBasedRunner", "max_iters": 2},
                     checkpoint_config={"interval": 1, "by_epoch": False},
                     custom_hooks=[{"type": "PreciseBNHook", "num_samples": 8}])
    with pytest.raises(ValueError, match="only supports `EpochBasedRunner`"):
        train(spec, tmp_path, data_root=tiny_root, seed=0, console=False, validate=False)
