"""Fixtures of the CAM tests: a tiny ResNet trained in seconds on synthetic 32x32 images whose class is where
a bright square lies (class 0: the top-left corner, class 1: the bottom-right), written as a spec file and a
checkpoint, and pictures to explain."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import jobspecs

SIDE = 32
SQUARE = 8
NORM = {"mean": [100.0, 100.0, 100.0], "std": [80.0, 80.0, 80.0], "to_rgb": False}
PIPELINE = [
    {"type": "LoadImageFromFile"},
    {"type": "Normalize", **NORM},
    {"type": "ImageToTensor", "keys": ["img"]},
    {"type": "Collect", "keys": ["img"]},
]
MODEL = {
    "type": "ImageClassifier",
    "backbone": {"type": "ResNet_CIFAR", "depth": 18, "stem_channels": 8, "base_channels": 8, "num_stages": 4,
                 "out_indices": (3,), "style": "pytorch"},  # layer4: 4x4 positions at 32x32
    "neck": {"type": "GlobalAveragePooling"},
    "head": {"type": "LinearClsHead", "num_classes": 2, "in_channels": 64,
             "loss": {"type": "CrossEntropyLoss", "loss_weight": 1.0}},
}
CORNERS = {"top-left": (0, 0), "bottom-right": (SIDE - SQUARE, SIDE - SQUARE)}


def corner_image(rng: np.random.Generator, corners: list[str]) -> np.ndarray:
    """A dim noisy BGR image with a bright square at each of ``corners`` (jittered by up to 3 pixels)."""
    img = rng.integers(0, 60, size=(SIDE, SIDE, 3)).astype(np.uint8)
    for corner in corners:
        y, x = CORNERS[corner]
        y = min(max(y + int(rng.integers(-3, 4)), 0), SIDE - SQUARE)
        x = min(max(x + int(rng.integers(-3, 4)), 0), SIDE - SQUARE)
        img[y:y + SQUARE, x:x + SQUARE] = 230
    return img


def _batch(rng, size):
    labels = rng.integers(0, 2, size=size)
    images = np.stack([corner_image(rng, [("top-left", "bottom-right")[label]]) for label in labels])
    tensor = torch.from_numpy(images).float().permute(0, 3, 1, 2)
    return (tensor - NORM["mean"][0]) / NORM["std"][0], torch.from_numpy(labels).long()


@pytest.fixture(scope="session")
def corner_run(tmp_path_factory) -> tuple[Path, Path]:
    """``(spec file, checkpoint)`` of the tiny ResNet trained until it tells the corners apart."""
    from workers.engine.checkpoint import save_checkpoint
    from workers.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model(jobspecs_model())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        images, labels = _batch(rng, 32)
        loss = model.forward_train(images, labels)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    images, labels = _batch(rng, 64)
    with torch.no_grad():
        accuracy = float((model.simple_test(images).argmax(1) == labels).float().mean())
    assert accuracy > 0.95, f"the corner model did not learn ({accuracy:.2f})"

    folder = tmp_path_factory.mktemp("vis-cam")
    spec = {"model": jobspecs_model(), "data": {"test": {"type": "CustomDataset", "data_prefix": str(folder),
                                                         "pipeline": PIPELINE}}}
    spec_file = folder / "corners.py"
    spec_file.write_text(jobspecs.dumps(spec, format="py"))
    checkpoint = save_checkpoint(folder / "corners.pth", model, None, {"CLASSES": ["top-left", "bottom-right"]},
                                 link_latest=False)
    return spec_file, checkpoint


def jobspecs_model() -> dict:
    import copy

    return copy.deepcopy(MODEL)


@pytest.fixture
def both_corners(tmp_path) -> Path:
    """A picture with a square in both corners."""
    path = tmp_path / "both.png"
    cv2.imwrite(str(path), corner_image(np.random.default_rng(5), ["top-left", "bottom-right"]))
    return path


@pytest.fixture
def top_left(tmp_path) -> Path:
    """A picture of class 0 (a square at the top-left)."""
    path = tmp_path / "top-left.png"
    cv2.imwrite(str(path), corner_image(np.random.default_rng(6), ["top-left"]))
    return path


@pytest.fixture(scope="session")
def vit_run(tmp_path_factory) -> tuple[Path, Path]:
    """``(spec file, checkpoint)`` of a random 2-block ViT with a class token: 8x8 patches of a 32x32 input."""
    from workers.engine.checkpoint import save_checkpoint
    from workers.models import build_model

    model_cfg = {
        "type": "ImageClassifier",
        "backbone": {"type": "VisionTransformer", "img_size": SIDE, "patch_size": 8,
                     "arch": {"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 64}},
        "neck": None,
        "head": {"type": "VisionTransformerClsHead", "num_classes": 3, "in_channels": 32,
                 "loss": {"type": "CrossEntropyLoss", "loss_weight": 1.0}},
    }
    torch.manual_seed(0)
    model = build_model(model_cfg)
    torch.nn.init.normal_(model.head.layers.head.weight, std=0.5)  # the head starts at zero: no gradient at all
    folder = tmp_path_factory.mktemp("vis-cam-vit")
    spec = {"model": model_cfg, "data": {"test": {"type": "CustomDataset", "data_prefix": str(folder),
                                                  "pipeline": PIPELINE}}}
    spec_file = folder / "vit.py"
    spec_file.write_text(jobspecs.dumps(spec, format="py"))
    return spec_file, save_checkpoint(folder / "vit.pth", model, None, {"CLASSES": ["a", "b", "c"]},
                                      link_latest=False)
