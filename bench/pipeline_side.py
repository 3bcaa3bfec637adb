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
import os
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


def step_seconds(dataset, passes: int) -> dict[str, float]:
    """Seconds each step of the dataset's pipeline takes over every image (step by step), the best of
    ``passes`` passes for each step (the steps of a few microseconds swing most with other processes)."""
    best: dict[str, float] = {}
    for _ in range(passes):
        totals: dict[str, float] = {}
        for info in dataset.data_infos:
            results = copy.deepcopy(info)
            for transform in dataset.pipeline.transforms:
                start = time.perf_counter()
                results = transform(results)
                name = STEP_NAMES.get(type(transform).__name__, type(transform).__name__)
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
        best = {name: min(seconds, best.get(name, seconds)) for name, seconds in totals.items()}
    return best


def dataset_seconds(dataset, passes: int) -> tuple[float, float]:
    """Seconds (wall clock, and CPU time of this process) of a pass of ``dataset[i]`` over every image, the
    best of ``passes``."""
    wall, cpu = [], []
    for _ in range(passes):
        start, start_cpu = time.perf_counter(), time.process_time()
        for i in range(len(dataset)):
            dataset[i]
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def workers_cpu_seconds(loader) -> float:
    """CPU seconds used so far by the loader's (persistent) worker processes, from ``/proc`` (0 without
    workers, or where ``/proc`` is missing)."""
    iterator = getattr(loader, "_iterator", None)
    total = 0.0
    for worker in getattr(iterator, "_workers", None) or ():
        try:
            fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def loader_seconds(loader, prepare, passes: int) -> tuple[float, float, int]:
    """Seconds (wall clock, and CPU time of this process plus its persistent loader workers) and images of an
    epoch of ``loader``, each batch's images made ready by ``prepare``; the best of ``passes`` epochs. The CPU
    time of all the processes changes little with other processes' load; the wall clock does."""
    wall, cpu = [], []
    count = 0
    for _ in range(passes):
        start, start_cpu = time.perf_counter(), time.process_time() + workers_cpu_seconds(loader)
        count = 0
        for batch in loader:
            images = prepare(batch)
            count += int(images.shape[0])
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() + workers_cpu_seconds(loader) - start_cpu)
    return min(wall), min(cpu), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["trainyard", "mmcls"], required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--passes", type=int, default=3, help="passes (epochs) of each figure; the best counts")
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
    wall, cpu = dataset_seconds(dataset, args.passes)
    out = {"side": args.side, "images": len(dataset), "steps": step_seconds(dataset, args.passes),
           "dataset": wall, "dataset_cpu": cpu}
    if not args.no_loader:
        for workers in (0, args.workers):
            loader = make_loader(workers)
            loader_seconds(loader, prepare, 1)  # the first epoch starts the worker processes
            seconds, cpu, count = loader_seconds(loader, prepare, args.passes)
            out[f"loader{workers}"] = seconds
            out[f"loader{workers}_images"] = count
            out[f"loader{workers}_cpu"] = cpu
            del loader
    print(json.dumps(out))


if __name__ == "__main__":
    main()
