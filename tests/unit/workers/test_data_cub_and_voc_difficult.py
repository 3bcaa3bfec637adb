"""CUB-200-2011 from a tiny on-disk copy of its layout; VOC's ``difficult_as_postive`` labels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jobspecs import load_library
from tests.support.dataset_formats import LOAD
from tests.support.dataset_formats import voc_xml as _voc_xml
from workers.data import build_dataset

CUB_FILES = {"ann_file": "CUB_200_2011/images.txt",
             "image_class_labels_file": "CUB_200_2011/image_class_labels.txt",
             "train_test_split_file": "CUB_200_2011/train_test_split.txt",
             "data_prefix": "CUB_200_2011/images"}


def write_cub(root):
    """Four images of classes 1, 200, 2, 1 (1-based); images 1 and 3 are for training."""
    rows = [("001.Black_footed_Albatross/a_1.jpg", 1, 1), ("200.Common_Yellowthroat/b_2.jpg", 200, 0),
            ("002.Laysan_Albatross/c_3.jpg", 2, 1), ("001.Black_footed_Albatross/d_4.jpg", 1, 0)]
    base = root / "CUB_200_2011"
    for i, (path, _, _) in enumerate(rows):
        (base / "images" / path).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8 + i, 6), (i, 0, 0)).save(base / "images" / path)
    (base / "images.txt").write_text("".join(f"{i} {p}\n" for i, (p, _, _) in enumerate(rows, 1)))
    (base / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, (_, c, _) in enumerate(rows, 1)))
    (base / "train_test_split.txt").write_text("".join(f"{i} {s}\n" for i, (_, _, s) in enumerate(rows, 1)))


def test_it_reads_cub_splits_with_zero_based_labels(tmp_path):
    write_cub(tmp_path)

    train = build_dataset({"type": "CUB", **CUB_FILES, "pipeline": LOAD}, data_root=tmp_path)
    test = build_dataset({"type": "CUB", **CUB_FILES, "pipeline": LOAD}, {"test_mode": True}, data_root=tmp_path)

    assert len(train.CLASSES) == 200 and train.CLASSES[0] == "Black_footed_Albatross"
    assert train.CLASSES[199] == "Common_Yellowthroat"
    assert train.get_gt_labels().tolist() == [0, 1] and test.get_gt_labels().tolist() == [199, 0]
    assert [info["img_info"]["filename"] for info in test.data_infos] == [
        "200.Common_Yellowthroat/b_2.jpg", "001.Black_footed_Albatross/d_4.jpg"]
    assert train[1]["img"].shape == (6, 10, 3) and int(train[1]["gt_label"]) == 1


def test_it_rejects_cub_files_of_different_lengths(tmp_path):
    write_cub(tmp_path)
    (tmp_path / "CUB_200_2011" / "train_test_split.txt").write_text("1 1\n2 0\n")
    with pytest.raises(ValueError, match=r"samples\(4\), gt_labels\(4\) and splits\(2\)"):
        build_dataset({"type": "CUB", **CUB_FILES}, data_root=tmp_path)


@pytest.mark.parametrize(("difficult_as_postive", "dog_label"), [(None, -1), (True, 1), (False, 0)])
def test_it_labels_difficult_only_voc_classes_by_difficult_as_postive(tmp_path, difficult_as_postive, dog_label):
    root = tmp_path / "VOC2007"
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "Annotations").mkdir()
    # a chair both easy and difficult stays present whatever the option says
    (root / "Annotations" / "000005.xml").write_text(_voc_xml([("chair", 1), ("chair", 0), ("dog", 1)]))
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("000005\n")

    dataset = build_dataset({"type": "VOC", "data_prefix": "VOC2007", "ann_file": "VOC2007/ImageSets/Main/trainval.txt",
                             "difficult_as_postive": difficult_as_postive}, data_root=tmp_path)

    labels = dataset.get_gt_labels()[0]
    assert labels[dataset.class_to_idx["chair"]] == 1 and labels[dataset.class_to_idx["dog"]] == dog_label
    assert np.count_nonzero(labels) == (1 if dog_label == 0 else 2)


@pytest.mark.parametrize("name", ["resnet/resnet50_8xb8_cub.py", "swin_transformer/swin-large_8xb8_cub_384px.py"])
def test_it_builds_the_cub_specs_datasets_under_a_data_root(tmp_path, name):
    write_cub(tmp_path / "data")
    data = load_library(name)["data"]

    train = build_dataset({**data["train"], "pipeline": LOAD}, data_root=tmp_path)
    val = build_dataset({**data["val"], "pipeline": LOAD}, {"test_mode": True}, data_root=tmp_path)

    assert len(train) == 2 and len(val) == 2 and len(train.CLASSES) == 200
