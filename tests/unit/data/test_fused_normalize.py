"""Normalisation fused into the batch: a pipeline whose ``Normalize`` is followed only by formatting steps
leaves its images uint8 through the loader, and ``prepare_images`` normalises the batch to the very same
float32 numbers (bit for bit) that per-image normalisation gives."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tests.support.datasets import write_images
from workers.data import Compose, ConcatDataset, CustomDataset, build_dataloader, collate, prepare_images
from workers.data.transforms import ImageToTensor, Normalize, Transpose
from workers.data.transforms.normalize import DEFERRED_KEY, imnormalize, normalize_tensor

IMAGENET = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}
CIFAR = {"mean": [125.307, 122.961, 113.8575], "std": [51.5865, 50.847, 51.255], "to_rgb": False}


def _pipeline(norm: dict, *, after=("ImageToTensor", "ToTensor", "Collect"), flip: float = 0.5) -> list[dict]:
    steps = [{"type": "LoadImageFromFile"}, {"type": "RandomResizedCrop", "size": 24},
             {"type": "RandomFlip", "flip_prob": flip, "direction": "horizontal"}, {"type": "Normalize", **norm}]
    for name in after:
        steps.append({"ImageToTensor": {"type": "ImageToTensor", "keys": ["img"]},
                      "ToTensor": {"type": "ToTensor", "keys": ["gt_label"]},
                      "Collect": {"type": "Collect", "keys": ["img", "gt_label"]}}.get(name, {"type": name}))
    return steps


@pytest.fixture(scope="module")
def colour_root(tmp_path_factory):
    """``train/{a,b}``: 6 random colour PNGs per class, 32x32."""
    root = tmp_path_factory.mktemp("colour")
    for seed, name in enumerate("ab"):
        write_images(root / "train" / name, 6, size=32, seed=seed)
    return root


def _batches(root, pipeline, *, fuse: bool, workers: int = 0, batch: int = 4, seed: int = 0) -> list[dict]:
    """Every batch of one shuffled pass, with numpy's global RNG (the transforms' randomness) reseeded."""
    dataset = CustomDataset(data_prefix=str(root / "train"), pipeline=pipeline)
    loader = build_dataloader(dataset, batch, workers, shuffle=True, seed=seed, fuse_normalize=fuse)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return list(loader)


@pytest.mark.parametrize("norm", [IMAGENET, CIFAR, {"mean": [0.1, 0.7, 3.3], "std": [0.3, 7.1, 0.77], "to_rgb": True}])
def test_it_gives_per_image_normalisation_bit_for_bit(colour_root, norm):
    unfused = _batches(colour_root, _pipeline(norm), fuse=False)
    fused = _batches(colour_root, _pipeline(norm), fuse=True)

    assert len(fused) == len(unfused) == 3
    for plain, deferred in zip(unfused, fused, strict=True):
        assert plain["img"].dtype == torch.float32 and DEFERRED_KEY not in plain
        assert deferred["img"].dtype == torch.uint8 and deferred["img"].shape == plain["img"].shape
        images = prepare_images(deferred)
        assert images.dtype == torch.float32
        assert torch.equal(images, plain["img"])  # exact: the same float32 operations on the same numbers
        assert torch.equal(deferred["gt_label"], plain["gt_label"])
        # tools that un-normalise still find the normalisation in the metas
        cfg = deferred["img_metas"][0]["img_norm_cfg"]
        assert cfg["to_rgb"] == norm["to_rgb"] and np.allclose(cfg["mean"], norm["mean"])


def test_it_sends_uint8_across_the_worker_boundary(colour_root):
    unfused = _batches(colour_root, _pipeline(IMAGENET, flip=0.0), fuse=False, workers=2)
    fused = _batches(colour_root, _pipeline(IMAGENET, flip=0.0), fuse=True, workers=2)

    for plain, deferred in zip(unfused, fused, strict=True):
        # what the DataLoader yields from its worker processes, before normalisation
        assert deferred["img"].dtype == torch.uint8
        assert deferred["img"].nbytes * 4 == plain["img"].nbytes
        # crops are random per worker, but each batch's values stay in the uint8 range until prepared
        prepared = prepare_images(deferred)
        assert prepared.dtype == torch.float32
        low = (0 - max(IMAGENET["mean"])) / min(IMAGENET["std"])
        high = (255 - min(IMAGENET["mean"])) / min(IMAGENET["std"])
        assert low <= float(prepared.min()) and float(prepared.max()) <= high


def test_it_gives_the_unfused_batches_through_two_workers(colour_root):
    """A deterministic pipeline through 2 workers: the fused loader's prepared batches are the unfused ones."""
    pipeline = [{"type": "LoadImageFromFile"}, {"type": "CenterCrop", "crop_size": 20},
                {"type": "Normalize", **IMAGENET}, {"type": "ImageToTensor", "keys": ["img"]},
                {"type": "Collect", "keys": ["img"]}]
    unfused = _batches(colour_root, pipeline, fuse=False, workers=2)
    fused = _batches(colour_root, pipeline, fuse=True, workers=2)
    for plain, deferred in zip(unfused, fused, strict=True):
        assert deferred["img"].dtype == torch.uint8
        assert torch.equal(prepare_images(deferred), plain["img"])


def test_it_keeps_per_image_normalisation_before_a_non_formatting_step():
    pipeline = Compose([{"type": "Normalize", **IMAGENET}, {"type": "RandomErasing", "erase_prob": 1.0},
                        {"type": "ImageToTensor", "keys": ["img"]}])
    assert pipeline.fuse_normalize() is False and not pipeline.normalize_deferred
    img = np.random.RandomState(0).randint(0, 256, (8, 8, 3)).astype(np.uint8)
    out = pipeline({"img": img})
    assert out["img"].dtype == torch.float32 and DEFERRED_KEY not in out

    half = Compose([{"type": "Normalize", **IMAGENET}, {"type": "ImageToTensor", "keys": ["img"]},
                    {"type": "ToHalf", "keys": ["img"]}])
    assert half.fuse_normalize() is False  # ToHalf casts the normalised values: not a formatting step


def test_it_defers_only_when_asked_and_can_be_turned_off():
    pipeline = Compose([{"type": "Normalize", **IMAGENET}, {"type": "ImageToTensor", "keys": ["img"]}])
    img = np.random.RandomState(1).randint(0, 256, (6, 5, 3)).astype(np.uint8)
    assert pipeline({"img": img.copy()})["img"].dtype == torch.float32  # off unless asked for
    assert pipeline.fuse_normalize() is True
    deferred = pipeline({"img": img.copy()})
    assert deferred["img"].dtype == torch.uint8
    assert pipeline.fuse_normalize(False) is False
    assert torch.equal(pipeline({"img": img.copy()})["img"], prepare_images(collate([deferred]))[0])


@pytest.mark.parametrize("shape", [(7, 9, 3), (7, 9), (7, 9, 1), (5, 6, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_it_equals_imnormalize_for_every_layout_and_dtype(shape, dtype):
    rng = np.random.RandomState(2)
    channels = 1 if len(shape) == 2 else shape[2]
    mean = [100.5] * channels if channels != 3 else IMAGENET["mean"]
    std = [60.25] * channels if channels != 3 else IMAGENET["std"]
    high = 65535 if dtype == np.uint16 else 255
    images = [rng.randint(0, high + 1, shape).astype(dtype) for _ in range(3)]
    for to_rgb in (True, False):
        expected = np.stack([imnormalize(img, np.float32(mean), np.float32(std), to_rgb) for img in images])
        batch = torch.from_numpy(np.stack(images).astype(np.float32 if dtype == np.uint16 else dtype))
        got = normalize_tensor(batch, mean, std, to_rgb, None if len(shape) == 2 else 3)
        assert got.dtype == torch.float32
        assert np.array_equal(got.numpy(), expected)


def test_it_follows_the_channel_axis_through_transpose():
    norm = Normalize(**IMAGENET)
    norm.deferred = True
    img = np.random.RandomState(3).randint(0, 256, (4, 6, 3)).astype(np.uint8)
    expected = torch.from_numpy(imnormalize(img, norm.mean, norm.std, True))  # HxWxC
    results = Transpose(["img"], (1, 0, 2))(norm({"img": img}))  # WxHxC
    results = ImageToTensor(["img"])(results)  # C x H' x W' of the transposed image
    got = prepare_images(collate([results]))[0]
    assert torch.equal(got, expected.permute(1, 0, 2).permute(2, 0, 1))


def test_it_normalises_per_sample_when_samples_differ(colour_root):
    """A ConcatDataset of pipelines with different means: the batch cannot carry one, so collate
    normalises each sample itself, and the result is still per-image normalisation."""
    def dataset(norm):
        steps = [{"type": "LoadImageFromFile"}, {"type": "CenterCrop", "crop_size": 16},
                 {"type": "Normalize", **norm}, {"type": "ImageToTensor", "keys": ["img"]},
                 {"type": "Collect", "keys": ["img"]}]
        return CustomDataset(data_prefix=str(colour_root / "train"), pipeline=steps)

    def first_batch(fuse):
        loader = build_dataloader(ConcatDataset([dataset(IMAGENET), dataset(CIFAR)]), 24, 0, shuffle=False,
                                  fuse_normalize=fuse)
        return next(iter(loader))

    fused, plain = first_batch(True), first_batch(False)
    assert DEFERRED_KEY not in fused and fused["img"].dtype == torch.float32
    assert torch.equal(fused["img"], plain["img"])


def test_it_normalises_ragged_images_per_sample(colour_root, tmp_path):
    write_images(tmp_path / "train" / "a", 2, size=10, seed=5)
    write_images(tmp_path / "train" / "b", 2, size=14, seed=6)
    steps = [{"type": "LoadImageFromFile"}, {"type": "Normalize", **IMAGENET},
             {"type": "ImageToTensor", "keys": ["img"]}, {"type": "Collect", "keys": ["img"]}]
    fused = _batches(tmp_path, steps, fuse=True, batch=4)[0]
    plain = _batches(tmp_path, steps, fuse=False, batch=4)[0]
    assert isinstance(fused["img"], list) and DEFERRED_KEY not in fused
    assert all(torch.equal(a, b) for a, b in zip(fused["img"], plain["img"], strict=True))


def test_it_makes_tensors_without_copying_where_it_can():
    img = np.random.RandomState(4).randint(0, 256, (5, 7, 3)).astype(np.uint8)
    tensor = ImageToTensor(["img"])({"img": img})["img"]
    assert tuple(tensor.shape) == (3, 5, 7)
    assert tensor.data_ptr() == img.ctypes.data  # a view: no copy per image (the batch's stack copies once)
    flipped = img[:, ::-1]  # negative strides: torch cannot view these
    assert torch.equal(ImageToTensor(["img"])({"img": flipped})["img"], torch.from_numpy(flipped.copy()).permute(2, 0, 1))
    readonly = img.copy()
    readonly.flags.writeable = False
    out = ImageToTensor(["img"])({"img": readonly})["img"]
    assert out.data_ptr() != readonly.ctypes.data and torch.equal(out, tensor)


def test_it_has_mmcvs_arithmetic():
    """mmcv subtracts the float32 mean in float32 and multiplies by ``1 / std`` in float64 (OpenCV's
    scalar arithmetic), rounding to float32: the float32 division we do gives the same numbers, here over
    every uint8 value and a spread of means and deviations (the library's and odd ones)."""
    rng = np.random.RandomState(7)
    values = np.arange(256, dtype=np.uint8)
    img = np.stack([values, values[::-1], rng.permutation(values)], axis=1).reshape(16, 16, 3)
    norms = [(IMAGENET["mean"], IMAGENET["std"]), (CIFAR["mean"], CIFAR["std"])]
    norms += [(rng.uniform(0, 255, 3).tolist(), rng.uniform(0.01, 100, 3).tolist()) for _ in range(200)]
    for mean, std in norms:
        mean32, std32 = np.float32(mean), np.float32(std)
        diff = img[..., ::-1].astype(np.float32) - mean32  # float32 subtraction
        mmcv_way = (diff.astype(np.float64) * (1 / std32.astype(np.float64))).astype(np.float32)
        assert np.array_equal(imnormalize(img, mean32, std32, True), mmcv_way)


def test_it_normalises_strided_views_like_their_copies():
    """Flipped and transposed views (what flips and crops hand on) give the numbers of their contiguous copies."""
    img = np.random.RandomState(8).randint(0, 256, (9, 11, 3)).astype(np.uint8)
    mean, std = np.float32(IMAGENET["mean"]), np.float32(IMAGENET["std"])
    for view in (img[:, ::-1], img.transpose(1, 0, 2), img[::2, 1:-1]):
        assert not view.flags.c_contiguous
        assert np.array_equal(imnormalize(view, mean, std, True), imnormalize(view.copy(), mean, std, True))


def test_it_defers_grey_images_through_image_to_tensor():
    pipeline = Compose([{"type": "Normalize", "mean": [127.5], "std": [60.0], "to_rgb": False},
                        {"type": "ImageToTensor", "keys": ["img"]}, {"type": "Collect", "keys": ["img"]}])
    grey = [np.random.RandomState(s).randint(0, 256, (6, 4)).astype(np.uint8) for s in range(3)]
    plain = collate([pipeline({"img": img.copy()}) for img in grey])
    pipeline.fuse_normalize()
    deferred = collate([pipeline({"img": img.copy()}) for img in grey])
    assert deferred["img"].dtype == torch.uint8 and tuple(deferred["img"].shape) == (3, 1, 6, 4)
    assert torch.equal(prepare_images(deferred), plain["img"])
