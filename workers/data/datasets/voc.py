"""PASCAL VOC 2007 as a multi-label classification dataset (seed section 59.5).

``ann_file`` is an image-set list such as ``ImageSets/Main/trainval.txt`` (one image id a line); each
image's objects come from ``Annotations/<id>.xml`` under ``data_prefix`` (the ``VOC2007`` folder).
A class seen on a non-difficult object is labelled 1; one seen only on ``difficult`` objects is labelled
-1 (ignored by the metrics), or 1 / 0 with ``difficult_as_postive`` True / False (MMCls 0.25's spelling;
the CSRA spec trains with difficult objects as negatives).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import numpy as np

from workers.data.datasets.base_dataset import data_file, read_lines
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
        difficult_as_postive: Label of classes seen only on difficult objects: ``None`` -1, ``True`` 1,
            ``False`` 0 (the argument keeps MMCls's misspelling, so its configs load unchanged).
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
        difficult_as_postive: bool | None = None,
    ):
        self.difficult_as_postive = difficult_as_postive
        if "VOC2007" not in str(data_prefix):
            raise ValueError("Cannot infer dataset year from img_prefix: data_prefix must contain 'VOC2007'.")
        if ann_file is None:
            raise ValueError("VOC needs ann_file, e.g. 'ImageSets/Main/trainval.txt' under the VOC2007 folder")
        self.year = 2007
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes, ann_file=ann_file,
                         test_mode=test_mode)

    def load_annotations(self) -> list[dict]:
        class_to_idx = self.class_to_idx
        difficult_label = -1 if self.difficult_as_postive is None else int(bool(self.difficult_as_postive))
        infos = []
        for img_id in (line.strip() for line in read_lines(self.ann_file)):
            xml = data_file(os.path.join(self.data_prefix, "Annotations"), f"{img_id}.xml", self.ann_file)
            root = ET.parse(xml).getroot()
            present, difficult = [], []
            for obj in root.findall("object"):
                name = obj.findtext("name", "").strip()
                if name not in class_to_idx:
                    continue
                is_difficult = int(obj.findtext("difficult", "0").strip() or 0)
                (difficult if is_difficult else present).append(class_to_idx[name])
            gt_label = np.zeros(len(self.CLASSES), dtype=np.int8)
            # difficult first, then present: a class with both easy and difficult objects is present
            gt_label[difficult] = difficult_label
            gt_label[present] = 1
            infos.append({"img_prefix": self.data_prefix, "img_info": {"filename": f"JPEGImages/{img_id}.jpg"},
                          "gt_label": gt_label})
        return infos
