"""The library's MobileNetV2 and ViT specs build (on the meta device) with the Model Zoo's parameter counts."""

from __future__ import annotations

import pytest
import torch

import jobspecs
from workers.models import build_model
from workers.registry import check_spec_types

# The seed's Model Zoo (section 45.2.2 and the MobileNetV2 table), in millions of parameters.
ZOO = {
    "mobilenet_v2/mobilenet-v2_8xb32_in1k.py": 3.5,
    "vision_transformer/vit-base-p16_ft-64xb64_in1k-384.py": 86.86,
    "vision_transformer/vit-base-p32_ft-64xb64_in1k-384.py": 88.30,
    "vision_transformer/vit-large-p16_ft-64xb64_in1k-384.py": 304.72,
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_it_builds_the_library_spec_with_the_model_zoo_parameter_count(name):
    spec = jobspecs.load_library(name)
    assert [i.message for i in check_spec_types(spec) if i.path[0] == "model"] == []
    with torch.device("meta"):
        model = build_model(spec["model"])
    assert abs(sum(p.numel() for p in model.parameters()) / (ZOO[name] * 1e6) - 1) < 0.01
