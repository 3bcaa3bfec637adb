"""RepeatAugSampler (``sampler = dict(type='RepeatAugSampler')``, the ResNet rsb specs) and the Lamb
optimizer they train with."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from tests.support.specs import tiny_spec
from workers.data import build_dataloader
from workers.data.samplers import RepeatAugSampler
from workers.engine import train
from workers.engine.optimizers import build_optimizer

torch.set_num_threads(1)


def test_it_sends_the_repeats_of_a_sample_to_different_ranks():
    data = list(range(8))
    ranks = [RepeatAugSampler(data, num_replicas=2, rank=r, shuffle=False, selected_round=0) for r in (0, 1)]

    # [0, 0, 0, 1, 1, 1, 2, ...] dealt in turn to the two ranks, each keeping ceil(8 / 2) indices
    assert [list(s) for s in ranks] == [[0, 0, 1, 2], [0, 1, 1, 2]]
    assert len(ranks[0]) == 4 and ranks[0].total_size == 24


def test_it_keeps_an_epoch_as_long_as_the_rounded_dataset_over_the_world_size():
    assert len(RepeatAugSampler(list(range(600)))) == 512  # 600 // 256 * 256 samples, one process
    assert len(RepeatAugSampler(list(range(600)), num_replicas=4, rank=3)) == 128
    assert len(RepeatAugSampler(list(range(10)), selected_round=0, selected_ratio=2)) == 5


def test_it_shuffles_alike_on_every_rank_and_anew_each_epoch():
    data = list(range(12))
    ranks = [RepeatAugSampler(data, num_replicas=3, rank=r, seed=7, selected_round=0, selected_ratio=1)
             for r in range(3)]
    first = [list(s) for s in ranks]
    # one shuffled order, each sample 3 times in a row, dealt round to 3 ranks: each rank gets that order
    assert first[0] == first[1] == first[2] != data and sorted(first[0]) == data
    for sampler in ranks:
        sampler.set_epoch(1)
    assert [list(s) for s in ranks] != first
    assert list(RepeatAugSampler(data, seed=7, selected_round=0)) == list(RepeatAugSampler(data, seed=7,
                                                                                          selected_round=0))


def test_it_builds_the_sampler_of_the_spec_into_the_training_loader():
    loader = build_dataloader(list(range(10)), 2, 0, shuffle=False, seed=3,
                              sampler_cfg={"type": "RepeatAugSampler", "selected_round": 0, "shuffle": True})
    assert isinstance(loader.sampler, RepeatAugSampler) and not loader.sampler.shuffle  # the loader's shuffle wins
    assert len(loader) == 5 and list(loader.sampler) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    with pytest.raises(KeyError, match="sampler type 'Repeat' is not supported"):
        build_dataloader(list(range(10)), 2, 0, sampler_cfg={"type": "Repeat"})


def test_it_trains_with_repeated_augmentation_and_lamb(tiny_root, tmp_path):
    spec = tiny_spec(max_epochs=1, sampler={"type": "RepeatAugSampler", "selected_round": 4},
                     optimizer={"type": "Lamb", "lr": 0.005, "weight_decay": 0.02,
                                "paramwise_cfg": {"bias_decay_mult": 0.0, "norm_decay_mult": 0.0}})
    result = train(spec, tmp_path, data_root=tiny_root, seed=0, console=False)
    assert "accuracy_top-1" in result


def test_it_builds_lamb_with_mmcls_defaults_and_paramwise_groups():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    optimizer = build_optimizer(model, {"type": "Lamb", "lr": 0.01, "weight_decay": 0.02,
                                        "paramwise_cfg": {"norm_decay_mult": 0.0}})
    assert type(optimizer).__name__ == "Lamb"
    assert optimizer.defaults["eps"] == 1e-6 and optimizer.defaults["max_grad_norm"] == 1.0
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.02, 0.02, 0.0, 0.0]
    before = model[0].weight.detach().clone()
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    assert not torch.equal(model[0].weight, before)
