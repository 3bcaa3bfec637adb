"""VAN: stage outputs, frozen stages, norm_eval, and parameter names as MMCls checkpoints have them."""

from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models import build_model
from workers.models.backbones.van import van_tiny_test


def test_it_returns_the_requested_stages():
    outs = van_tiny_test(out_indices=(0, 1, 2, 3))(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 24, 4, 4), (2, 32, 2, 2)]
    assert len(van_tiny_test().eval()(torch.randn(1, 3, 32, 32))) == 1


def test_it_freezes_stages_up_to_frozen_stages_even_after_train():
    backbone = van_tiny_test(frozen_stages=1).train()
    for name in ("patch_embed1", "blocks1", "norm1", "patch_embed2", "blocks2", "norm2"):
        module = getattr(backbone, name)
        assert not module.training and all(not p.requires_grad for p in module.parameters())
    assert backbone.blocks3.training and all(p.requires_grad for p in backbone.blocks3.parameters())


def test_it_keeps_batch_norms_in_eval_with_norm_eval():
    backbone = van_tiny_test(norm_eval=True).train()
    assert all(not m.training for m in backbone.modules() if isinstance(m, _BatchNorm))
    assert backbone.blocks1[0].attn.training


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(build_model({"type": "VAN", "arch": "b0"}).state_dict())
    assert {"patch_embed1.projection.weight", "patch_embed1.norm.running_mean", "blocks1.0.norm1.weight",
            "blocks1.0.attn.proj_1.weight", "blocks1.0.attn.spatial_gating_unit.DW_conv.weight",
            "blocks1.0.attn.spatial_gating_unit.DW_D_conv.bias", "blocks1.0.attn.spatial_gating_unit.conv1.weight",
            "blocks4.1.attn.proj_2.bias", "blocks2.2.mlp.fc1.weight", "blocks2.2.mlp.dwconv.weight",
            "blocks2.2.mlp.fc2.bias", "blocks3.4.layer_scale_1", "blocks3.4.layer_scale_2", "norm4.weight"} <= names
