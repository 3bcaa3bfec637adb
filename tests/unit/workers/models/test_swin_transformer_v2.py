"""SwinTransformerV2 (timm's layers, MMCls's arguments): outputs, freezing, MMCls checkpoint names."""

from __future__ import annotations

import pickle
import re

import pytest
import torch

from workers.models import build_model, load_weights
from workers.models.backbones.swin_transformer_v2 import swin_v2_tiny_test


def _to_mmcls_names(state_dict: dict) -> dict:
    """How MMCls 0.25 names and orders the same weights (V2: patch merging at the stage start)."""
    out = {}
    for key, value in state_dict.items():
        key = key.replace("patch_embed.proj.", "patch_embed.projection.")
        if re.match(r"layers\.\d+\.downsample\.reduction\.weight$", key):
            out_dim, four_c = value.shape
            value = value.reshape(out_dim, 2, 2, four_c // 4).transpose(-1, -3).reshape(out_dim, four_c)
        if key.startswith("layers."):
            key = "stages." + key[len("layers."):]
            key = key.replace(".attn.", ".attn.w_msa.").replace(".mlp.fc1.", ".ffn.layers.0.0.")
            key = key.replace(".mlp.fc2.", ".ffn.layers.1.")
        out[key] = value
    return out


def test_it_returns_one_normalised_map_per_out_index():
    model = swin_v2_tiny_test().eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 32, 4, 4)]
    assert not any(k.startswith(("head", "norm.")) for k in model.state_dict())


def test_it_freezes_stages_up_to_and_including_frozen_stages_as_mmcls_v2_does():
    model = swin_v2_tiny_test(frozen_stages=0)
    model.train()
    for module in (model.patch_embed, model.layers[0], model.norm0):
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert all(p.requires_grad for p in model.layers[1].parameters())


def test_it_loads_a_checkpoint_with_mmcls_names():
    source = swin_v2_tiny_test().eval()
    mmcls = _to_mmcls_names(source.state_dict())
    assert "stages.1.downsample.reduction.weight" in mmcls
    assert "stages.0.blocks.0.attn.w_msa.cpb_mlp.0.weight" in mmcls
    mmcls["stages.0.blocks.0.attn.w_msa.relative_coords_table"] = torch.zeros(1, 7, 7, 2)
    target = swin_v2_tiny_test().eval()
    target.load_state_dict(mmcls)
    x = torch.randn(1, 3, 32, 32)
    for a, b in zip(source(x), target(x), strict=True):
        torch.testing.assert_close(a, b)
    again = swin_v2_tiny_test().eval()
    assert load_weights(again, mmcls) == ([], [])


def test_it_takes_one_window_size_per_stage_and_the_pretrained_ones():
    with torch.device("meta"):
        model = build_model({"type": "SwinTransformerV2", "arch": "base", "img_size": 384,
                             "window_size": [24, 24, 24, 12], "pretrained_window_sizes": [12, 12, 12, 6]})
    assert model.layers[0].blocks[0].window_size == (24, 24)
    assert model.layers[3].blocks[0].window_size == (12, 12)
    with pytest.raises(ValueError, match="Length of window_sizes"):
        swin_v2_tiny_test(window_size=[4, 4, 4])


def test_it_pickles_for_whole_model_checkpoints_and_ray():
    model = pickle.loads(pickle.dumps(swin_v2_tiny_test()))
    assert model.training
