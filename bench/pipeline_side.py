"""One side of bench/data_pipeline.py: times the ImageNet train pipeline with Trainyard (run with .venv's
python) or with MMClassification 0.25 (run with .mmcls-venv's python), prints one JSON line.

It imports only its own side's library, so the same file runs in either venv; bench/data_pipeline.py
starts it, alternating the sides, and compares. Not meant to be run by hand, but it can be:

    .venv/bin/python bench/pipeline_side.py --side trainyard --root DIR
    .mmcls-venv/bin/python bench/pipeline_side.py --side mmcls --root DIR

``DIR`` holds a CustomDataset (one folder per class). One process, one thread (OpenCV and torch); the
loader runs use ``build_dataloader`` with 0 and with ``--workers`` worker processes.
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

NORM = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}
STEP_NAMES = {"LoadImageFromFile": "decode", "ToTensor": "ToTensor+Collect", "Collect": "ToTensor+Collect"}


def pipeline(size: int) -> list[dict]:
    return [
        {"type": "LoadImageFromFile"},
        {"type": "RandomResizedCrop", "size": size},
        {"type": "RandomFlip", "flip_prob": 0.5, "direction": "horizontal"},
        {"type": "Normalize", **NORM},
        {"type": "ImageToTensor", "keys": ["img"]},
        {"type": "ToTensor", "keys": ["gt_label"]},
        {"type": "Collect", "keys": ["img", "gt_label"]},
    ]


def step_seconds(dataset) -> dict[str, float]:
    """Seconds each step of the dataset's pipeline takes over every image (one pass, step by step)."""
    totals: dict[str, float] = {}
    for info in dataset.data_infos:
        results = copy.deepcopy(info)
        for transform in dataset.pipeline.transforms:
            start = time.perf_counter()
            results = transform(results)
            name = STEP_NAMES.get(type(transform).__name__, type(transform).__name__)
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
    return totals


def dataset_seconds(dataset) -> float:
    """Seconds of one pass of ``dataset[i]`` over every image."""
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return time.perf_counter() - start


def loader_seconds(loader, prepare) -> tuple[float, int]:
    """Seconds and images of one epoch of ``loader``, each batch's images made ready by ``prepare``."""
    start = time.perf_counter()
    count = 0
    for batch in loader:
        images = prepare(batch)
        count += int(images.shape[0])
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["trainyard", "mmcls"], required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-loader", action="store_true", help="time the steps and dataset[i] only")
    parser.add_argument("--code", default=str(Path(__file__).resolve().parent.parent),
                        help="the Trainyard tree to import workers from (another checkout, for before/after)")
    args = parser.parse_args()

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    cfg = {"type": "CustomDataset", "data_prefix": args.root, "pipeline": pipeline(args.size)}
    if args.side == "trainyard":
        sys.path.insert(0, args.code)
        import inspect

        import workers.data as data

        dataset = data.build_dataset(cfg)
        # batch normalisation where the tree has it (issue 15), per-image normalisation before
        fused = {"fuse_normalize": True} if "fuse_normalize" in inspect.signature(data.build_dataloader).parameters \
            else {}

        def make_loader(workers):
            return data.build_dataloader(dataset, samples_per_gpu=args.batch, workers_per_gpu=workers, shuffle=True,
                                         seed=0, pin_memory=False, persistent_workers=workers > 0, **fused)

        def prepare(batch):
            return data.prepare_images(batch) if fused else batch["img"]
    else:
        import warnings

        warnings.filterwarnings("ignore")
        from mmcls.datasets import build_dataloader, build_dataset

        dataset = build_dataset(cfg)

        def make_loader(workers):
            return build_dataloader(dataset, samples_per_gpu=args.batch, workers_per_gpu=workers, dist=False,
                                    shuffle=True, seed=0, pin_memory=False, persistent_workers=workers > 0)

        def prepare(batch):
            return batch["img"]

    for i in range(min(16, len(dataset))):  # warm-up: caches, lazy imports
        dataset[i]
    out = {"side": args.side, "images": len(dataset), "steps": step_seconds(dataset),
           "dataset": dataset_seconds(dataset)}
    if not args.no_loader:
        for workers in (0, args.workers):
            loader = make_loader(workers)
            loader_seconds(loader, prepare)  # the first epoch starts the worker processes
            seconds, count = loader_seconds(loader, prepare)
            out[f"loader{workers}"] = seconds
            out[f"loader{workers}_images"] = count
            del loader
    print(json.dumps(out))


if __name__ == "__main__":
    main()
