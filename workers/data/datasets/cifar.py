"""CIFAR-10 and CIFAR-100 from the python pickle batches of https://www.cs.toronto.edu/~kriz/cifar.html.

The files lie under ``data_prefix/<base_folder>`` as the archives unpack (``cifar-10-batches-py`` with
``data_batch_1..5``, ``test_batch``, ``batches.meta``; ``cifar-100-python`` with ``train``, ``test``,
``meta``). Nothing is downloaded: a missing file raises and names the archive's URL. Images are HxWx3
uint8 in RGB order, already in memory, so pipelines start without ``LoadImageFromFile`` (seed 59.3).

The batches are pickles that a team member may have uploaded: they are read with
:func:`workers.data.plain_data.read`, which builds arrays, lists, dicts, strings and numbers and refuses
anything else (issue 13, "no code from data"), never with ``pickle.load``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np

from workers.data import plain_data
from workers.data.datasets.base_dataset import BaseDataset
from workers.registry import DATASETS

__all__ = ["CIFAR10", "CIFAR100", "md5sum"]


def md5sum(path: str, chunk_size: int = 1 << 20) -> str:
    """Hex md5 of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


@DATASETS.register()
class CIFAR10(BaseDataset):
    """CIFAR-10: 50000 training and 10000 test images of 10 classes.

    Args:
        data_prefix: Folder holding ``base_folder``.
        pipeline: Transform configs (no loading step: ``img`` is in the annotations).
        classes: Class names; default those of the ``batches.meta`` file.
        ann_file: Unused, as in MMCls.
        test_mode: Read the test batch instead of the training batches.
        check_md5: Compare each file's md5 with the published one first.
    """

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ["data_batch_1", "c99cafc152244af753f735de768cd75f"],
        ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
        ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
        ["data_batch_4", "634d18415352ddfa80567beed471001a"],
        ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"],
    ]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names", "md5": "5ff9c542aee3614f3951f8cda6e48888"}
    label_key = "labels"
    CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    def __init__(
        self,
        data_prefix: str,
        pipeline: Sequence = (),
        classes: str | Sequence[str] | None = None,
        ann_file: str | None = None,
        test_mode: bool = False,
        check_md5: bool = False,
    ):
        self.check_md5 = check_md5
        self._classes_given = classes is not None
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes, ann_file=ann_file,
                         test_mode=test_mode)

    def _path(self, name: str, md5: str) -> str:
        path = os.path.join(self.data_prefix, self.base_folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: unpack {self.url} into {self.data_prefix}")
        if self.check_md5 and md5sum(path) != md5:
            raise RuntimeError(f"{path}: md5 mismatch, the file is corrupt or not the published one")
        return path

    def _unpickle(self, path: str) -> dict:
        """One batch or meta file: plain data only. Errors name it as ``<base_folder>/<file>``, not by the
        worker's absolute path. Latin-1 because the published files were pickled by Python 2."""
        name = f"{self.base_folder}/{os.path.basename(path)}"
        entry = plain_data.read(path, encoding="latin1", name=name)
        if not isinstance(entry, dict):
            raise ValueError(f"{name}: expected a dict, found a {type(entry).__name__}")
        return entry

    def load_annotations(self) -> list[dict]:
        images, labels = [], []
        for name, md5 in self.test_list if self.test_mode else self.train_list:
            entry = self._unpickle(self._path(name, md5))
            images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(entry[self.label_key])
        meta = self._unpickle(self._path(self.meta["filename"], self.meta["md5"]))
        if not self._classes_given:
            self.CLASSES = list(meta[self.meta["key"]])
        imgs = np.concatenate(images).transpose(0, 2, 3, 1)  # NCHW -> NHWC, RGB
        return [{"img": img, "gt_label": np.array(label, dtype=np.int64)} for img, label in zip(imgs, labels, strict=True)]


@DATASETS.register()
class CIFAR100(CIFAR10):
    """CIFAR-100: the same layout with 100 fine labels (``fine_labels``, ``fine_label_names``)."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [["train", "16019d7e3df5f24257cddd939b257f8d"]]
    test_list = [["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"]]
    meta = {"filename": "meta", "key": "fine_label_names", "md5": "7973b15100ade9c7d40fb424638fde48"}
    label_key = "fine_labels"
    CLASSES = None
