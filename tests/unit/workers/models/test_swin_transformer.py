"""SwinTransformer (timm's layers, MMCls's arguments): outputs, freezing, MMCls checkpoint names."""

from __future__ import annotations

import pickle
import re

import torch

from workers.models import build_model, load_weights
from workers.models.backbones.swin_transformer import swin_tiny_test


def _to_mmcls_names(state_dict: dict) -> dict:
    """The inverse of ``convert_mmcls_state_dict``: how MMCls 0.25 names and orders the same weights."""
    out = {}
    for key, value in state_dict.items():
        key = key.replace("patch_embed.proj.", "patch_embed.projection.")
        match = re.match(r"layers\.(\d+)\.downsample\.(\w+)\.(\w+)$", key)
        if match:
            *lead, four_c = value.shape
            value = value.reshape(*lead, 2, 2, four_c // 4).transpose(-1, -3).reshape(*lead, four_c)
            key = f"stages.{int(match.group(1)) - 1}.downsample.{match.group(2)}.{match.group(3)}"
        elif key.startswith("layers."):
            key = "stages." + key[len("layers."):]
            key = key.replace(".attn.", ".attn.w_msa.").replace(".mlp.fc1.", ".ffn.layers.0.0.")
            key = key.replace(".mlp.fc2.", ".ffn.layers.1.")
        out[key] = value
    return out


def test_it_returns_one_normalised_map_per_out_index():
    model = swin_tiny_test().eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 32, 4, 4)]
    assert {"norm0.weight", "norm1.weight"} <= set(model.state_dict())
    assert not any(k.startswith("head") for k in model.state_dict())
    # other input sizes work too (masks are built per call)
    assert tuple(model(torch.randn(1, 3, 48, 40))[1].shape) == (1, 32, 6, 5)


def test_it_applies_the_patch_merging_when_out_after_downsample():
    model = swin_tiny_test(out_indices=(0,), out_after_downsample=True).eval()
    assert tuple(model(torch.randn(1, 3, 32, 32))[0].shape) == (1, 32, 4, 4)


def test_it_freezes_the_patch_embedding_and_stage_with_its_merging():
    model = swin_tiny_test(frozen_stages=1)
    model.train()
    frozen = [model.patch_embed, model.layers[0], model.layers[1].downsample, model.norm0]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert model.layers[1].blocks.training
    assert all(p.requires_grad for p in model.layers[1].blocks.parameters())


def test_it_loads_a_checkpoint_with_mmcls_names():
    source = swin_tiny_test().eval()
    mmcls = _to_mmcls_names(source.state_dict())
    assert "stages.0.downsample.reduction.weight" in mmcls
    assert "stages.0.blocks.0.attn.w_msa.qkv.weight" in mmcls
    mmcls["stages.0.blocks.0.attn.w_msa.relative_position_index"] = torch.zeros(16, 16, dtype=torch.long)
    target = swin_tiny_test().eval()
    target.load_state_dict(mmcls)  # strict: every name maps
    x = torch.randn(1, 3, 32, 32)
    for a, b in zip(source(x), target(x), strict=True):
        torch.testing.assert_close(a, b)
    again = swin_tiny_test().eval()
    missing, unexpected = load_weights(again, {"state_dict": {f"backbone.{k}": v for k, v in mmcls.items()}},
                                       prefix="backbone.")
    assert (missing, unexpected) == ([], [])
    torch.testing.assert_close(again(x)[1], source(x)[1])


def test_it_builds_from_an_mmcls_config_with_a_larger_window():
    with torch.device("meta"):
        model = build_model({"type": "SwinTransformer", "arch": "base", "img_size": 384,
                             "stage_cfgs": {"block_cfgs": {"window_size": 12}}})
    assert model.layers[0].blocks[0].window_size == (12, 12)
    assert sum(p.numel() for p in model.parameters()) == 86_878_584


def test_it_pickles_for_whole_model_checkpoints_and_ray():
    model = pickle.loads(pickle.dumps(swin_tiny_test()))
    assert model.training
