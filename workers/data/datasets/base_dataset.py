"""BaseDataset: annotations as a list of dicts, a transform pipeline, and MMCls's ``evaluate``."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from jobspecs.paths import PathPolicyError, relative_problem
from workers.data.transforms import Compose
from workers.evaluation import evaluate_classification

__all__ = ["BaseDataset", "confine_data", "data_file", "expanduser", "read_lines"]

# Set on a service worker (``workers.distributed.launch.confine_worker``): the run's dataset folder, which every
# file an annotation names must stay inside. ``None`` (the CLI on a user's own machine): paths are free.
_CONFINED_ROOT: str | None = None


def confine_data(root: str | Path | None) -> None:
    """Confine the files annotations name to ``root`` (the run's dataset) in this process, or lift it (None)."""
    global _CONFINED_ROOT
    _CONFINED_ROOT = os.path.realpath(root) if root else None


def _check_name(name: str, where: str) -> None:
    """Refuse an annotation's file name that leaves its folder: an absolute path, or ``..``.

    Checked on the names as written, once per dataset: the dataset's own folder was resolved (links followed)
    when the spec was rebased, and what lies inside it came from an upload, which holds no links."""
    if relative_problem(str(name)):
        raise PathPolicyError(f"{where} names {str(name)[:200]!r}, a file outside the run's dataset")


def data_file(prefix: str | None, name: str, where: str = "an annotation") -> str:
    """``prefix/name`` for a file an annotation names, refused on a service worker if it leaves the dataset."""
    if _CONFINED_ROOT is not None:
        _check_name(name, where)
    return os.path.join(prefix, name) if prefix is not None else name


def read_lines(path: str | Path) -> list[str]:
    """Non-empty lines of a text file, right-stripped."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n\r") for line in f if line.strip()]


def expanduser(path: str | Path | None) -> str | None:
    return None if path is None else str(Path(path).expanduser())


_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None)})


def copy_info(value):
    """A copy of an annotation (``data_infos[i]``) for the pipeline to change: ``copy.deepcopy``'s result
    for the dicts, lists, tuples, arrays and scalars annotations hold, several times faster (it runs for
    every sample; ``deepcopy`` took ~5% of a sample's time); anything else goes through ``deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {key: copy_info(item) for key, item in value.items()}
    if kind in _IMMUTABLE:
        return value
    if kind is np.ndarray:
        return value.copy()
    if kind is list:
        return [copy_info(item) for item in value]
    if kind is tuple:
        return tuple(copy_info(item) for item in value)
    return copy.deepcopy(value)


class BaseDataset(Dataset):
    """Base of the classification datasets: subclasses implement :meth:`load_annotations`.

    Each annotation is a dict with ``img_prefix``, ``img_info={'filename': ...}`` and ``gt_label``;
    indexing runs a deep copy of it through the pipeline.

    Args:
        data_prefix: Folder the image file names are relative to.
        pipeline: Transform configs (or callables).
        classes: Class names: a list/tuple, a text file with one name a line, or ``None`` for the
            class's ``CLASSES`` (or what the annotations reveal).
        ann_file: Annotation file, or ``None``.
        test_mode: Built for testing.
    """

    CLASSES: Sequence[str] | None = None

    def __init__(
        self,
        data_prefix: str,
        pipeline: Sequence = (),
        classes: str | Sequence[str] | None = None,
        ann_file: str | None = None,
        test_mode: bool = False,
    ):
        super().__init__()
        self.data_prefix = expanduser(data_prefix)
        self.ann_file = expanduser(ann_file)
        self.test_mode = test_mode
        self.pipeline = Compose(list(pipeline))
        self.CLASSES = self.get_classes(classes)
        self.data_infos = self.load_annotations()
        if _CONFINED_ROOT is not None:
            self._check_confined()

    def _check_confined(self) -> None:
        """Every image an annotation names lies inside the run's dataset (a service worker's rule)."""
        where = f"{type(self).__name__} {self.ann_file or self.data_prefix}"
        for info in self.data_infos:
            name = (info.get("img_info") or {}).get("filename")
            if name is not None:
                _check_name(name, where)
            prefix = info.get("img_prefix")
            if prefix is not None and prefix != self.data_prefix:
                _check_name(os.path.relpath(os.path.realpath(prefix), _CONFINED_ROOT), where)

    def load_annotations(self) -> list[dict]:
        raise NotImplementedError

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.CLASSES)}

    def get_gt_labels(self) -> np.ndarray:
        """All labels, ``(N,)`` int64."""
        return np.array([info["gt_label"] for info in self.data_infos], dtype=np.int64)

    def get_cat_ids(self, idx: int) -> list[int]:
        return [int(self.data_infos[idx]["gt_label"])]

    def prepare_data(self, idx: int) -> dict:
        return self.pipeline(copy_info(self.data_infos[idx]))

    def __len__(self) -> int:
        return len(self.data_infos)

    def __getitem__(self, idx: int) -> dict:
        return self.prepare_data(idx)

    @classmethod
    def get_classes(cls, classes: str | Sequence[str] | None = None) -> list[str] | None:
        """Class names from a list, a file of names, or the class default."""
        if classes is None:
            return list(cls.CLASSES) if cls.CLASSES is not None else None
        if isinstance(classes, str):
            return read_lines(Path(classes).expanduser())
        if isinstance(classes, (tuple, list)):
            return list(classes)
        raise ValueError(f"Unsupported type {type(classes).__name__} of classes.")

    def evaluate(self, results, metric: str | list[str] = "accuracy", metric_options: dict | None = None,
                 indices=None) -> dict[str, float]:
        """Score ``results`` (scores for every sample, in dataset order) with MMCls's metric names."""
        gt_labels = self.get_gt_labels()
        if indices is not None:
            gt_labels = gt_labels[indices]
        return evaluate_classification(results, gt_labels, metric, metric_options)
