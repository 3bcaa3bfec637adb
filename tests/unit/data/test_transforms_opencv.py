"""The transforms compute as mmcv 1.7 does (OpenCV resampling, float32 blends truncated, Python's ``random``
for MMCls's crops), avoid copies where MMCls's do, and keep Pillow's resampling on ``backend='pillow'``
(issue 15)."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from workers.data.transforms import Compose
from workers.data.transforms import functional as F
from workers.registry import TRANSFORMS

torch.set_num_threads(1)


def _image(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8)


def _run(cfg: dict, img: np.ndarray) -> np.ndarray:
    return TRANSFORMS.build(cfg)({"img": img, "img_shape": img.shape})["img"]


def test_it_resizes_with_opencv_by_default_and_with_pillow_on_request():
    img = _image()
    opencv = _run({"type": "Resize", "size": (30, 40), "interpolation": "bicubic"}, img)
    assert np.array_equal(opencv, cv2.resize(img, (40, 30), interpolation=cv2.INTER_CUBIC))
    pillow = _run({"type": "Resize", "size": (30, 40), "interpolation": "bicubic", "backend": "pillow"}, img)
    assert np.array_equal(pillow, np.asarray(Image.fromarray(img).resize((40, 30), Image.Resampling.BICUBIC)))
    assert not np.array_equal(opencv, pillow)
    box = _run({"type": "Resize", "size": (30, 40), "interpolation": "box", "backend": "pillow"}, img)
    assert box.shape == (30, 40, 3)
    with pytest.raises(ValueError, match="interpolation for backend 'cv2' must be one of"):
        TRANSFORMS.build({"type": "Resize", "size": 8, "interpolation": "box"})
    with pytest.raises(ValueError, match="backend must be 'cv2' or 'pillow'"):
        TRANSFORMS.build({"type": "RandomResizedCrop", "size": 8, "backend": "skimage"})


def test_the_short_side_resize_truncates_the_long_side_as_mmcls():
    out = _run({"type": "Resize", "size": (256, -1)}, _image(333, 500))
    assert out.shape == (256, int(256 * 500 / 333), 3)  # 384.38 -> 384


def test_the_efficientnet_centre_crop_keeps_a_fractional_box_and_truncates_its_far_edge():
    coords = np.stack(np.mgrid[0:100, 0:100][::-1], axis=2).astype(np.uint8)  # channel 0: x, 1: y
    coords = np.dstack([coords, np.zeros((100, 100), np.uint8)])
    out = _run({"type": "CenterCrop", "crop_size": 10, "efficientnet_style": True, "crop_padding": 4,
                "interpolation": "nearest"}, coords)
    # side 10 / 14 * 100 = 71.43: x1 = round(14.29) = 14, x2 = int(14 + 71.43 - 1) = 84
    assert out.shape == (10, 10, 3) and out[..., 0].min() == 14 and out[..., 0].max() <= 84


def test_random_crops_draw_from_pythons_random_as_mmcls():
    img = _image(60, 80)
    for cfg in ({"type": "RandomResizedCrop", "size": 16}, {"type": "RandomCrop", "size": 20},
                {"type": "RandomResizedCrop", "size": 16, "efficientnet_style": True}):
        random.seed(5)
        np.random.seed(1)
        first = _run(cfg, img)
        numpy_state = np.random.get_state()[1].copy()
        random.seed(5)
        np.random.seed(2)  # another numpy stream: the crop must not depend on it
        assert np.array_equal(_run(cfg, img), first), cfg
        np.random.seed(1)
        assert np.array_equal(np.random.get_state()[1], numpy_state), f"{cfg} consumed numpy's generator"


def test_the_random_resized_crop_falls_back_to_the_central_crop_with_floor_division():
    img = _image(21, 80)  # ratio 3.8: wider than 4/3, so the fallback is 28x21, centred by floor division
    box = TRANSFORMS.get("RandomResizedCrop").get_params(img, (1.0, 1.0), (3 / 4, 4 / 3), max_attempts=0)
    assert box == (0, 26, 20, 53)


def test_a_flip_is_a_view_and_the_tensor_step_copies_it_once():
    img = _image()
    np.random.seed(0)
    flipped = Compose([{"type": "RandomFlip", "flip_prob": 1.0}])({"img": img})["img"]
    assert np.shares_memory(flipped, img) and np.array_equal(flipped, img[:, ::-1])
    tensor = Compose([{"type": "RandomFlip", "flip_prob": 1.0},
                      {"type": "ImageToTensor", "keys": ["img"]}])({"img": img})["img"]
    assert tensor.shape == (3, 48, 64) and torch.equal(tensor, torch.from_numpy(img[:, ::-1].transpose(2, 0, 1).copy()))
    assert not np.shares_memory(tensor.numpy(), img)


def test_the_crop_before_the_resize_is_a_view():
    img = _image()
    crop = F.imcrop(img, (3.9, 2, 20.7, 30))  # float corners truncate, as mmcv's int32 cast
    assert np.shares_memory(crop, img) and np.array_equal(crop, img[2:31, 3:21])
    assert np.array_equal(F.imcrop(img, (-5, -5, 500, 500)), img)


@pytest.mark.parametrize("factor", [0.0, 0.45, 0.7, 1.1, 1.3, 1.9])
def test_the_colour_tables_equal_mmcvs_blends_on_the_whole_image(factor):
    img = _image(37, 53, seed=3)
    as_float = img.astype(np.float32)
    blend = cv2.addWeighted(as_float, factor, np.zeros_like(as_float), 1 - factor, 0)
    assert np.array_equal(F.adjust_brightness(img, factor), np.clip(blend, 0, 255).astype(np.uint8))
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    mean = round(int(gray.sum()) / gray.size)
    blend = cv2.addWeighted(as_float, factor, np.full_like(as_float, mean), 1 - factor, 0)
    assert np.array_equal(F.adjust_contrast(img, factor), np.clip(blend, 0, 255).astype(np.uint8))
    grey3 = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(F.adjust_color(img, factor), cv2.addWeighted(img, factor, grey3, 1 - factor, 0))


def test_auto_contrast_truncates_its_float_table_as_mmcv():
    img = np.dstack([np.tile(np.arange(13, 220, dtype=np.uint8), (3, 1))] * 3)
    out = F.auto_contrast(img)
    scale = 255.0 / (219 - 13)
    expected = np.clip(np.arange(13, 220) * scale - 13 * scale, 0, 255).astype(np.uint8)
    assert np.array_equal(out[0, :, 0], expected) and out.dtype == np.uint8


def test_warps_use_opencv_with_the_fill_value():
    img = _image(20, 30)
    sheared = _run({"type": "Shear", "magnitude": 0.25, "prob": 1.0, "random_negative_prob": 0.0,
                    "pad_val": (1, 2, 3), "interpolation": "bilinear"}, img)
    matrix = np.float32([[1, 0.25, 0], [0, 1, 0]])
    expected = cv2.warpAffine(img, matrix, (30, 20), flags=cv2.INTER_LINEAR, borderValue=(1, 2, 3))
    assert np.array_equal(sheared, expected)
    grey = _image(20, 30)[..., 0].copy()
    rotated = _run({"type": "Rotate", "angle": 45.0, "prob": 1.0, "random_negative_prob": 0.0, "pad_val": 9}, grey)
    assert rotated.shape == grey.shape and rotated[0, 0] == 9


def test_random_grayscale_weighs_the_first_channel_as_red_and_keeps_the_channels():
    img = _image()
    random.seed(0)
    out = _run({"type": "RandomGrayscale", "gray_prob": 1.0}, img)
    expected = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    assert out.shape == img.shape and all(np.array_equal(out[..., c], expected) for c in range(3))


def test_pad_leaves_a_side_longer_than_the_target_as_mmcls():
    img = _image(10, 20)
    out = _run({"type": "Pad", "size": (16, 16), "pad_val": (1, 2, 3)}, img)
    assert out.shape == (16, 20, 3) and out[12, 0].tolist() == [1, 2, 3]
    reflected = _run({"type": "Pad", "size": (12, 20), "padding_mode": "reflect"}, img)
    assert np.array_equal(reflected[10], img[8]) and np.array_equal(reflected[11], img[7])


@pytest.mark.parametrize("name", ["Brightness", "Contrast", "Color"])
def test_the_colour_functions_take_pillows_enhancers_on_request(name):
    from PIL import ImageEnhance

    img = _image(20, 30, seed=4)
    function = {"Brightness": F.adjust_brightness, "Contrast": F.adjust_contrast, "Color": F.adjust_color}[name]
    expected = np.asarray(getattr(ImageEnhance, name)(Image.fromarray(img[..., ::-1].copy())).enhance(1.7))
    assert np.array_equal(function(img, 1.7, backend="pillow"), expected[..., ::-1])
    with pytest.raises(ValueError, match="uint8 BGR images only"):
        function(img.astype(np.float32), 1.7, backend="pillow")
