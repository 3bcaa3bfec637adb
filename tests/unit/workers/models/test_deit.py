"""DeiT specs: the distilled models the zoo test skips (the seed repeats the non-distilled parameter counts)."""

from __future__ import annotations

import pytest

import jobspecs
from workers.models.complexity import build_meta_model, get_model_complexity_info


@pytest.mark.parametrize(("spec", "plain", "flops"), [
    ("deit/deit-tiny-distilled_pt-4xb256_in1k.py", "deit/deit-tiny_pt-4xb256_in1k.py", 1.08e9),
    ("deit/deit-small-distilled_pt-4xb256_in1k.py", "deit/deit-small_pt-4xb256_in1k.py", 4.24e9),
])
def test_it_builds_distilled_deit_with_the_published_flops_and_one_more_token_and_classifier(spec, plain, flops):
    distilled = jobspecs.load_library(spec)["model"]
    measured, params = get_model_complexity_info(build_meta_model(distilled), (3, 224, 224))
    assert abs(measured / flops - 1) < 0.05
    _, plain_params = get_model_complexity_info(build_meta_model(jobspecs.load_library(plain)["model"]),
                                                (3, 224, 224))
    dims = distilled["head"]["in_channels"]
    # dist_token, one more pos_embed row, head_dist (dims x 1000 + 1000)
    assert params - plain_params == dims + dims + dims * 1000 + 1000
