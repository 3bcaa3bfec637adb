"""The demo dataset: scikit-learn's handwritten digits written as PNGs in CustomDataset's folder layout.

``load_digits`` ships inside scikit-learn (1797 8x8 images, values 0..16, 10 classes), so the demo
needs no download. :func:`write_digits_dataset` upscales them and writes ``root/train/<digit>/NNNN.png``
and ``root/val/<digit>/NNNN.png`` (``NNNN`` is the sample's index in ``load_digits``), stratified and
deterministic for a given ``seed``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["load_digits", "write_digits_dataset"]

_MARKER = ".trainyard-digits.json"


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(images, labels)``: float64 ``(1797, 8, 8)`` in 0..16 and int ``(1797,)``, as
    ``sklearn.datasets.load_digits()`` gives ``images`` and ``target``.

    Read from the CSV that scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``) without importing
    scikit-learn, which costs ~2 CPU-seconds (every stack's ``seed_demo``, ``manage.py up``); through
    scikit-learn itself where that file is not found.
    """
    import gzip
    from importlib.util import find_spec

    spec = find_spec("sklearn")  # locates the package; runs none of it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as f:
                table = np.loadtxt(f, delimiter=",", dtype=np.float64)
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(int)
    from sklearn.datasets import load_digits as sklearn_load_digits

    digits = sklearn_load_digits()
    return digits.images, digits.target


def write_digits_dataset(root: str | Path, val_fraction: float = 0.2, seed: int = 0, size: int | None = None,
                         rgb: bool = False, interpolation: str = "bilinear") -> dict:
    """Write the digits as a train/val CustomDataset tree; a no-op when already written the same way.

    Args:
        root: Output folder (created).
        val_fraction: Share of each class held out for ``val``.
        seed: Seed of the split.
        size: Side of the written images in pixels (default 16; 8 keeps the originals).
        rgb: Write 3-channel PNGs instead of grayscale.
        interpolation: ``'nearest'`` or ``'bilinear'`` upscaling.

    Returns:
        ``{'train': n_train, 'val': n_val, 'classes': 10}``.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    size = 16 if size is None else int(size)
    root = Path(root)
    params = {"val_fraction": val_fraction, "seed": seed, "size": size, "rgb": rgb,
              "interpolation": interpolation}
    marker = root / _MARKER
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("params") == params:
            return recorded["counts"]
        for split in ("train", "val"):  # written by us with other parameters: start over
            shutil.rmtree(root / split, ignore_errors=True)

    pixels, labels = load_digits()
    images = np.rint(pixels * (255.0 / 16.0)).astype(np.uint8)
    rng = np.random.RandomState(seed)
    val_indices: set[int] = set()
    for label in range(10):
        members = np.flatnonzero(labels == label)
        n_val = int(round(len(members) * val_fraction))
        val_indices.update(int(i) for i in rng.permutation(members)[:n_val])

    resample = Image.Resampling.NEAREST if interpolation == "nearest" else Image.Resampling.BILINEAR
    counts = {"train": 0, "val": 0, "classes": 10}
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        split = "val" if index in val_indices else "train"
        folder = root / split / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        pil = Image.fromarray(image, mode="L")
        if size != 8:
            pil = pil.resize((size, size), resample)
        if rgb:
            pil = pil.convert("RGB")
        pil.save(folder / f"{index:04d}.png")
        counts[split] += 1
    marker.write_text(json.dumps({"params": params, "counts": counts}))
    return counts
