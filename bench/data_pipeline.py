"""Images per second of the ImageNet-style train pipeline through ``build_dataloader``, 0 vs 2 workers.

Writes ~2000 small JPEGs in the CustomDataset folder layout into a temporary folder, then loads
them with LoadImageFromFile -> RandomResizedCrop -> RandomFlip -> Normalize -> ImageToTensor ->
ToTensor -> Collect (seed section 7.1's example, at 56 px). The baseline is the same loader with
``workers_per_gpu=0``, measured in the same run (epochs alternate between the two loaders); the ratio
says what two loader processes buy. Each number is the best of ``--epochs`` passes.

    .venv/bin/python bench/data_pipeline.py [--images 2000] [--size 64] [--batch 64] [--epochs 3]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers.data import build_dataloader, build_dataset  # noqa: E402

NORM = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}
PIPELINE = [
    {"type": "LoadImageFromFile"},
    {"type": "RandomResizedCrop", "size": 56},
    {"type": "RandomFlip", "flip_prob": 0.5, "direction": "horizontal"},
    {"type": "Normalize", **NORM},
    {"type": "ImageToTensor", "keys": ["img"]},
    {"type": "ToTensor", "keys": ["gt_label"]},
    {"type": "Collect", "keys": ["img", "gt_label"]},
]


def write_jpegs(root: Path, count: int, size: int, num_classes: int = 10) -> None:
    """``count`` random-noise-plus-gradient JPEGs spread over ``num_classes`` class folders."""
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 200, size, dtype=np.float32)[None, :, None]
    for i in range(count):
        folder = root / f"class_{i % num_classes}"
        folder.mkdir(parents=True, exist_ok=True)
        array = np.clip(gradient + rng.integers(0, 56, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(array).save(folder / f"{i:05d}.jpg", quality=90)


def epoch_rate(loader) -> float:
    """Images/s of one pass over ``loader``."""
    start = time.perf_counter()
    count = sum(len(b["gt_label"]) for b in loader)
    return count / (time.perf_counter() - start)


def compare(dataset, batch: int, epochs: int, workers: tuple[int, ...] = (0, 2)) -> dict[int, float]:
    """Best-epoch images/s for each worker count. Epochs alternate between the loaders, so that a load
    change on a shared machine hits both alike; one warm-up batch each starts the worker processes."""
    loaders = {w: build_dataloader(dataset, samples_per_gpu=batch, workers_per_gpu=w, shuffle=True, seed=0,
                                   persistent_workers=w > 0) for w in workers}
    for loader in loaders.values():
        next(iter(loader))
    best = dict.fromkeys(workers, 0.0)
    for _ in range(epochs):
        for w, loader in loaders.items():
            best[w] = max(best[w], epoch_rate(loader))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="trainyard-bench-") as tmp:
        start = time.perf_counter()
        write_jpegs(Path(tmp), args.images, args.size)
        print(f"wrote {args.images} JPEGs of {args.size}x{args.size} in {time.perf_counter() - start:.1f} s")
        dataset = build_dataset({"type": "CustomDataset", "data_prefix": tmp, "pipeline": PIPELINE})
        results = compare(dataset, args.batch, args.epochs)
    for workers, rate in results.items():
        print(f"workers_per_gpu={workers}: {rate:8.0f} images/s")
    print(f"ratio 2 workers / 0 workers: {results[2] / results[0]:.2f}")


if __name__ == "__main__":
    main()
