"""scikit-learn's handwritten digits in CIFAR-10's on-disk format (``cifar-10-batches-py``), so that the
library's CIFAR recipes train on real, learnable images without a download.

Each 8x8 digit (0..16) is scaled to 0..255, upscaled bilinearly to 32x32 and copied into the three
planes (R, G, B) of a CIFAR row. A stratified share of each class goes to ``test_batch``; the rest,
optionally cut to ``train_per_class`` images a class, is spread over ``data_batch_1..5``. Batches are
pickled as the published archives are (Python 2, protocol 2; see :mod:`tests.support.cifar`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.cifar import CIFAR10_BATCHES, CIFAR10_CLASSES, py2_pickle


def digits_32(images: np.ndarray) -> np.ndarray:
    """``(N, 8, 8)`` digits of 0..16 as ``(N, 32, 32)`` uint8 (bilinear upscaling)."""
    grey = np.rint(images * (255.0 / 16.0)).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(img).resize((32, 32), Image.BILINEAR)) for img in grey])


def write_digits_cifar10(root: str | Path, *, val_fraction: float = 0.2, train_per_class: int | None = None,
                         seed: int = 0) -> dict:
    """Write ``root/cifar-10-batches-py`` from the digits.

    Args:
        root: The dataset's folder (a CIFAR spec's ``data_prefix``).
        val_fraction: Share of each class written to ``test_batch``.
        train_per_class: Keep at most this many training images a class (``None``: all).
        seed: Seed of the split and of the subset.

    Returns:
        ``{'train': n_train, 'val': n_val}``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits_32(digits.images), digits.target.astype(int)
    rng = np.random.RandomState(seed)
    train_idx, val_idx = [], []
    for label in range(10):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = int(round(len(members) * val_fraction))
        val_idx.extend(members[:n_val])
        train_idx.extend(members[n_val:][:train_per_class])
    train_idx = rng.permutation(np.asarray(train_idx))
    val_idx = np.sort(np.asarray(val_idx))

    def batch(indices: np.ndarray, name: str) -> dict:
        planes = np.repeat(images[indices][:, None], 3, axis=1)  # N x 3 x 32 x 32: R, G, B planes
        return {"batch_label": name, "labels": [int(x) for x in labels[indices]],
                "data": planes.reshape(len(indices), 3 * 32 * 32),
                "filenames": [f"digit_{i}.png" for i in indices]}

    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in zip(CIFAR10_BATCHES[:5], np.array_split(train_idx, 5), strict=True):
        (folder / name).write_bytes(py2_pickle(batch(part, name)))
    (folder / "test_batch").write_bytes(py2_pickle(batch(val_idx, "testing batch 1 of 1")))
    meta = {"label_names": CIFAR10_CLASSES, "num_cases_per_batch": int(len(train_idx) // 5), "num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return {"train": int(len(train_idx)), "val": int(len(val_idx))}
