"""AutoAugment, RandAugment and their policy operations on uint8 images (seed 60.2.12)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from workers.registry import TRANSFORMS

torch.set_num_threads(1)


def _apply(cfg: dict, img: np.ndarray) -> np.ndarray:
    return TRANSFORMS.build(cfg)({"img": img.copy()})["img"]


def _ramp() -> np.ndarray:
    """Values 0..255 along the width, the same in each channel: 4x256x3."""
    return np.repeat(np.tile(np.arange(256, dtype=np.uint8), (4, 1))[..., None], 3, axis=2)


def test_it_solarizes_only_at_or_above_the_threshold():
    out = _apply({"type": "Solarize", "thr": 128, "prob": 1.0}, _ramp())[0, :, 0]
    assert out[:128].tolist() == list(range(128))
    assert out[128:].tolist() == [255 - v for v in range(128, 256)]
    assert np.array_equal(_apply({"type": "Solarize", "thr": 256, "prob": 1.0}, _ramp()), _ramp())
    added = _apply({"type": "SolarizeAdd", "magnitude": 100, "thr": 128, "prob": 1.0}, _ramp())[0, :, 0]
    assert added[[0, 127, 128, 255]].tolist() == [100, 227, 128, 255] and added.dtype == np.uint8


def test_it_posterizes_inverts_and_stretches_contrast():
    ramp = _ramp()
    posterized = _apply({"type": "Posterize", "bits": 1.5, "prob": 1.0}, ramp)  # 1.5 rounds up to 2 bits
    assert sorted(np.unique(posterized).tolist()) == [0, 64, 128, 192]
    assert np.array_equal(_apply({"type": "Invert", "prob": 1.0}, ramp), 255 - ramp)
    narrow = (ramp // 4 + 50).astype(np.uint8)  # values 50..113
    stretched = _apply({"type": "AutoContrast", "prob": 1.0}, narrow)
    # MMCls's table is v * scale - low * scale in float64, truncated: its top here is 254.99999..., so 254
    assert stretched.min() == 0 and stretched.max() == 254
    equalized = _apply({"type": "Equalize", "prob": 1.0}, narrow)
    assert equalized.max() > 200 and equalized.dtype == np.uint8
    with pytest.raises(ValueError, match="less than 8"):
        TRANSFORMS.build({"type": "Posterize", "bits": 9})


def test_it_changes_brightness_contrast_colour_and_sharpness_by_one_plus_magnitude():
    img = np.random.RandomState(0).randint(0, 256, (8, 8, 3), dtype=np.uint8)
    for op in ("Brightness", "Contrast", "ColorTransform", "Sharpness"):
        unchanged = _apply({"type": op, "magnitude": 0.0, "prob": 1.0}, img)
        assert np.array_equal(unchanged, img), op
    darker = _apply({"type": "Brightness", "magnitude": 0.5, "prob": 1.0, "random_negative_prob": 1.0}, img)
    assert np.array_equal(darker, (img * 0.5).astype(np.uint8))
    flat = _apply({"type": "Contrast", "magnitude": 1.0, "prob": 1.0, "random_negative_prob": 1.0}, img)
    assert len(np.unique(flat)) == 1  # factor 0: the mean grey
    gray = _apply({"type": "ColorTransform", "magnitude": 1.0, "prob": 1.0, "random_negative_prob": 1.0}, img)
    assert (gray[..., 0] == gray[..., 1]).all()  # factor 0: no colour left


def test_it_shears_translates_and_rotates_filling_with_pad_val():
    img = np.zeros((10, 10, 3), dtype=np.uint8)
    img[0, 9] = 255
    rotated = _apply({"type": "Rotate", "angle": 90, "prob": 1.0, "random_negative_prob": 0.0, "pad_val": 7}, img)
    assert rotated[9, 9].tolist() == [255, 255, 255]  # clockwise: top-right goes to bottom-right
    moved = _apply({"type": "Translate", "magnitude": 0.5, "prob": 1.0, "random_negative_prob": 0.0,
                    "pad_val": (1, 2, 3)}, img)
    assert moved[0, :5].tolist() == [[1, 2, 3]] * 5 and moved[0, 4].tolist() == [1, 2, 3]
    sheared = _apply({"type": "Shear", "magnitude": 0.3, "prob": 1.0, "direction": "vertical",
                      "interpolation": "nearest", "pad_val": 5}, img)
    assert sheared.shape == img.shape and (sheared == 5).any()
    assert np.array_equal(_apply({"type": "Shear", "magnitude": 0.3, "prob": 0.0}, img), img)
    with pytest.raises(ValueError, match="horizontal"):
        TRANSFORMS.build({"type": "Shear", "magnitude": 0.3, "direction": "diagonal"})


def test_it_cuts_out_a_box_of_pad_val():
    np.random.seed(0)
    img = np.zeros((12, 12, 3), dtype=np.uint8)
    out = _apply({"type": "Cutout", "shape": (3, 4), "pad_val": 9, "prob": 1.0}, img)
    rows, cols = np.nonzero(out[..., 0] == 9)
    assert 0 < len(rows) <= 12 and rows.max() - rows.min() < 3 and cols.max() - cols.min() < 4


def test_it_autoaugments_with_one_listed_policy_per_image():
    policies = [[{"type": "Invert", "prob": 1.0}],
                [{"type": "Solarize", "thr": 0, "prob": 1.0}, {"type": "Posterize", "bits": 1, "prob": 1.0}]]
    augment = TRANSFORMS.build({"type": "AutoAugment", "policies": policies})
    ramp = _ramp()
    invert, solarize_posterize = 255 - ramp, ((255 - ramp) >> 7) << 7
    random.seed(0)  # MMCls picks the policy with Python's random.choice
    np.random.seed(0)
    seen = []
    for _ in range(20):
        out = augment({"img": ramp.copy()})["img"]
        seen.append(0 if np.array_equal(out, invert) else 1 if np.array_equal(out, solarize_posterize) else None)
    assert set(seen) == {0, 1}
    shear = TRANSFORMS.build({"type": "AutoAugment", "policies": [[{"type": "Shear", "magnitude": 0.1}]]})
    assert shear.policies[0][0]["pad_val"] == 128  # hparams fill what the op takes...
    assert "pad_val" not in augment.policies[0][0]  # ...and nothing else
    with pytest.raises(ValueError, match="non-empty list"):
        TRANSFORMS.build({"type": "AutoAugment", "policies": [[]]})


def test_it_randaugments_with_magnitudes_from_the_level():
    policies = [{"type": "Brightness", "magnitude_key": "magnitude", "magnitude_range": (0, 0.9), "prob": 1.0,
                 "random_negative_prob": 0.0},
                {"type": "Posterize", "magnitude_key": "bits", "magnitude_range": (4, 0), "prob": 1.0}]
    augment = TRANSFORMS.build({"type": "RandAugment", "policies": policies, "num_policies": 1,
                                "magnitude_level": 10, "total_level": 30})
    flat = np.full((2, 2, 3), 100, dtype=np.uint8)
    random.seed(3)  # MMCls picks operations and levels with Python's random
    np.random.seed(3)
    outputs = {int(augment({"img": flat.copy()})["img"][0, 0, 0]) for _ in range(20)}
    # Brightness: 1 + 10/30 * 0.9 = 1.3 -> 130; Posterize: 4 - 10/30 * 4 -> ceil(2.67) = 3 bits -> 96
    assert outputs == {130, 96}
    noisy = TRANSFORMS.build({"type": "RandAugment", "policies": policies[:1], "num_policies": 2,
                              "magnitude_level": 10, "magnitude_std": "inf"})
    assert {int(noisy({"img": flat.copy()})["img"][0, 0, 0]) for _ in range(10)} - {130} != set()
    with pytest.raises(ValueError, match="magnitude_range"):
        TRANSFORMS.build({"type": "RandAugment", "policies": [{"type": "Brightness", "magnitude_key": "magnitude"}],
                          "num_policies": 1, "magnitude_level": 9})


# MMCls 0.25's ``_base_/datasets/pipelines/rand_aug.py`` (rand_increasing_policies)
RAND_INCREASING_POLICIES = [
    {"type": "AutoContrast"},
    {"type": "Equalize"},
    {"type": "Invert"},
    {"type": "Rotate", "magnitude_key": "angle", "magnitude_range": (0, 30)},
    {"type": "Posterize", "magnitude_key": "bits", "magnitude_range": (4, 0)},
    {"type": "Solarize", "magnitude_key": "thr", "magnitude_range": (256, 0)},
    {"type": "SolarizeAdd", "magnitude_key": "magnitude", "magnitude_range": (0, 110)},
    {"type": "ColorTransform", "magnitude_key": "magnitude", "magnitude_range": (0, 0.9)},
    {"type": "Contrast", "magnitude_key": "magnitude", "magnitude_range": (0, 0.9)},
    {"type": "Brightness", "magnitude_key": "magnitude", "magnitude_range": (0, 0.9)},
    {"type": "Sharpness", "magnitude_key": "magnitude", "magnitude_range": (0, 0.9)},
    {"type": "Shear", "magnitude_key": "magnitude", "magnitude_range": (0, 0.3), "direction": "horizontal"},
    {"type": "Shear", "magnitude_key": "magnitude", "magnitude_range": (0, 0.3), "direction": "vertical"},
    {"type": "Translate", "magnitude_key": "magnitude", "magnitude_range": (0, 0.45), "direction": "horizontal"},
    {"type": "Translate", "magnitude_key": "magnitude", "magnitude_range": (0, 0.45), "direction": "vertical"},
    {"type": "Cutout", "shape": 8},
]


def test_it_runs_mmcls_rand_increasing_policies_with_hparams():
    augment = TRANSFORMS.build({"type": "RandAugment", "policies": RAND_INCREASING_POLICIES, "num_policies": 2,
                                "total_level": 10, "magnitude_level": 9, "magnitude_std": 0.5,
                                "hparams": {"pad_val": [104, 116, 124], "interpolation": "bicubic"}})
    rotate = next(p for p in augment.policies if p["type"] == "Rotate")
    assert rotate["pad_val"] == [104, 116, 124] and rotate["interpolation"] == "bicubic"
    assert "interpolation" not in next(p for p in augment.policies if p["type"] == "Cutout")
    random.seed(0)
    np.random.seed(0)
    img = np.random.RandomState(1).randint(0, 256, (32, 40, 3), dtype=np.uint8)
    changed = 0
    for _ in range(40):
        out = augment({"img": img.copy()})["img"]
        assert out.shape == img.shape and out.dtype == np.uint8
        changed += not np.array_equal(out, img)
    assert changed > 20
