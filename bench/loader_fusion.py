"""Normalisation fused into the batch vs per image, through ``build_dataloader`` with loader workers (issue 15).

Setup: a CustomDataset of JPEGs of 320x240 in a temporary folder; the ImageNet train pipeline
``LoadImageFromFile -> RandomResizedCrop(224) -> RandomFlip -> Normalize -> ImageToTensor -> ToTensor ->
Collect``; batch 32; ``--workers`` loader workers (persistent, prefetch 2). Per epoch, the loader's batches are
taken through ``prepare_images`` (a no-op unfused; the batch normalisation fused, on the CPU here: with a GPU
it runs there after the move). Fused and unfused epochs alternate ``--repeats`` times after one warm-up epoch
each. Prints the bytes of a batch's images crossing from the workers, images/s (best; range) and their ratio.

    .venv/bin/python bench/loader_fusion.py [--images 400] [--repeats 3] [--workers 2] [--batch 32]

Measured on the 2-core development machine, shared and loaded (load average 3-5), 2026-12-06:
2 workers: 18.38 MiB of images per batch unfused, 4.59 MiB fused; 381-414 images/s unfused (range over
repeats 303-414), 666-875 fused (462-875): 1.75x-2.1x. 0 workers: 456 vs 663 images/s (1.46x).
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

from workers.data import build_dataloader, build_dataset, prepare_images  # noqa: E402

NORM = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}
PIPELINE = [
    {"type": "LoadImageFromFile"},
    {"type": "RandomResizedCrop", "size": 224},
    {"type": "RandomFlip", "flip_prob": 0.5, "direction": "horizontal"},
    {"type": "Normalize", **NORM},
    {"type": "ImageToTensor", "keys": ["img"]},
    {"type": "ToTensor", "keys": ["gt_label"]},
    {"type": "Collect", "keys": ["img", "gt_label"]},
]


def write_jpegs(root: Path, count: int, num_classes: int = 10) -> None:
    """``count`` 320x240 JPEGs of gradients with noise, in ``num_classes`` folders."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
    base = np.stack([xx / 320 * 180, yy / 240 * 160, (xx + yy) / 560 * 200], axis=2)
    for i in range(count):
        folder = root / f"class_{i % num_classes}"
        folder.mkdir(parents=True, exist_ok=True)
        img = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:05d}.jpg", quality=90)


def epoch(loader) -> tuple[float, int, int]:
    """Seconds for one pass (batches prepared), images, bytes of the first batch's images as yielded."""
    start = time.perf_counter()
    images, nbytes = 0, 0
    for batch in loader:
        if not nbytes:
            nbytes = batch["img"].nbytes
        img = prepare_images(batch)
        images += img.shape[0]
    return time.perf_counter() - start, images, nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_jpegs(root, args.images)
        loaders = {}
        for fused in (False, True):
            dataset = build_dataset({"type": "CustomDataset", "data_prefix": str(root), "pipeline": PIPELINE})
            loaders[fused] = build_dataloader(dataset, args.batch, args.workers, shuffle=True, seed=0,
                                              persistent_workers=args.workers > 0, prefetch_factor=2,
                                              fuse_normalize=fused)
        results: dict[bool, list[float]] = {False: [], True: []}
        nbytes = {}
        for fused in (False, True):
            epoch(loaders[fused])  # warm-up: workers started, files cached
        for _ in range(args.repeats):
            for fused in (False, True):
                seconds, images, nbytes[fused] = epoch(loaders[fused])
                results[fused].append(images / seconds)
    print(f"{args.images} images, batch {args.batch}, {args.workers} workers, torch threads 1")
    for fused, name in ((False, "per image (unfused)"), (True, "fused into the batch")):
        rates = results[fused]
        print(f"  {name:22s} {nbytes[fused] / 2**20:6.2f} MiB/batch  {max(rates):7.1f} images/s "
              f"({min(rates):.1f}-{max(rates):.1f})")
    print(f"  fused / unfused: {max(results[True]) / max(results[False]):.2f}x images/s, "
          f"{nbytes[False] / nbytes[True]:.1f}x fewer bytes per batch")


if __name__ == "__main__":
    main()
