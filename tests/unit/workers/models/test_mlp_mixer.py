"""MLP-Mixer: token outputs per layer, and MMCls checkpoint key names loading into the timm modules."""

from __future__ import annotations

import pytest
import torch

from tests.support.mmcls_keys import mlp_mixer_to_mmcls as _to_mmcls
from workers.models import build_model
from workers.models.backbones.mlp_mixer import mlp_mixer_tiny_test

TINY = {"embed_dims": 16, "num_layers": 2, "tokens_mlp_dims": 8, "channels_mlp_dims": 64}


def test_it_returns_channels_by_tokens_for_each_requested_layer():
    outs = mlp_mixer_tiny_test(out_indices=(0, -1))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 16), (2, 16, 16)]
    with pytest.raises(ValueError, match="only accepts"):
        mlp_mixer_tiny_test()(torch.randn(1, 3, 64, 64))


def test_it_loads_a_state_dict_with_mmcls_key_names():
    source = mlp_mixer_tiny_test()
    mmcls = {_to_mmcls(k): v for k, v in source.state_dict().items()}
    assert {"patch_embed.projection.weight", "layers.1.token_mix.layers.0.0.weight", "layers.0.ln2.bias",
            "layers.1.channel_mix.layers.1.bias", "ln1.weight"} <= set(mmcls)
    assert source.convert_mmcls_state_dict(mmcls).keys() == source.state_dict().keys()
    classifier = build_model({"type": "ImageClassifier",
                              "backbone": {"type": "MlpMixer", "arch": TINY, "img_size": 32, "patch_size": 8},
                              "neck": {"type": "GlobalAveragePooling", "dim": 1},
                              "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 16}})
    head = {f"head.{k}": v for k, v in classifier.head.state_dict().items()}
    classifier.load_state_dict({**{f"backbone.{k}": v for k, v in mmcls.items()}, **head})
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(classifier.backbone(x)[0], source(x)[0])
    assert classifier.extract_feat(x)[-1].shape == (1, 16)
