"""Fixtures of the engine's unit tests: tiny generated images, the digits demo data, the demo spec."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workers.data.demo import write_digits_dataset

# One intra-op thread: on a busy 2-core machine OpenMP's spinning threads make two-thread runs several
# times slower (measured: 4 s vs 40 s an epoch of the demo), and the DDP test runs two processes.
torch.set_num_threads(1)

NORM = {"mean": [33.0, 33.0, 33.0], "std": [60.0, 60.0, 60.0], "to_rgb": False}
TRAIN_PIPELINE = [
    {"type": "LoadImageFromFile"},
    {"type": "Resize", "size": (16, 16)},
    {"type": "RandomCrop", "size": 16, "padding": 2},
    {"type": "Normalize", **NORM},
    {"type": "ImageToTensor", "keys": ["img"]},
    {"type": "ToTensor", "keys": ["gt_label"]},
    {"type": "Collect", "keys": ["img", "gt_label"]},
]
TEST_PIPELINE = [
    {"type": "LoadImageFromFile"},
    {"type": "Resize", "size": (16, 16)},
    {"type": "Normalize", **NORM},
    {"type": "ImageToTensor", "keys": ["img"]},
    {"type": "Collect", "keys": ["img"]},
]

# The library's demo spec (jobspecs/library/demo/resnet18-tiny_2xb32-6e_digits.py), resolved.
DEMO_SPEC = {
    "model": {
        "type": "ImageClassifier",
        "backbone": {"type": "ResNet_CIFAR", "depth": 18, "stem_channels": 16, "base_channels": 16,
                     "num_stages": 4, "out_indices": (3,), "style": "pytorch"},
        "neck": {"type": "GlobalAveragePooling"},
        "head": {"type": "LinearClsHead", "num_classes": 10, "in_channels": 128,
                 "loss": {"type": "CrossEntropyLoss", "loss_weight": 1.0}, "topk": (1, 5)},
    },
    "data": {
        "samples_per_gpu": 32,
        "workers_per_gpu": 0,
        "train": {"type": "CustomDataset", "data_prefix": "data/digits/train", "pipeline": TRAIN_PIPELINE},
        "val": {"type": "CustomDataset", "data_prefix": "data/digits/val", "pipeline": TEST_PIPELINE},
        "test": {"type": "CustomDataset", "data_prefix": "data/digits/val", "pipeline": TEST_PIPELINE},
    },
    "evaluation": {"interval": 1, "metric": "accuracy"},
    "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005},
    "optimizer_config": {"grad_clip": None},
    "lr_config": {"policy": "CosineAnnealing", "min_lr": 0, "warmup": "linear", "warmup_iters": 20,
                  "warmup_ratio": 0.1},
    "runner": {"type": "EpochBasedRunner", "max_epochs": 6},
    "checkpoint_config": {"interval": 2, "max_keep_ckpts": 2},
    "log_config": {"interval": 10, "hooks": [{"type": "TextLoggerHook"}]},
    "dist_params": {"backend": "gloo"},
    "log_level": "INFO",
    "load_from": None,
    "resume_from": None,
    "workflow": [("train", 1)],
}


def demo_spec(**changes) -> dict:
    """A deep copy of the demo spec with top-level sections replaced."""
    spec = copy.deepcopy(DEMO_SPEC)
    spec.update(changes)
    return spec


def tiny_spec(max_epochs: int = 2, **changes) -> dict:
    """The demo spec shrunk for speed: 8-channel ResNet_CIFAR-18, 3 classes, batches of 4."""
    spec = demo_spec()
    spec["model"]["backbone"].update(stem_channels=8, base_channels=8)
    spec["model"]["head"].update(num_classes=3, in_channels=64)
    spec["data"]["samples_per_gpu"] = 4
    spec["data"]["train"]["data_prefix"] = "tiny/train"
    spec["data"]["val"]["data_prefix"] = "tiny/val"
    spec["data"]["test"]["data_prefix"] = "tiny/val"
    spec["lr_config"] = {"policy": "step", "step": [1], "warmup": "linear", "warmup_iters": 2}
    spec["runner"]["max_epochs"] = max_epochs
    spec["checkpoint_config"] = {"interval": 1}
    spec["log_config"]["interval"] = 1
    spec.update(changes)
    return spec


class ListReporter:
    """Records every reporter call."""

    def __init__(self):
        self.lines: list[str] = []
        self.points: list[tuple[int, dict, int, str]] = []
        self.checkpoints: list[tuple[str, int, int, dict]] = []

    def log(self, line: str) -> None:
        self.lines.append(line)

    def metrics(self, step: int, values: dict, epoch: int, mode: str) -> None:
        self.points.append((step, values, epoch, mode))

    def checkpoint(self, path: str, epoch: int, iteration: int, metrics: dict) -> None:
        self.checkpoints.append((path, epoch, iteration, metrics))


def write_images(folder: Path, count: int, size: int = 12, seed: int = 0, value: int | None = None) -> list[Path]:
    """``count`` random RGB PNGs (or flat ones of ``value``) named 0.png, 1.png, ..."""
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        if value is None:
            array = rng.randint(0, 256, (size, size, 3), dtype=np.uint8)
        else:
            array = np.full((size, size, 3), value, dtype=np.uint8)
        path = folder / f"{i}.png"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory) -> Path:
    """A data root holding ``data/digits/{train,val}`` (the demo's layout)."""
    root = tmp_path_factory.mktemp("digits-root")
    write_digits_dataset(root / "data" / "digits")
    return root


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A data root holding ``tiny/{train,val}/{a,b,c}``: 4 train and 3 val images per class, each class
    a flat grey level, so even a tiny model separates them."""
    root = tmp_path_factory.mktemp("tiny-root")
    for split, count in (("train", 4), ("val", 3)):
        for label, name in enumerate("abc"):
            write_images(root / "tiny" / split / name, count, size=16, value=40 + 80 * label)
    return root
