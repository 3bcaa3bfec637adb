"""PASCAL VOC 2007 as a multi-label classification dataset (seed section 59.5).

``ann_file`` is an image-set list such as ``ImageSets/Main/trainval.txt`` (one image id a line); each
image's objects come from ``Annotations/<id>.xml`` under ``data_prefix`` (the ``VOC2007`` folder).
A class seen only on ``difficult`` objects is labelled -1, a class seen on any other object 1.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import numpy as np

from workers.data.datasets.base_dataset import read_lines
from workers.data.datasets.multi_label import MultiLabelDataset
from workers.registry import DATASETS

__all__ = ["VOC"]


@DATASETS.register()
class VOC(MultiLabelDataset):
    """PASCAL VOC 2007, 20 classes.

    Args:
        data_prefix: The ``VOC2007`` folder (its name must contain ``VOC2007``, as MMCls checks).
        pipeline: Transform configs.
        classes: Class names; default VOC's 20.
        ann_file: Image-set list, e.g. ``<data_prefix>/ImageSets/Main/test.txt``.
        test_mode: Built for testing.
    """

    CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")

    def __init__(
        self,
        data_prefix: str,
        pipeline: Sequence = (),
        classes: str | Sequence[str] | None = None,
        ann_file: str | None = None,
        test_mode: bool = False,
    ):
        if "VOC2007" not in str(data_prefix):
            raise ValueError("Cannot infer dataset year from img_prefix: data_prefix must contain 'VOC2007'.")
        if ann_file is None:
            raise ValueError("VOC needs ann_file, e.g. 'ImageSets/Main/trainval.txt' under the VOC2007 folder")
        self.year = 2007
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes, ann_file=ann_file,
                         test_mode=test_mode)

    def load_annotations(self) -> list[dict]:
        class_to_idx = self.class_to_idx
        infos = []
        for img_id in (line.strip() for line in read_lines(self.ann_file)):
            root = ET.parse(os.path.join(self.data_prefix, "Annotations", f"{img_id}.xml")).getroot()
            present, difficult = [], []
            for obj in root.findall("object"):
                name = obj.findtext("name", "").strip()
                if name not in class_to_idx:
                    continue
                is_difficult = int(obj.findtext("difficult", "0").strip() or 0)
                (difficult if is_difficult else present).append(class_to_idx[name])
            gt_label = np.zeros(len(self.CLASSES), dtype=np.int8)
            gt_label[difficult] = -1
            gt_label[present] = 1  # a class with one easy object is present even if others are difficult
            infos.append({"img_prefix": self.data_prefix, "img_info": {"filename": f"JPEGImages/{img_id}.jpg"},
                          "gt_label": gt_label})
        return infos
