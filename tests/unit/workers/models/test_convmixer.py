"""ConvMixer: outputs per block, frozen blocks, and MMCls checkpoint key names (identical to ours)."""

from __future__ import annotations

import torch

from jobspecs import load_library
from workers.models import build_model
from workers.models.backbones.convmixer import convmixer_tiny_test
from workers.models.complexity import build_meta_model, get_model_complexity_info
from workers.models.zoo import zoo_entry


def test_it_returns_the_requested_blocks():
    outs = convmixer_tiny_test(out_indices=(0, -1))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 16, 8, 8)]


def test_it_freezes_the_first_blocks_even_after_train():
    backbone = convmixer_tiny_test(frozen_stages=2).train()
    assert all(not p.requires_grad for p in backbone.stages[:2].parameters())
    assert not backbone.stages[1].training and backbone.stages[2].training
    assert all(p.requires_grad for p in backbone.stages[2].parameters())


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(build_model({"type": "ConvMixer", "arch": {"embed_dims": 8, "depth": 2, "patch_size": 4,
                                                           "kernel_size": 3}}).state_dict())
    assert {"stem.0.weight", "stem.2.running_mean", "stages.0.0.fn.0.weight", "stages.0.0.fn.2.bias",
            "stages.1.1.weight", "stages.1.3.running_var"} <= names


def test_it_uses_the_configured_activation():
    backbone = convmixer_tiny_test(act_cfg={"type": "ReLU"})
    assert isinstance(backbone.stages[0][2], torch.nn.ReLU)


def test_it_matches_the_seed_once_the_depthwise_convs_mmcv_skipped_are_left_out():
    # The metafile marks the FLOPs unmatched: MMCls's depthwise convs were mmcv Conv2dAdaptivePadding (torch < 1.9),
    # which mmcv's counter does not count. Parameters match as they are; FLOPs match without those convs.
    for name in ("convmixer-768-32_10xb64_in1k", "convmixer-1024-20_10xb64_in1k", "convmixer-1536-20_10xb64_in1k"):
        entry = zoo_entry(f"convmixer/{name}.py")
        model = build_meta_model(load_library(entry.spec)["model"])
        flops, params = get_model_complexity_info(model, entry.input_shape)
        assert abs(params / entry.params - 1) < 0.01
        side = entry.resolution[0] // model.backbone.stem[0].stride[0]
        depthwise = sum(stage[0].fn[0].weight.numel() * side * side + stage[0].fn[0].out_channels * side * side
                        for stage in model.backbone.stages)
        assert abs((flops - depthwise) / entry.flops - 1) < 0.01
