"""The processing and formatting transforms MMCls 0.25 lists beyond the basic pipeline (seed 60.2, 60.3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from workers.data.transforms import Compose
from workers.registry import TRANSFORMS

torch.set_num_threads(1)


def _run(cfg: dict, img: np.ndarray) -> dict:
    return TRANSFORMS.build(cfg)({"img": img, "img_shape": img.shape})


def _image(height: int = 8, width: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8)


def test_it_pads_to_a_size_or_a_square_at_the_bottom_right():
    img = _image(4, 6)
    padded = _run({"type": "Pad", "size": (5, 7), "pad_val": 9}, img)
    assert padded["img_shape"] == (5, 7, 3)
    # one number fills the first channel and zeros the others, as MMCls's (OpenCV's scalar (9, 0, 0, 0))
    assert np.array_equal(padded["img"][:4, :6], img) and (padded["img"][4] == [9, 0, 0]).all()
    flat = _run({"type": "Pad", "size": (5, 7), "pad_val": (9, 9, 9)}, img)
    assert (flat["img"][4] == 9).all()
    assert _run({"type": "Pad", "pad_to_square": True}, img)["img"].shape == (6, 6, 3)
    with pytest.raises(ValueError, match="only one of size and pad_to_square"):
        TRANSFORMS.build({"type": "Pad", "size": (5, 5), "pad_to_square": True})


def test_it_flips_vertically_and_diagonally():
    img = _image()
    assert np.array_equal(_run({"type": "RandomFlip", "flip_prob": 1, "direction": "vertical"}, img)["img"],
                          img[::-1])
    diagonal = _run({"type": "RandomFlip", "flip_prob": 1, "direction": "diagonal"}, img)
    assert diagonal["flip_direction"] == "diagonal" and np.array_equal(diagonal["img"], img[::-1, ::-1])
    assert _run({"type": "RandomFlip", "flip_prob": 0}, img)["flip"] is False


def test_it_turns_images_gray_with_three_equal_channels():
    img = _image()
    gray = _run({"type": "RandomGrayscale", "gray_prob": 1.0}, img)["img"]
    assert gray.shape == img.shape and gray.dtype == np.uint8
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    # mmcv.rgb2gray: 0.299 * first + 0.587 * second + 0.114 * third channel
    expected = np.rint(img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114)
    assert np.abs(gray[..., 0].astype(int) - expected).max() <= 1
    assert np.array_equal(_run({"type": "RandomGrayscale", "gray_prob": 0.0}, img)["img"], img)


def test_it_erases_one_box_with_the_fill_colour():
    np.random.seed(0)
    img = np.zeros((20, 20, 3), dtype=np.uint8)
    erased = _run({"type": "RandomErasing", "erase_prob": 1.0, "min_area_ratio": 0.1, "max_area_ratio": 0.2,
                   "fill_color": (1, 2, 3)}, img)["img"]
    rows, cols = np.nonzero(erased[..., 0])
    area = len(rows)
    assert 0.05 * 400 <= area <= 0.25 * 400
    assert area == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # one rectangle
    assert erased[rows[0], cols[0]].tolist() == [1, 2, 3]
    noisy = _run({"type": "RandomErasing", "erase_prob": 1.0, "mode": "rand"}, img)["img"]
    assert len(np.unique(noisy)) > 2 and img.sum() == 0  # the input is not modified
    with pytest.raises(ValueError, match="'const', 'rand'"):
        TRANSFORMS.build({"type": "RandomErasing", "mode": "pixel"})


def test_it_jitters_colour_within_the_given_range():
    img = _image()
    assert np.array_equal(_run({"type": "ColorJitter", "brightness": 0, "contrast": 0, "saturation": 0}, img)["img"],
                          img)
    np.random.seed(1)
    flat = np.full((4, 4, 3), 100, dtype=np.uint8)
    values = {int(_run({"type": "ColorJitter", "brightness": 0.5, "contrast": 0, "saturation": 0},
                       flat)["img"][0, 0, 0]) for _ in range(30)}
    assert len(values) > 5 and min(values) >= 50 and max(values) <= 150


def test_it_adds_pca_lighting_noise_as_float():
    np.random.seed(0)
    img = np.full((2, 2, 3), 100, dtype=np.uint8)
    img[..., 0] = 10  # blue, in BGR
    out = _run({"type": "Lighting", "eigval": [55.46, 4.794, 1.148],
                "eigvec": [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]},
               img)["img"]
    assert out.dtype == np.float32 and out.shape == (2, 2, 3)
    assert np.allclose(out[..., 2], 10, atol=20)  # to_rgb moved blue last
    assert not np.allclose(out, out.round())  # noise was added
    same = _run({"type": "Lighting", "eigval": [1, 1, 1], "eigvec": np.eye(3).tolist(), "alphastd": 0.0,
                 "to_rgb": False}, img)["img"]
    assert np.array_equal(same, img.astype(np.float32))


def test_it_refuses_albu_clearly_without_albumentations():
    try:
        import albumentations  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install albumentations"):
            TRANSFORMS.build({"type": "Albu", "transforms": [{"type": "Blur"}]})
    else:  # pragma: no cover - not installed in CI
        out = _run({"type": "Albu", "transforms": [{"type": "HorizontalFlip", "p": 1.0}]}, _image())
        assert out["img"].shape == (8, 10, 3)


def test_it_converts_to_pil_and_back_and_transposes():
    img = _image()
    pipeline = Compose([{"type": "ToPIL"}, {"type": "ToNumpy"}, {"type": "Transpose", "keys": ["img"],
                                                                 "order": (2, 0, 1)}])
    to_pil = TRANSFORMS.build({"type": "ToPIL"})({"img": img})
    assert isinstance(to_pil["img"], Image.Image) and to_pil["img"].size == (10, 8)
    out = pipeline({"img": img})["img"]
    assert out.dtype == np.float32 and out.shape == (3, 8, 10) and np.array_equal(out[0], img[..., 0])
    tensor = TRANSFORMS.build({"type": "Transpose", "keys": ["x"], "order": (1, 0)})({"x": torch.zeros(2, 5)})
    assert tensor["x"].shape == (5, 2)


def test_it_crops_efficientnet_style_or_falls_back_to_the_padded_centre():
    np.random.seed(0)
    img = _image(40, 60)
    out = _run({"type": "RandomResizedCrop", "size": 16, "efficientnet_style": True}, img)
    assert out["img"].shape == (16, 16, 3) and out["img_shape"] == (16, 16, 3)
    # scale out of reach: every attempt fails and the centre 16/(16+32) of the short side is taken
    box = TRANSFORMS.get("RandomResizedCrop").get_params_efficientnet_style(
        img, (16, 16), scale=(1.0, 1.0), ratio=(3.0, 4.0), max_attempts=3)
    assert box == (13, 23, 25, 35)
    with pytest.raises(ValueError, match="int size"):
        TRANSFORMS.build({"type": "RandomResizedCrop", "size": (16, 16), "efficientnet_style": True})


def test_it_adds_the_resize_and_crop_keys_of_section_7_1():
    img = _image(20, 40)
    resized = _run({"type": "Resize", "size": (10, -1)}, img)
    assert resized["img_shape"] == (10, 20, 3) and resized["pad_shape"] == (10, 20, 3)
    assert resized["scale"] == (20, 10) and resized["scale_idx"] is None and resized["keep_ratio"] is True
    assert resized["scale_factor"].tolist() == [0.5, 0.5, 0.5, 0.5]
    cropped = _run({"type": "RandomCrop", "size": 8, "padding": 1}, img)
    assert cropped["pad_shape"] == (8, 8, 3) and cropped["img_shape"] == (8, 8, 3)
