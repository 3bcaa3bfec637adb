"""The data pipeline's fast paths (issue 15) give MMCls's numbers: uint8 normalisation of the views that
flips and crops hand on, the batch normalisation by table lookup, and the contiguous uint8 images that
``ImageToTensor`` hands to the batch when the normalisation is deferred."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from workers.data import Compose, collate, prepare_images
from workers.data.transforms import Normalize
from workers.data.transforms.normalize import DEFERRED_KEY, imnormalize, normalize_tensor

IMAGENET = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}


def _mmcv_imnormalize(img: np.ndarray, mean, std, to_rgb: bool) -> np.ndarray:
    """mmcv 1.7's ``imnormalize`` as it is written: a float32 copy, OpenCV's in-place channel swap,
    subtraction of the float64 mean and multiplication by the float64 ``1 / std``."""
    out = img.copy().astype(np.float32)
    mean64 = np.float64(np.asarray(mean, dtype=np.float32).reshape(1, -1))
    stdinv = 1 / np.float64(np.asarray(std, dtype=np.float32).reshape(1, -1))
    if to_rgb:
        cv2.cvtColor(out, cv2.COLOR_BGR2RGB, out)
    cv2.subtract(out, mean64, out)
    cv2.multiply(out, stdinv, out)
    return out


def _views(img: np.ndarray) -> dict[str, np.ndarray]:
    return {"as is": img, "horizontal flip": img[:, ::-1], "vertical flip": img[::-1],
            "diagonal flip": img[::-1, ::-1], "flipped crop": img[2:-1, 1:-2][:, ::-1],
            "crop": img[1:-1, 3:], "strided flip": img[::2, ::-1]}


@pytest.mark.parametrize("to_rgb", [True, False])
def test_it_normalises_flipped_and_cropped_colour_views_as_mmcv(to_rgb):
    values = np.arange(256, dtype=np.uint8)
    rng = np.random.RandomState(11)
    img = np.stack([rng.permutation(values), values, values[::-1]], axis=1).reshape(16, 16, 3)
    img = np.concatenate([img, rng.randint(0, 256, (16, 16, 3)).astype(np.uint8)], axis=1)  # 16 x 32
    for name, view in _views(img).items():
        got = imnormalize(view, IMAGENET["mean"], IMAGENET["std"], to_rgb)
        assert got.dtype == np.float32 and got.shape == view.shape and got.flags.c_contiguous, name
        assert np.array_equal(got, _mmcv_imnormalize(view, IMAGENET["mean"], IMAGENET["std"], to_rgb)), name


@pytest.mark.parametrize("shape", [(12, 10), (12, 10, 1), (12, 10, 4)])
def test_it_normalises_grey_and_four_channel_views_like_their_float_copies(shape):
    img = np.random.RandomState(12).randint(0, 256, shape).astype(np.uint8)
    channels = 1 if len(shape) == 2 else shape[2]
    mean, std = [100.5] * channels, [60.25] * channels
    for name, view in _views(img).items():
        got = imnormalize(view, mean, std, True)
        expected = imnormalize(view.astype(np.float32), mean, std, True)  # the float32 path, unchanged
        assert got.shape == view.shape and np.array_equal(got, expected), name


@pytest.mark.parametrize("to_rgb", [True, False])
def test_it_looks_up_a_uint8_batch_to_the_numbers_of_the_arithmetic(to_rgb):
    """A contiguous uint8 CPU batch is normalised by table lookup; its numbers equal those of the float32
    arithmetic path (a non-contiguous batch takes that one) over every uint8 value in every channel."""
    values = np.arange(256, dtype=np.uint8)
    planes = np.stack([values, values[::-1], np.random.RandomState(13).permutation(values)])  # 3 x 256
    batch = torch.from_numpy(np.ascontiguousarray(np.tile(planes.reshape(1, 3, 16, 16), (2, 1, 4, 4))))  # 2x3x64x64
    strided = batch.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # same values, channel-last memory
    assert batch.is_contiguous() and not strided.is_contiguous()
    looked_up = normalize_tensor(batch, IMAGENET["mean"], IMAGENET["std"], to_rgb, 1)
    computed = normalize_tensor(strided, IMAGENET["mean"], IMAGENET["std"], to_rgb, 1)
    assert looked_up.dtype == torch.float32 and looked_up.is_contiguous()
    assert torch.equal(looked_up, computed)
    per_image = [imnormalize(img.permute(1, 2, 0).numpy(), IMAGENET["mean"], IMAGENET["std"], to_rgb) for img in batch]
    assert torch.equal(looked_up, torch.from_numpy(np.stack(per_image)).permute(0, 3, 1, 2))


def test_it_looks_up_grey_batches_with_one_mean():
    batch = torch.from_numpy(np.random.RandomState(14).randint(0, 256, (3, 1, 40, 40)).astype(np.uint8))
    looked_up = normalize_tensor(batch, [127.5], [60.0], False, None)
    assert torch.equal(looked_up, (batch.float() - 127.5) / 60.0)


def test_it_hands_the_batch_contiguous_uint8_images_with_the_flipped_ones_in_place():
    pipeline = Compose([{"type": "Normalize", **IMAGENET}, {"type": "ImageToTensor", "keys": ["img"]},
                        {"type": "Collect", "keys": ["img"]}], fuse_normalize=True)
    img = np.random.RandomState(15).randint(0, 256, (20, 24, 3)).astype(np.uint8)
    plain = Compose([{"type": "Normalize", **IMAGENET}, {"type": "ImageToTensor", "keys": ["img"]},
                     {"type": "Collect", "keys": ["img"]}])
    samples = [pipeline({"img": view}) for view in (img, img[:, ::-1], img[3:15, 2:20][:, ::-1])]
    for sample in samples:
        assert sample["img"].dtype == torch.uint8 and sample["img"].is_contiguous()
    assert torch.equal(samples[1]["img"], torch.from_numpy(img[:, ::-1].copy()).permute(2, 0, 1))
    batch = collate(samples[:2])
    expected = torch.stack([plain({"img": img})["img"], plain({"img": img[:, ::-1]})["img"]])
    assert torch.equal(prepare_images(batch), expected)


def test_it_shares_one_deferred_normalisation_and_follows_a_changed_mean():
    norm = Normalize(**IMAGENET)
    norm.deferred = True
    img = np.random.RandomState(16).randint(0, 256, (6, 5, 3)).astype(np.uint8)
    first, second = norm({"img": img})[DEFERRED_KEY], norm({"img": img.copy()})[DEFERRED_KEY]
    assert first is second
    norm.mean = np.array([0.0, 0.0, 0.0], dtype=np.float32)
    changed = norm({"img": img})[DEFERRED_KEY]
    assert changed.mean == (0.0, 0.0, 0.0) and first.mean == tuple(np.float32(IMAGENET["mean"]).tolist())


def test_it_still_refuses_a_mean_that_does_not_fit_the_image_when_deferred():
    norm = Normalize(**IMAGENET)
    norm.deferred = True
    with pytest.raises(ValueError, match="a single-channel image needs one mean/std value"):
        norm({"img": np.zeros((4, 4), dtype=np.uint8)})
