"""``workers.models.complexity``: mmcv 1.x's counting rules, on the meta device, leaving the model alone."""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.models import build_model
from workers.models.complexity import (
    build_meta_model,
    count_params,
    format_complexity,
    get_model_complexity_info,
)

RESNET50 = {
    "type": "ImageClassifier",
    "backbone": {"type": "ResNet", "depth": 50},
    "neck": {"type": "GlobalAveragePooling"},
    "head": {"type": "LinearClsHead", "num_classes": 1000, "in_channels": 2048},
}


def test_it_counts_each_layer_type_as_mmcv():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),            # 3*3*3*8 * 16 positions + 8 bias * 16
        nn.BatchNorm2d(8),                        # 2 * 8*16 (affine)
        nn.ReLU(),                                # 8*16
        nn.MaxPool2d(2),                          # 8*16 (input)
        nn.Conv2d(8, 8, 1, groups=2, bias=False),  # 1*8*4 * 4 positions
        nn.GELU(),                                # not counted
        nn.Flatten(),
        nn.Linear(32, 10),                        # 32*10, no bias term
    )
    flops, params = get_model_complexity_info(model, (3, 4, 4))
    assert flops == (216 * 16 + 8 * 16) + 2 * 128 + 128 + 128 + 32 * 4 + 320
    assert params == count_params(model) == sum(p.numel() for p in model.parameters())


def test_it_skips_frozen_parameters_and_leaves_the_model_on_its_device():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 1))
    model[0].requires_grad_(False)
    _, params = get_model_complexity_info(model, (3, 8, 8))
    assert params == 20
    assert count_params(model, trainable_only=False) == 36
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_it_counts_the_classifier_without_its_head_flops():
    # MMCls's get_flops.py runs extract_feat: the fc's 2048*1000 MACs are not in the 4.12G.
    model = build_meta_model(RESNET50)
    assert all(p.is_meta for p in model.parameters())
    flops, params = get_model_complexity_info(model)
    assert params == 25_557_032
    assert flops == 4_119_876_096
    assert format_complexity(flops, params, (3, 224, 224)) == (
        "Input shape: (3, 224, 224)\nFlops: 4.12 GFLOPs\nParams: 25.56 M")


def test_it_copies_a_real_model_to_meta():
    torch.manual_seed(0)
    model = build_model({"type": "ResNet", "depth": 18, "stem_channels": 8, "base_channels": 8})
    before = model.conv1.weight.clone()
    flops, params = get_model_complexity_info(model, (3, 32, 32))
    assert flops > 0 and params == count_params(model)
    assert torch.equal(model.conv1.weight, before)


def test_it_formats_small_counts_as_mmcv():
    assert format_complexity(1_234_567, 61_706, (1, 32, 32)) == (
        "Input shape: (1, 32, 32)\nFlops: 0.0 GFLOPs\nParams: 61.71 k")


def test_it_builds_on_the_cpu_what_cannot_be_built_on_meta(monkeypatch):
    from workers.registry import MODELS

    def build(cfg):
        rate = torch.linspace(0, 0.1, 3)[1].item()  # reads a value: fails under torch.device("meta")
        return nn.Sequential(nn.Dropout(rate), nn.Linear(4, 2))

    monkeypatch.setattr(MODELS, "build", build)
    model = build_meta_model({"type": "Anything"})
    assert all(p.is_meta for p in model.parameters())
    assert get_model_complexity_info(model, (4,)) == (8, 10)
