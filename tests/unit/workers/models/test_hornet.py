"""HorNet: pooled and spatial outputs, global filters at other sizes, frozen stages, MMCls parameter names."""

from __future__ import annotations

import torch

from workers.models import build_model
from workers.models.backbones.hornet import hornet_tiny_test


def test_it_returns_pooled_or_spatial_normalised_stage_outputs():
    outs = hornet_tiny_test(out_indices=(0, 1, 2, 3))(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8), (2, 16), (2, 32), (2, 64)]
    spatial = hornet_tiny_test(out_indices=(-1,), gap_before_final_norm=False)(torch.randn(1, 3, 96, 96))
    assert spatial[0].shape == (1, 64, 3, 3)  # the global filters interpolate their weights to other sizes


def test_it_freezes_stages_up_to_frozen_stages_even_after_train():
    backbone = hornet_tiny_test(frozen_stages=1, out_indices=(0, 3)).train()
    frozen = [backbone.downsample_layers[0], backbone.stages[0], backbone.norm0, backbone.downsample_layers[1],
              backbone.stages[1]]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen)
    assert backbone.stages[2].training and all(p.requires_grad for p in backbone.stages[2].parameters())


def test_it_checkpoints_activations_with_the_same_result():
    torch.manual_seed(0)
    plain = hornet_tiny_test()
    checkpointed = hornet_tiny_test(with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    torch.testing.assert_close(checkpointed(x)[0], plain(x)[0])


def test_it_names_parameters_as_mmcls_checkpoints_do():
    with torch.device("meta"):
        names = set(build_model({"type": "HorNet", "arch": "tiny-gf"}).state_dict())
    assert {"downsample_layers.0.0.weight", "downsample_layers.0.1.bias", "downsample_layers.3.1.weight",
            "stages.0.0.norm1.weight", "stages.0.0.gnconv.proj_in.weight", "stages.0.0.gnconv.dwconv.weight",
            "stages.1.2.gnconv.projs.1.weight", "stages.0.1.gnconv.proj_out.bias", "stages.0.0.norm2.bias",
            "stages.0.0.pwconv1.weight", "stages.0.0.pwconv2.bias", "stages.0.0.gamma1.weight",
            "stages.0.0.gamma2.weight", "stages.2.0.gnconv.dwconv.dw.weight",
            "stages.2.0.gnconv.dwconv.complex_weight", "stages.3.1.gnconv.dwconv.pre_norm.weight",
            "stages.3.1.gnconv.dwconv.post_norm.bias", "norm3.weight"} <= names
