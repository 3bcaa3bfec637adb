"""Stanford Cars (196 car models) with its devkit's ``.mat`` annotations (seed section 59.6).

Layout under ``data_prefix``: ``cars_train/``, ``cars_test/``, ``devkit/cars_train_annos.mat``,
``devkit/cars_test_annos_withlabels.mat`` and ``devkit/cars_meta.mat``. Each annotation record is
``(bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, fname)`` with 1-based classes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from workers.data.datasets.base_dataset import BaseDataset
from workers.registry import DATASETS

__all__ = ["StanfordCars"]


def _loadmat(path: str) -> dict:
    try:
        import scipy.io
    except ImportError as error:  # pragma: no cover - scipy is a dependency
        raise ImportError("StanfordCars reads .mat files with scipy: pip install scipy") from error
    return scipy.io.loadmat(path)


@DATASETS.register()
class StanfordCars(BaseDataset):
    """Stanford Cars: 8144 training and 8041 test images.

    Class names are not built in (MMCls lists them): they come from ``devkit/cars_meta.mat``
    (``class_names``) when that file exists, or from ``classes``.

    Args:
        data_prefix: Dataset root (holding ``cars_train``, ``cars_test`` and ``devkit``).
        test_mode: Read the test split.
        pipeline: Transform configs.
        classes: Class names (list or file).
        ann_file: Annotation ``.mat`` replacing the split's devkit file.
    """

    CLASSES = None

    def __init__(
        self,
        data_prefix: str,
        test_mode: bool = False,
        pipeline: Sequence = (),
        classes: str | Sequence[str] | None = None,
        ann_file: str | None = None,
    ):
        root = os.path.expanduser(data_prefix)
        default_ann = "devkit/cars_test_annos_withlabels.mat" if test_mode else "devkit/cars_train_annos.mat"
        self.split_ann_file = ann_file if ann_file is not None else os.path.join(root, default_ann)
        meta = os.path.join(root, "devkit", "cars_meta.mat")
        if classes is None and os.path.isfile(meta):
            classes = [str(name[0]) for name in _loadmat(meta)["class_names"][0]]
        super().__init__(data_prefix=os.path.join(root, "cars_test" if test_mode else "cars_train"),
                         pipeline=pipeline, classes=classes, ann_file=ann_file, test_mode=test_mode)

    def load_annotations(self) -> list[dict]:
        records = _loadmat(self.split_ann_file)["annotations"][0]
        # fields by position, as MMCls reads them: 4 is the 1-based class, 5 the file name
        return [{"img_prefix": self.data_prefix, "img_info": {"filename": str(record[5][0])},
                 "gt_label": np.array(int(record[4][0][0]) - 1, dtype=np.int64)} for record in records]
