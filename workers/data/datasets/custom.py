"""CustomDataset: a folder per class, or an annotation file of "path label" lines (seed section 6.1.1)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workers.data.datasets.base_dataset import BaseDataset, read_lines
from workers.registry import DATASETS

__all__ = ["IMG_EXTENSIONS", "CustomDataset", "find_folders", "get_samples"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif")


def find_folders(root: str) -> tuple[list[str], dict[str, int]]:
    """Sorted sub-folder names of ``root`` and their indices."""
    folders = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    return folders, {name: i for i, name in enumerate(folders)}


def get_samples(root: str, folder_to_idx: dict[str, int], extensions: Sequence[str]):
    """``(relative path, class index)`` of every image under each class folder (recursively), sorted."""
    samples, empty_classes = [], []
    for folder in sorted(folder_to_idx):
        base = Path(root, folder)
        files = sorted(p.relative_to(root).as_posix() for p in base.rglob("*")
                       if p.is_file() and p.suffix.lower() in extensions)
        if not files:
            empty_classes.append(folder)
        samples.extend((f, folder_to_idx[folder]) for f in files)
    return samples, empty_classes


@DATASETS.register()
class CustomDataset(BaseDataset):
    """A dataset in one of the two layouts of the seed's section 6.1.1.

    Without ``ann_file``, every sub-folder of ``data_prefix`` is a class (sorted names give the
    indices) and every image below it a sample. With ``ann_file``, each line is
    ``<path relative to data_prefix> <class index>``.

    Args:
        data_prefix: Root folder of the images.
        pipeline: Transform configs.
        classes: Class names (list or file); with folders they default to the folder names.
        ann_file: Annotation file, or ``None`` for the folder layout.
        extensions: Image file suffixes considered in the folder layout.
        test_mode: Built for testing.
        file_client_args: Accepted for MMCls compatibility; only the local disk is read.
    """

    def __init__(
        self,
        data_prefix: str,
        pipeline: Sequence = (),
        classes: str | Sequence[str] | None = None,
        ann_file: str | None = None,
        extensions: Sequence[str] = IMG_EXTENSIONS,
        test_mode: bool = False,
        file_client_args: dict | None = None,
    ):
        if file_client_args not in (None, {"backend": "disk"}):
            raise NotImplementedError(f"file_client_args {file_client_args!r}: only the local disk is supported")
        self.extensions = tuple(sorted({e.lower() for e in extensions}))
        self.folder_to_idx: dict[str, int] = {}
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes, ann_file=ann_file,
                         test_mode=test_mode)

    def _find_samples(self) -> list[tuple[str, int]]:
        if not os.path.isdir(self.data_prefix):
            raise FileNotFoundError(f"data_prefix {self.data_prefix!r} is not a folder")
        classes, folder_to_idx = find_folders(self.data_prefix)
        samples, empty_classes = get_samples(self.data_prefix, folder_to_idx, self.extensions)
        if not samples:
            raise RuntimeError(f"Found 0 files in subfolders of: {self.data_prefix}. "
                               f"Supported extensions are: {', '.join(self.extensions)}")
        if self.CLASSES is not None:
            if len(self.CLASSES) != len(classes):
                raise ValueError(f"The number of subfolders ({len(classes)}) doesn't match the number of "
                                 f"specified classes ({len(self.CLASSES)}). Please check the data folder.")
        else:
            self.CLASSES = classes
        if empty_classes:
            warnings.warn(f"Found no valid file in the folder {', '.join(empty_classes)}. "
                          f"Supported extensions are: {', '.join(self.extensions)}", UserWarning, stacklevel=3)
        self.folder_to_idx = folder_to_idx
        return samples

    def load_annotations(self) -> list[dict]:
        if self.ann_file is None:
            samples = self._find_samples()
        elif isinstance(self.ann_file, str):
            samples = []
            for number, line in enumerate(read_lines(self.ann_file), start=1):
                parts = line.strip().rsplit(" ", 1)
                if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                    raise ValueError(f"{self.ann_file}:{number}: expected '<path> <label>', got {line!r}")
                samples.append((parts[0], int(parts[1])))
        else:
            raise TypeError("ann_file must be a str or None")
        if self.CLASSES is not None:
            bad = [label for _, label in samples if not 0 <= label < len(self.CLASSES)]
            if bad:
                raise ValueError(f"labels must be in [0, {len(self.CLASSES) - 1}], found {bad[0]}")
        return [{"img_prefix": self.data_prefix, "img_info": {"filename": filename},
                 "gt_label": np.array(label, dtype=np.int64)} for filename, label in samples]
