"""MobileNetV2: the Model Zoo parameter count, MMCls key names, outputs, frozen stages and norm_eval."""

from __future__ import annotations

import pytest
import torch

from workers.models import build_model
from workers.models.backbones.mobilenet_v2 import mobilenet_v2_tiny


def test_it_builds_mobilenet_v2_with_the_model_zoo_parameter_count():
    with torch.device("meta"):
        model = build_model({"type": "ImageClassifier", "backbone": {"type": "MobileNetV2", "widen_factor": 1.0},
                             "neck": {"type": "GlobalAveragePooling"},
                             "head": {"type": "LinearClsHead", "num_classes": 1000, "in_channels": 1280}})
    count = sum(p.numel() for p in model.parameters())
    assert count == 3_504_872  # torchvision's MobileNetV2 has the same count
    assert abs(count / 3.5e6 - 1) < 0.01  # the seed's Model Zoo: 3.5M


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(build_model({"type": "MobileNetV2", "widen_factor": 0.25}).state_dict())
    assert {"conv1.conv.weight", "conv1.bn.running_var", "layer1.0.conv.0.conv.weight", "layer1.0.conv.1.bn.bias",
            "layer2.0.conv.0.conv.weight", "layer2.0.conv.2.bn.weight", "layer7.0.conv.2.conv.weight",
            "conv2.conv.weight", "conv2.bn.bias"} <= names
    assert "layer1.0.conv.2.conv.weight" not in names  # expand_ratio 1: no expansion conv


def test_it_returns_the_requested_stages():
    backbone = mobilenet_v2_tiny(out_indices=(0, 1, 2, 3, 4, 5, 6, 7))
    outs = backbone(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 8, 8, 8), (2, 8, 4, 4), (2, 16, 2, 2),
                                              (2, 24, 2, 2), (2, 40, 1, 1), (2, 80, 1, 1), (2, 1280, 1, 1)]
    with torch.device("meta"):
        assert build_model({"type": "MobileNetV2", "widen_factor": 1.5}).conv2.conv.out_channels == 1920


def test_it_freezes_exactly_conv1_and_the_first_layers_even_after_train():
    backbone = mobilenet_v2_tiny(frozen_stages=2)
    backbone.train()
    frozen = {n for n, p in backbone.named_parameters() if not p.requires_grad}
    expected = {n for n, _ in backbone.named_parameters() if n.startswith(("conv1.", "layer1.", "layer2."))}
    assert frozen == expected and frozen
    assert not backbone.conv1.bn.training and not backbone.layer2[1].conv[0].bn.training
    assert backbone.layer3[0].conv[0].bn.training


def test_it_keeps_batchnorm_in_eval_with_norm_eval():
    backbone = mobilenet_v2_tiny(norm_eval=True)
    backbone.train()
    assert all(not m.training for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert backbone.training


def test_it_gives_the_same_output_with_activation_checkpointing():
    plain = mobilenet_v2_tiny(out_indices=(3,))
    checkpointed = mobilenet_v2_tiny(out_indices=(3,), with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    img = torch.randn(2, 3, 32, 32, requires_grad=True)
    assert torch.allclose(plain(img)[0], checkpointed(img)[0], atol=1e-6)


def test_it_rejects_out_of_range_indices_and_stages():
    with pytest.raises(ValueError, match="out_indices must in range"):
        build_model({"type": "MobileNetV2", "out_indices": (8,)})
    with pytest.raises(ValueError, match="frozen_stages must be in range"):
        build_model({"type": "MobileNetV2", "frozen_stages": 8})
