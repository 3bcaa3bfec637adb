"""CSRA: the VOC spec builds a ResNet-101 whose feature map goes straight to the CSRA head (no neck)."""

from __future__ import annotations

import copy

import torch

from jobspecs import load_library
from workers.models import build_model

SPEC = "csra/resnet101-csra_1xb16_voc07-448px.py"


def _model_cfg() -> dict:
    cfg = copy.deepcopy(load_library(SPEC)["model"])
    cfg["backbone"].pop("init_cfg")  # a Pretrained URL: nothing is downloaded in tests
    return cfg


def test_it_builds_the_spec_with_twenty_multi_label_scores_at_448():
    with torch.device("meta"):
        model = build_model(_model_cfg())
        scores = model.head(model.extract_feat(torch.empty(2, 3, 448, 448)))
    assert getattr(model, "neck", None) is None
    assert scores.shape == (2, 20)
    assert sum(p.numel() for p in model.head.parameters()) == 20 * 2048


def test_it_trains_a_small_backbone_with_the_spec_head_on_multi_label_targets():
    cfg = _model_cfg()
    cfg["backbone"].update(depth=18)
    cfg["head"].update(in_channels=512, num_heads=2)
    model = build_model(cfg)
    gt = torch.tensor([[1, 0] + [0] * 18, [0, 1] + [1] * 18])
    losses = model.forward_train(torch.randn(2, 3, 64, 64), gt_label=gt)
    assert torch.isfinite(losses["loss"]).all()
