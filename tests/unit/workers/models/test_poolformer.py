"""PoolFormer: outputs of MMCls's seven network entries, frozen entries, and MMCls checkpoint key names."""

from __future__ import annotations

import torch

from tests.support.mmcls_keys import poolformer_to_mmcls as _to_mmcls
from workers.models import build_model
from workers.models.backbones.poolformer import poolformer_tiny_test

TINY = {"layers": [1, 1, 1, 1], "embed_dims": [8, 16, 24, 32], "mlp_ratios": [4, 4, 4, 4],
        "layer_scale_init_value": 1e-5}


def test_it_returns_normalised_outputs_of_stages_and_downsamplings():
    outs = poolformer_tiny_test(out_indices=(0, 1, 2, 4, -1))(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 16, 8, 8), (2, 24, 4, 4),
                                              (2, 32, 2, 2)]


def test_it_freezes_the_stem_and_first_network_entries_even_after_train():
    backbone = poolformer_tiny_test(frozen_stages=2, out_indices=(0, 6)).train()
    frozen = [backbone.stem, backbone.stages[0].blocks, backbone.stages[1].downsample, backbone.norm0]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen)
    assert all(p.requires_grad for p in backbone.stages[1].blocks.parameters())
    assert all(p.requires_grad for p in poolformer_tiny_test().parameters())


def test_it_loads_a_state_dict_with_mmcls_key_names():
    source = poolformer_tiny_test()
    mmcls = {_to_mmcls(k): v for k, v in source.state_dict().items()}
    assert {"patch_embed.proj.weight", "network.0.0.layer_scale_1", "network.3.proj.bias",
            "network.6.0.mlp.fc2.weight", "norm6.weight"} <= set(mmcls)
    assert source.convert_mmcls_state_dict(mmcls).keys() == source.state_dict().keys()
    classifier = build_model({"type": "ImageClassifier", "backbone": {"type": "PoolFormer", "arch": TINY},
                              "neck": {"type": "GlobalAveragePooling"},
                              "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 32}})
    head = {f"head.{k}": v for k, v in classifier.head.state_dict().items()}
    classifier.load_state_dict({**{f"backbone.{k}": v for k, v in mmcls.items()}, **head})
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(classifier.backbone(x)[0], source(x)[0])
