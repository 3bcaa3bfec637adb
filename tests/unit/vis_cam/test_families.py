"""Every backbone family of the library, at its smallest variant with random weights, through its default
target layer with GradCAM: the map is finite, the input's size and not constant.

The input is 64x64 (the families' fixed-size models are built for it), so that the last stage of a stride-32
CNN still has 2x2 positions: at 32x32 it has one, and every map of it is flat whatever the code does.
LeNet-5 is fixed at 32x32 (its classifier takes 120x1x1), EfficientFormer at 224x224 (its attention biases).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import jobspecs
from workers.export.coverage import OVERRIDES, _merge, _no_pretrained, coverage_cases
from workers.models import build_model
from workers.tools.vis_cam import DEFAULT_TARGET_LAYERS, compute_cam, default_target_layers

torch.set_num_threads(1)
SIDE = 64
SIDES = {"lenet": 32, "efficientformer": 224}
CASES = coverage_cases()
# families whose default layer does not give a map yet, with why (none today)
KNOWN_FAILURES: dict[str, str] = {}


def _smallest_model(case):
    spec = jobspecs.load_library(case.spec)
    override = copy.deepcopy(OVERRIDES.get(case.folder, {}))
    if "img_size" in override.get("backbone", {}):
        override["backbone"]["img_size"] = SIDE
    torch.manual_seed(0)
    model = build_model(_no_pretrained(_merge(copy.deepcopy(spec["model"]), override))).eval()
    generator = torch.Generator().manual_seed(1)
    for module in model.head.modules():  # a trained head's scale: scores that differ between classes
        if isinstance(module, torch.nn.Linear):
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / module.in_features ** 0.5)
    return model


def test_every_backbone_type_of_the_library_has_its_own_default():
    types = {jobspecs.load_library(case.spec)["model"]["backbone"]["type"] for case in CASES}
    assert types - set(DEFAULT_TARGET_LAYERS) == set()


@pytest.mark.parametrize("case", CASES, ids=[c.folder for c in CASES])
def test_the_familys_default_layer_gives_a_map(case):
    if case.folder in KNOWN_FAILURES:
        pytest.xfail(KNOWN_FAILURES[case.folder])
    model = _smallest_model(case)
    side = SIDES.get(case.folder, SIDE)
    channels = model.backbone.features[0].in_channels if case.folder == "lenet" else 3
    image = torch.randn((1, channels, side, side), generator=torch.Generator().manual_seed(0))

    result = compute_cam(model, image, method="GradCAM")

    assert result.target_layers == default_target_layers(model)
    cam = result.cams[0]
    assert cam.shape == (side, side)
    assert np.isfinite(cam).all()
    assert cam.max() - cam.min() > 0.5, f"{case.folder}: a flat map at {result.target_layers}"
