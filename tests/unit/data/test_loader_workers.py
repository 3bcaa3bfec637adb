"""Loader worker processes draw their augmentations independently, reproducibly from the run's seed, and run
OpenCV without a thread pool of their own."""
import random

import cv2
import numpy as np
import torch

from workers.data import build_dataloader


class _Draws(torch.utils.data.Dataset):
    """Each item is what a transform would draw: one number from numpy's generator, one from ``random``."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return {"np": float(np.random.random()), "py": random.random(), "worker": torch.utils.data.get_worker_info().id,
                "cv2_threads": cv2.getNumThreads()}


def _epoch(seed):
    loader = build_dataloader(_Draws(), samples_per_gpu=1, workers_per_gpu=2, shuffle=True, seed=seed)
    return [(int(b["worker"]), float(b["np"]), float(b["py"])) for b in loader]


def test_two_workers_draw_different_augmentations_and_the_seed_repeats_them():
    np.random.seed(0)  # the parent's numpy state, which forked workers inherit
    draws = _epoch(seed=3)
    by_worker = {w: [(n, p) for worker, n, p in draws if worker == w] for w in (0, 1)}
    assert by_worker[0] and by_worker[1]
    # without seeding each worker, both workers' first items draw the same numpy number
    assert by_worker[0][0][0] != by_worker[1][0][0]
    assert by_worker[0][0][1] != by_worker[1][0][1]
    assert len({n for _, n, _ in draws}) == len(draws)
    assert _epoch(seed=3) == draws  # the run's seed repeats the draws
    assert _epoch(seed=4) != draws


def test_a_worker_runs_opencv_sequentially():
    loader = build_dataloader(_Draws(), samples_per_gpu=4, workers_per_gpu=2, shuffle=False)
    assert {int(t) for batch in loader for t in batch["cv2_threads"]} == {1}  # 1: no pool (the machine has more)
