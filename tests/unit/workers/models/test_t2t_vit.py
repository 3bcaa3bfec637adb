"""T2T_ViT (in-house, MMCls's names): outputs, the tokens-to-token module, pos_embed, checkpoint names."""

from __future__ import annotations

import pytest
import torch

from workers.models.backbones.t2t_vit import T2TModule, get_sinusoid_encoding, t2t_vit_tiny_test


def test_it_returns_patch_and_class_tokens_per_out_index():
    model = t2t_vit_tiny_test(out_indices=(0, 1)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [[tuple(t.shape) for t in out] for out in outs] == [[(2, 32, 2, 2), (2, 32)]] * 2
    patch_only = t2t_vit_tiny_test(output_cls_token=False).eval()
    assert tuple(patch_only(torch.randn(1, 3, 32, 32))[0].shape) == (1, 32, 2, 2)
    with pytest.raises(ValueError, match="with_cls_token must be True"):
        t2t_vit_tiny_test(with_cls_token=False)


def test_it_reduces_the_image_16_times_in_three_soft_splits():
    module = T2TModule(img_size=64, embed_dims=16, token_dims=8)
    tokens, size = module(torch.randn(1, 3, 64, 64))
    assert size == (4, 4) and tuple(tokens.shape) == (1, 16, 16)
    assert module.attention1.attn.qkv.in_features == 3 * 7 * 7  # values are the residual: sizes differ


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(t2t_vit_tiny_test().state_dict())
    assert {"cls_token", "pos_embed", "norm.weight", "tokens_to_token.project.weight",
            "tokens_to_token.attention1.ln1.weight", "tokens_to_token.attention1.attn.qkv.weight",
            "encoder.0.ln2.weight", "encoder.1.attn.proj.bias", "encoder.1.ffn.layers.0.0.weight",
            "encoder.1.ffn.layers.1.weight"} <= names
    assert "encoder.0.attn.qkv.bias" not in names  # qkv_bias=False as MMCls


def test_it_loads_its_state_dict_and_resizes_a_pos_embed_of_another_size():
    source = t2t_vit_tiny_test().eval()
    target = t2t_vit_tiny_test().eval()
    target.load_state_dict(source.state_dict())
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(source(x)[0][1], target(x)[0][1])
    bigger = t2t_vit_tiny_test(img_size=64).state_dict()
    target.load_state_dict(bigger)  # 4x4 grid resized to 2x2 by the load hook
    assert tuple(target.pos_embed.shape) == (1, 5, 32)


def test_it_builds_the_sinusoid_table():
    table = get_sinusoid_encoding(3, 4)
    assert tuple(table.shape) == (1, 3, 4)
    torch.testing.assert_close(table[0, 0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(table[0, 1, 0], torch.sin(torch.tensor(1.0)))
