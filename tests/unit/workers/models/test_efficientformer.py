"""EfficientFormer: stage outputs, frozen stages, its distillation head, and MMCls checkpoint key names."""

from __future__ import annotations

import pickle

import pytest
import torch

from tests.support.mmcls_keys import efficientformer_to_mmcls as _to_mmcls
from workers.models import build_model
from workers.models.backbones.efficientformer import efficientformer_tiny_test

TINY = {"layers": [1, 1, 1, 2], "embed_dims": [8, 16, 24, 32], "downsamples": [False, True, True, True],
        "vit_num": 1}


def test_it_returns_maps_then_the_last_stage_tokens():
    outs = efficientformer_tiny_test(out_indices=(0, 1, 2, 3)).eval()(torch.randn(2, 3, 224, 224))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 56, 56), (2, 16, 28, 28), (2, 24, 14, 14), (2, 32, 49)]
    reshaped = efficientformer_tiny_test(reshape_last_feat=True).eval()(torch.randn(1, 3, 224, 224))
    assert reshaped[0].shape == (1, 32, 7, 7)


def test_it_freezes_the_stem_and_first_stages_even_after_train():
    backbone = efficientformer_tiny_test(frozen_stages=2, out_indices=(0, 3)).train()
    frozen = [backbone.stem, backbone.stages[0], backbone.stages[1], backbone.norm0]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen)
    assert all(p.requires_grad for p in backbone.stages[2].parameters())
    assert all(p.requires_grad for p in efficientformer_tiny_test().parameters())


def test_it_loads_a_state_dict_with_mmcls_key_names():
    source = efficientformer_tiny_test()
    mmcls = {_to_mmcls(k): v for k, v in source.state_dict().items()}
    assert {"patch_embed.1.bn.running_var", "network.0.0.ls1.weight", "network.2.0.bn.weight",
            "network.3.1.mlp.norm1.weight", "network.3.3.token_mixer.attention_biases", "norm3.weight"} <= set(mmcls)
    assert source.convert_mmcls_state_dict(mmcls).keys() == source.state_dict().keys()
    classifier = build_model({"type": "ImageClassifier", "backbone": {"type": "EfficientFormer", "arch": TINY},
                              "neck": {"type": "GlobalAveragePooling", "dim": 1},
                              "head": {"type": "EfficientFormerClsHead", "num_classes": 3, "in_channels": 32}})
    head = {f"head.{k}": v for k, v in classifier.head.state_dict().items()}
    classifier.load_state_dict({**{f"backbone.{k}": v for k, v in mmcls.items()}, **head})
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(classifier.backbone.eval()(x)[0], source.eval()(x)[0])


def test_its_head_averages_the_two_classifiers_and_refuses_distilled_training():
    head = build_model({"type": "EfficientFormerClsHead", "num_classes": 3, "in_channels": 4})
    x = torch.randn(2, 4)
    torch.testing.assert_close(head(x), (head.head(x) + head.dist_head(x)) / 2)
    with pytest.raises(NotImplementedError, match="distilled"):
        head.forward_train(x, torch.tensor([0, 1]))
    plain = build_model({"type": "EfficientFormerClsHead", "num_classes": 3, "in_channels": 4,
                         "distillation": False})
    assert "loss" in plain.forward_train((x,), torch.tensor([0, 1]))


def test_it_stays_picklable_with_its_key_hook():
    source = efficientformer_tiny_test()
    copy = pickle.loads(pickle.dumps(source))
    copy.load_state_dict({_to_mmcls(k): v for k, v in source.state_dict().items()})
