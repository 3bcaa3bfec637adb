"""TNT (timm's legacy layout, MMCls's arguments): output, attention bias, MMCls checkpoint names."""

from __future__ import annotations

import pickle

import torch

from tests.support.mmcls_keys import tnt_to_mmcls as _to_mmcls_names
from workers.models import load_weights
from workers.models.backbones.tnt import tnt_tiny_test


def test_it_returns_the_normalised_class_token():
    model = tnt_tiny_test().eval()
    (cls_token,) = model(torch.randn(2, 3, 32, 32))
    assert tuple(cls_token.shape) == (2, 32)
    assert not any(k.startswith("head") for k in model.state_dict())


def test_it_has_no_qkv_bias_by_default_as_mmcls():
    attn = tnt_tiny_test().blocks[0].attn_in.attn
    assert attn.in_proj_bias is None and attn.out_proj.bias is not None
    assert tnt_tiny_test(qkv_bias=True).blocks[0].attn_out.attn.in_proj_bias is not None


def test_it_loads_a_checkpoint_with_mmcls_names():
    source = tnt_tiny_test().eval()
    mmcls = _to_mmcls_names(source.state_dict())
    assert {"layers.0.inner_block.attn.attn.in_proj_weight", "layers.1.outer_block.ffn.layers.1.weight",
            "layers.0.norm_proj.weight", "projection.weight", "pixel_pos"} <= set(mmcls)
    target = tnt_tiny_test().eval()
    target.load_state_dict(mmcls)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(source(x)[0], target(x)[0])
    again = tnt_tiny_test().eval()
    assert load_weights(again, {"state_dict": mmcls}) == ([], [])


def test_it_pickles_for_whole_model_checkpoints_and_ray():
    model = pickle.loads(pickle.dumps(tnt_tiny_test()))
    assert model.training
