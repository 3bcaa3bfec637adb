"""Twins PCPVT/SVT (timm's layers, MMCls's arguments): outputs, norms after stages, MMCls checkpoint names."""

from __future__ import annotations

import pickle

import pytest
import torch

from tests.support.mmcls_keys import twins_to_mmcls as _to_mmcls_names
from workers.models import load_weights
from workers.models.backbones.twins import pcpvt_tiny_test, svt_tiny_test


@pytest.mark.parametrize("factory", [pcpvt_tiny_test, svt_tiny_test])
def test_it_returns_one_map_per_out_index(factory):
    model = factory(norm_after_stage=[False, True]).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 32, 4, 4)]
    assert isinstance(model.norm_after_stage0, torch.nn.Identity)
    assert isinstance(model.norm_after_stage1, torch.nn.LayerNorm)
    assert not any(k.startswith(("head", "norm.")) for k in model.state_dict())


def test_it_uses_local_attention_in_the_even_layers_of_svt():
    model = svt_tiny_test()
    assert hasattr(model.blocks[0][0].attn, "qkv") and hasattr(model.blocks[0][1].attn, "kv")
    assert all(hasattr(block.attn, "kv") for block in pcpvt_tiny_test().blocks[0])


def test_it_drops_the_qkv_bias_unless_asked_for():
    assert pcpvt_tiny_test().blocks[0][0].attn.q.bias is None
    assert pcpvt_tiny_test(qkv_bias=True).blocks[0][0].attn.q.bias is not None
    assert svt_tiny_test().blocks[0][0].attn.qkv.bias is None


@pytest.mark.parametrize("factory", [pcpvt_tiny_test, svt_tiny_test])
def test_it_loads_a_checkpoint_with_mmcls_names(factory):
    source = factory(qkv_bias=True, norm_after_stage=True).eval()
    mmcls = _to_mmcls_names(source.state_dict())
    assert "position_encodings.0.proj.weight" in mmcls and "stages.1.1.ffn.layers.1.weight" in mmcls
    target = factory(qkv_bias=True, norm_after_stage=True).eval()
    target.load_state_dict(mmcls)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(source(x)[1], target(x)[1])
    again = factory(qkv_bias=True, norm_after_stage=True).eval()
    assert load_weights(again, {f"backbone.{k}": v for k, v in mmcls.items()}, prefix="backbone.") == ([], [])


@pytest.mark.parametrize("factory", [pcpvt_tiny_test, svt_tiny_test])
def test_it_pickles_for_whole_model_checkpoints_and_ray(factory):
    assert isinstance(pickle.loads(pickle.dumps(factory())), type(factory()))
