"""ConvNeXt: outputs per stage, frozen stages, and MMCls checkpoint key names loading into the timm modules."""

from __future__ import annotations

import torch

from tests.support.mmcls_keys import convnext_to_mmcls as _to_mmcls
from workers.models import build_model
from workers.models.backbones.convnext import convnext_tiny_test


def test_it_returns_pooled_or_spatial_normalised_stage_outputs():
    backbone = convnext_tiny_test(out_indices=(0, 1, 2, 3)).eval()
    outs = backbone(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 8), (2, 16), (2, 24), (2, 32)]
    spatial = convnext_tiny_test(out_indices=(1, -1), gap_before_final_norm=False)(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in spatial] == [(1, 16, 4, 4), (1, 32, 1, 1)]


def test_it_freezes_the_stem_and_first_stages_even_after_train():
    backbone = convnext_tiny_test(frozen_stages=2).train()
    frozen = [backbone.stem, backbone.stages[0], backbone.stages[1]]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen)
    assert all(p.requires_grad for p in backbone.stages[2].parameters())
    assert backbone.stages[2].training


def test_it_loads_a_state_dict_with_mmcls_key_names():
    source = convnext_tiny_test(out_indices=(3,))
    mmcls = {_to_mmcls(k): v for k, v in source.state_dict().items()}
    assert "stages.0.0.pointwise_conv1.weight" in mmcls and "downsample_layers.2.1.weight" in mmcls
    assert source.convert_mmcls_state_dict(mmcls).keys() == source.state_dict().keys()

    classifier = build_model({"type": "ImageClassifier",
                              "backbone": {"type": "ConvNeXt", "arch": {"depths": [1, 1, 1, 1],
                                                                         "channels": [8, 16, 24, 32]}},
                              "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 32}})
    head = {f"head.{k}": v for k, v in classifier.head.state_dict().items()}
    classifier.load_state_dict({**{f"backbone.{k}": v for k, v in mmcls.items()}, **head})
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(classifier.backbone.eval()(x)[0], source.eval()(x)[0])
