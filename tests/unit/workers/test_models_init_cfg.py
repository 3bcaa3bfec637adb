"""init_cfg: mmcv's initializers with ``layer=`` and ``override=``, and Pretrained keeping its weights."""

from __future__ import annotations

import pytest
import torch

from workers.models import build_model
from workers.registry import check_spec_types

HEAD = {"type": "LinearClsHead", "num_classes": 3, "in_channels": 8}


def _tiny_cifar(**extra) -> dict:
    return {"type": "ImageClassifier",
            "backbone": {"type": "ResNet_CIFAR", "depth": 18, "stem_channels": 8, "base_channels": 8} | extra,
            "neck": {"type": "GlobalAveragePooling"}, "head": HEAD | {"in_channels": 64}}


def test_it_initialises_only_the_layers_named_in_layer():
    head = build_model({"type": "StackedLinearClsHead", "num_classes": 3, "in_channels": 8, "mid_channels": [4],
                        "norm_cfg": {"type": "BN1d"},
                        "init_cfg": {"type": "Constant", "layer": "Linear", "val": 0.5, "bias": 0.1}})
    for block in head.layers:
        assert torch.all(block.fc.weight == 0.5) and torch.all(block.fc.bias == 0.1)
    assert torch.all(head.layers[0].norm.weight == 1)  # BatchNorm1d is not a Linear
    backbone = build_model({"type": "MobileNetV2", "widen_factor": 0.25,
                            "init_cfg": {"type": "Constant", "layer": "_BatchNorm", "val": 0.5}})
    # '_BatchNorm' matches BatchNorm2d through its direct base class, as in mmcv
    assert all(torch.all(m.weight == 0.5) for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    untouched = build_model(HEAD | {"init_cfg": {"type": "Constant", "val": 3.0}})  # no layer, no override
    assert not torch.any(untouched.fc.weight == 3.0)


def test_it_reinitialises_the_child_named_in_override():
    head = build_model(HEAD | {"init_cfg": {"type": "Normal", "layer": "Conv2d", "std": 0.01,
                                            "override": {"name": "fc", "type": "Constant", "val": 0.3}}})
    assert torch.all(head.fc.weight == 0.3) and torch.all(head.fc.bias == 0)
    inherited = build_model(HEAD | {"init_cfg": {"type": "Constant", "layer": "Conv2d", "val": 2.0, "bias": 1.0,
                                                 "override": {"name": "fc"}}})
    assert torch.all(inherited.fc.weight == 2.0) and torch.all(inherited.fc.bias == 1.0)
    listed = build_model(HEAD | {"init_cfg": [{"type": "Constant", "val": 0.0, "override": [{"name": "fc"}]},
                                              {"type": "Uniform", "a": 2.0, "b": 3.0, "layer": "Linear"}]})
    assert torch.all((listed.fc.weight >= 2.0) & (listed.fc.weight <= 3.0))  # later configs run later


def test_it_refuses_malformed_overrides_as_mmcv_does():
    with pytest.raises(ValueError, match='must contain the key "name"'):
        build_model(HEAD | {"init_cfg": {"type": "Constant", "val": 1.0, "override": {"val": 2.0}}})
    with pytest.raises(ValueError, match='need "type" key'):
        build_model(HEAD | {"init_cfg": {"type": "Constant", "val": 1.0, "override": {"name": "fc", "val": 2.0}}})
    with pytest.raises(RuntimeError, match="did not have attribute head"):
        build_model(HEAD | {"init_cfg": {"type": "Constant", "val": 1.0, "override": {"name": "head"}}})


def test_it_draws_from_the_requested_distributions():
    trunc = build_model(HEAD | {"init_cfg": {"type": "TruncNormal", "layer": "Linear", "std": 1.0, "a": -0.01,
                                             "b": 0.01}})
    assert trunc.fc.weight.abs().max() <= 0.01
    kaiming = build_model({"type": "ResNet", "depth": 18, "base_channels": 8, "stem_channels": 8, "init_cfg": {
        "type": "Kaiming", "layer": "Conv2d", "mode": "fan_in", "distribution": "uniform"}})
    bound = (6 / (3 * 7 * 7)) ** 0.5  # He uniform, fan_in of the 7x7 stem, ReLU gain
    assert kaiming.conv1.weight.abs().max() <= bound
    xavier = build_model(HEAD | {"init_cfg": {"type": "Xavier", "layer": "Linear", "distribution": "uniform",
                                              "bias_prob": 0.01}})
    assert xavier.fc.weight.abs().max() <= (6 / (8 + 3)) ** 0.5
    assert torch.allclose(xavier.fc.bias, torch.full((3,), -4.59512), atol=1e-4)  # -log((1-p)/p)


def test_it_keeps_pretrained_weights_from_being_reinitialised_by_children(tmp_path):
    source = build_model(_tiny_cifar())
    torch.save({"state_dict": source.state_dict()}, tmp_path / "src.pth")
    target = build_model(_tiny_cifar(init_cfg={"type": "Constant", "layer": "Conv2d", "val": 0.0})
                         | {"init_cfg": {"type": "Pretrained", "checkpoint": str(tmp_path / "src.pth")}})
    assert torch.equal(target.backbone.conv1.weight, source.backbone.conv1.weight)
    # without the outer Pretrained, the backbone's own init_cfg runs
    zeroed = build_model(_tiny_cifar(init_cfg={"type": "Constant", "layer": "Conv2d", "val": 0.0}))
    assert torch.count_nonzero(zeroed.backbone.conv1.weight) == 0


def test_it_accepts_the_initializer_types_at_submit_time():
    spec = {"model": _tiny_cifar(init_cfg=[{"type": "Kaiming", "layer": "Conv2d"},
                                           {"type": "TruncNormal", "layer": "Linear", "std": 0.02}])}
    assert check_spec_types(spec) == []
