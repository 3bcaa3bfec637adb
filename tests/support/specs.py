"""Engine specs for tests: the library's demo spec resolved to a dict, and a tiny variant of it that trains in
seconds on CPU (``tiny_spec``), with the small image pipelines both use."""
from __future__ import annotations

import copy

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
RESOLVED_DEMO_SPEC = {
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
    spec = copy.deepcopy(RESOLVED_DEMO_SPEC)
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
