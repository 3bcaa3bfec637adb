"""MViT (timm's MViTv2 layers, MMCls's arguments): outputs, parameter counts, MMCls checkpoint names."""

from __future__ import annotations

import pickle
import re

import pytest
import torch

from tests.support.mmcls_keys import mvit_to_mmcls as _to_mmcls_names
from workers.models import build_model, load_weights
from workers.models.backbones.mvit import mvit_tiny_test


def test_it_returns_one_normalised_map_per_out_scale():
    model = mvit_tiny_test().eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 32, 4, 4)]
    assert {"norm0.weight", "norm1.weight"} <= set(model.state_dict())
    assert tuple(mvit_tiny_test(out_scales=-1)(torch.randn(1, 3, 32, 32))[0].shape) == (1, 32, 4, 4)


@pytest.mark.parametrize("dim_mul_in_attention", [True, False])
def test_it_loads_a_checkpoint_with_mmcls_names(dim_mul_in_attention):
    source = mvit_tiny_test(dim_mul_in_attention=dim_mul_in_attention).eval()
    mmcls = _to_mmcls_names(source.state_dict(), [2, 2])
    assert "blocks.3.attn.rel_pos_h" in mmcls and "patch_embed.projection.weight" in mmcls
    assert any(re.match(r"blocks\.\d+\.proj\.weight", k) for k in mmcls)
    target = mvit_tiny_test(dim_mul_in_attention=dim_mul_in_attention).eval()
    target.load_state_dict(mmcls)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(source(x)[1], target(x)[1])
    again = mvit_tiny_test(dim_mul_in_attention=dim_mul_in_attention).eval()
    assert load_weights(again, {"state_dict": mmcls}) == ([], [])


@pytest.mark.parametrize(("arch", "dim_mul_in_attention", "published"), [
    ("tiny", True, 24.17e6), ("small", True, 34.87e6), ("base", True, 51.47e6), ("large", False, 217.99e6),
])
def test_it_has_the_published_parameter_count(arch, dim_mul_in_attention, published):
    # the zoo test skips tiny/small/base (their published FLOPs count the attention matmuls): params here
    channels = 1152 if arch == "large" else 768
    with torch.device("meta"):
        model = build_model({"type": "ImageClassifier",
                             "backbone": {"type": "MViT", "arch": arch,
                                          "dim_mul_in_attention": dim_mul_in_attention},
                             "neck": {"type": "GlobalAveragePooling"},
                             "head": {"type": "LinearClsHead", "num_classes": 1000, "in_channels": channels}})
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / published - 1) < 0.001


def test_it_pickles_for_whole_model_checkpoints_and_ray():
    model = pickle.loads(pickle.dumps(mvit_tiny_test()))
    assert model.training
