"""Dataset wrappers: RepeatDataset and ConcatDataset (seed section 6.2)."""

from __future__ import annotations

import bisect

import numpy as np

from workers.registry import DATASETS

__all__ = ["ConcatDataset", "RepeatDataset"]


@DATASETS.register()
class RepeatDataset:
    """Repeat a dataset ``times`` times, e.g. to make short epochs longer.

    Args:
        dataset: The dataset (built); in a spec, its config.
        times: Repetitions.
    """

    def __init__(self, dataset, times: int):
        self.dataset = dataset
        self.times = times
        self.CLASSES = dataset.CLASSES
        self._ori_len = len(dataset)

    def __getitem__(self, idx: int):
        return self.dataset[idx % self._ori_len]

    def get_cat_ids(self, idx: int):
        return self.dataset.get_cat_ids(idx % self._ori_len)

    def get_gt_labels(self) -> np.ndarray:
        return np.tile(self.dataset.get_gt_labels(), self.times)

    def __len__(self) -> int:
        return self.times * self._ori_len

    def evaluate(self, *args, **kwargs):
        raise NotImplementedError("evaluate the original dataset, not a RepeatDataset")


@DATASETS.register()
class ConcatDataset:
    """Datasets one after the other; they must share their classes.

    Args:
        datasets: The datasets (built); in a spec, their configs.
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.CLASSES = self.datasets[0].CLASSES
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def _locate(self, idx: int) -> tuple[int, int]:
        if idx < 0:
            idx += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return which, idx - start

    def __getitem__(self, idx: int):
        which, inner = self._locate(idx)
        return self.datasets[which][inner]

    def get_cat_ids(self, idx: int):
        which, inner = self._locate(idx)
        return self.datasets[which].get_cat_ids(inner)

    def get_gt_labels(self) -> np.ndarray:
        return np.concatenate([d.get_gt_labels() for d in self.datasets])

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def evaluate(self, results, *args, **kwargs):
        from workers.evaluation import evaluate_classification

        return evaluate_classification(results, self.get_gt_labels(), *args, **kwargs)
