"""Dataset wrappers: RepeatDataset, ConcatDataset, ClassBalancedDataset and KFoldDataset (seed 6.2, 59.8)."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict

import numpy as np

from workers.registry import DATASETS

__all__ = ["ClassBalancedDataset", "ConcatDataset", "KFoldDataset", "RepeatDataset"]


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


@DATASETS.register()
class ClassBalancedDataset:
    """Repeat images of rare classes more often (repeat factor sampling, LVIS: arXiv 1908.03195, 2.2).

    With ``f(c)`` the fraction of images holding class ``c``, each class gets
    ``r(c) = max(1, sqrt(oversample_thr / f(c)))``, each image ``r(I) = max over its classes of r(c)``
    (1 for an image without classes), and appears ``ceil(r(I))`` times.

    Args:
        dataset: The dataset (built); it needs ``get_cat_ids``.
        oversample_thr: Frequency below which a class is oversampled.
    """

    def __init__(self, dataset, oversample_thr: float):
        self.dataset = dataset
        self.oversample_thr = oversample_thr
        self.CLASSES = dataset.CLASSES
        self.repeat_factors = self._get_repeat_factors(dataset, oversample_thr)
        self.repeat_indices = [index for index, factor in enumerate(self.repeat_factors)
                               for _ in range(math.ceil(factor))]

    @staticmethod
    def _get_repeat_factors(dataset, repeat_thr: float) -> list[float]:
        cat_ids = [set(dataset.get_cat_ids(idx)) for idx in range(len(dataset))]
        frequency: dict[int, int] = defaultdict(int)
        for ids in cat_ids:
            for cat_id in ids:
                frequency[cat_id] += 1
        num_images = len(dataset)
        category_repeat = {cat_id: max(1.0, math.sqrt(repeat_thr / (count / num_images)))
                           for cat_id, count in frequency.items()}
        return [max((category_repeat[c] for c in ids), default=1.0) for ids in cat_ids]

    def __getitem__(self, idx: int):
        return self.dataset[self.repeat_indices[idx]]

    def get_cat_ids(self, idx: int):
        return self.dataset.get_cat_ids(self.repeat_indices[idx])

    def get_gt_labels(self) -> np.ndarray:
        return self.dataset.get_gt_labels()[self.repeat_indices]

    def __len__(self) -> int:
        return len(self.repeat_indices)

    def evaluate(self, *args, **kwargs):
        raise NotImplementedError("evaluate the original dataset, not a ClassBalancedDataset")


@DATASETS.register()
class KFoldDataset:
    """One fold of a k-fold split: the fold's part for testing, the rest for training.

    Args:
        dataset: The dataset (built); in a spec, its config.
        fold: Which fold, in ``[0, num_splits)``.
        num_splits: Number of folds.
        test_mode: Give the fold itself (``True``) or everything else (``False``).
        seed: Shuffle the indices with ``numpy.random.default_rng(seed)`` first; ``None`` keeps the order.
    """

    def __init__(self, dataset, fold: int = 0, num_splits: int = 5, test_mode: bool = False,
                 seed: int | None = None):
        if not 0 <= fold < num_splits:
            raise ValueError(f"fold must be in [0, {num_splits}), got {fold}")
        self.dataset = dataset
        self.CLASSES = dataset.CLASSES
        self.fold = fold
        self.num_splits = num_splits
        self.test_mode = test_mode
        length = len(dataset)
        indices = list(range(length))
        if isinstance(seed, int):
            np.random.default_rng(seed).shuffle(indices)
        start, end = length * fold // num_splits, length * (fold + 1) // num_splits
        self.indices = indices[start:end] if test_mode else indices[:start] + indices[end:]

    def __getitem__(self, idx: int):
        return self.dataset[self.indices[idx]]

    def get_cat_ids(self, idx: int):
        return self.dataset.get_cat_ids(self.indices[idx])

    def get_gt_labels(self) -> np.ndarray:
        return self.dataset.get_gt_labels()[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def evaluate(self, results, *args, **kwargs):
        """Score the fold's results against its own labels (the original dataset's metric)."""
        kwargs["indices"] = self.indices
        return self.dataset.evaluate(results, *args, **kwargs)
