"""MNIST and Fashion-MNIST from their idx-ubyte files (http://yann.lecun.com/exdb/mnist/).

MMCls unpacks the four files into ``data_prefix``; torchvision into ``data_prefix/raw``. Both places are
searched, each file plain or ``.gz``. Nothing is downloaded. Images are 28x28 uint8 (HxW), in memory.
"""

from __future__ import annotations

import codecs
import gzip
import os

import numpy as np

from workers.data.datasets.base_dataset import BaseDataset
from workers.registry import DATASETS

__all__ = ["MNIST", "FashionMNIST", "read_idx_file"]

# idx type codes (third byte of the magic number) -> numpy dtypes, big-endian
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx_file(path: str) -> np.ndarray:
    """An idx-ubyte array (``.gz`` allowed): magic ``0 0 <type> <ndim>``, ``ndim`` big-endian sizes, data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (magic {codecs.encode(data[:4], 'hex').decode()})")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    array = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim, count=int(np.prod(shape)))
    return array.reshape(shape).astype(dtype.newbyteorder("="))


@DATASETS.register()
class MNIST(BaseDataset):
    """MNIST: 60000 training and 10000 test digits.

    Args:
        data_prefix: Folder of the idx files (or of their ``raw/`` folder).
        pipeline: Transform configs (no loading step: ``img`` is in the annotations).
        classes: Class names.
        ann_file: Unused, as in MMCls.
        test_mode: Read the ``t10k`` files instead of the training files.
    """

    resource_prefix = "http://yann.lecun.com/exdb/mnist/"
    resources = {
        "train_image_file": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train_label_file": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        "test_image_file": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        "test_label_file": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    }
    CLASSES = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine")

    def _find(self, key: str) -> str:
        gz_name = self.resources[key][0]
        names = (gz_name[:-3], gz_name)
        for folder in (self.data_prefix, os.path.join(self.data_prefix, "raw")):
            for name in names:
                path = os.path.join(folder, name)
                if os.path.isfile(path):
                    return path
        raise FileNotFoundError(f"{names[0]}(.gz) not found in {self.data_prefix} or its raw/ folder: "
                                f"download {self.resource_prefix}{gz_name}")

    def load_annotations(self) -> list[dict]:
        split = "test" if self.test_mode else "train"
        imgs = read_idx_file(self._find(f"{split}_image_file"))
        labels = read_idx_file(self._find(f"{split}_label_file"))
        if imgs.ndim != 3 or labels.ndim != 1 or len(imgs) != len(labels):
            raise ValueError(f"{split} files: {imgs.shape} images do not match {labels.shape} labels")
        return [{"img": img, "gt_label": np.array(label, dtype=np.int64)} for img, label in zip(imgs, labels, strict=True)]


@DATASETS.register()
class FashionMNIST(MNIST):
    """Fashion-MNIST: Zalando's article images in MNIST's file layout."""

    resource_prefix = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    resources = {
        "train_image_file": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train_label_file": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        "test_image_file": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        "test_label_file": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    }
    CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
