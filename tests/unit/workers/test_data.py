"""Datasets in both CustomDataset layouts, transforms' result keys, loaders, and the digits writer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.datasets import write_images
from tests.support.specs import TEST_PIPELINE, TRAIN_PIPELINE
from workers.data import build_dataloader, build_dataset
from workers.data.demo import load_digits, write_digits_dataset
from workers.data.transforms import Compose
from workers.registry import TRANSFORMS


def test_it_reads_a_folder_per_class(tmp_path):
    write_images(tmp_path / "train" / "dog", 2)
    write_images(tmp_path / "train" / "cat" / "nested", 3)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")

    dataset = build_dataset({"type": "CustomDataset", "data_prefix": "train", "pipeline": TRAIN_PIPELINE},
                            data_root=tmp_path)

    assert dataset.CLASSES == ["cat", "dog"]
    assert len(dataset) == 5
    assert dataset.get_gt_labels().tolist() == [0, 0, 0, 1, 1]
    assert dataset.data_infos[0]["img_info"]["filename"] == "cat/nested/0.png"
    sample = dataset[4]
    assert set(sample) == {"img", "gt_label", "img_metas"}
    assert sample["img"].shape == (3, 16, 16) and sample["img"].dtype == torch.float32
    assert sample["gt_label"].item() == 1 and sample["gt_label"].dim() == 0


def test_it_reads_an_annotation_file_with_classes_from_a_file(tmp_path):
    write_images(tmp_path / "imgs" / "folder_1", 2)
    write_images(tmp_path / "imgs", 1)
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "train.txt").write_text("folder_1/0.png 0\nfolder_1/1.png 2\n0.png 1\n")
    (tmp_path / "meta" / "classes.txt").write_text("cat\nbird\ndog\n")

    dataset = build_dataset({"type": "CustomDataset", "data_prefix": "imgs", "ann_file": "meta/train.txt",
                             "classes": "meta/classes.txt", "pipeline": TEST_PIPELINE}, data_root=tmp_path)

    assert dataset.CLASSES == ["cat", "bird", "dog"]
    assert dataset.get_gt_labels().tolist() == [0, 2, 1]
    assert dataset[1]["img_metas"]["filename"] == str(tmp_path / "imgs" / "folder_1" / "1.png")


def test_it_rejects_a_bad_annotation_line_and_an_empty_folder(tmp_path):
    (tmp_path / "ann.txt").write_text("a.png 0\nb.png\n")
    with pytest.raises(ValueError, match=r"ann.txt:2: expected '<path> <label>'"):
        build_dataset({"type": "CustomDataset", "data_prefix": str(tmp_path), "ann_file": str(tmp_path / "ann.txt")})
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="Found 0 files in subfolders"):
        build_dataset({"type": "CustomDataset", "data_prefix": str(tmp_path / "empty")})


def test_it_loads_images_in_bgr_with_their_shapes(tmp_path):
    array = np.zeros((5, 7, 3), dtype=np.uint8)
    array[..., 0] = 200  # red
    Image.fromarray(array).save(tmp_path / "red.png")
    results = TRANSFORMS.build({"type": "LoadImageFromFile"})({"img_prefix": str(tmp_path),
                                                               "img_info": {"filename": "red.png"}})
    assert {"img", "img_shape", "ori_shape", "filename", "ori_filename", "img_norm_cfg"} <= set(results)
    assert results["img"].shape == (5, 7, 3) and results["img"].dtype == np.uint8
    assert results["img"][0, 0].tolist() == [0, 0, 200]
    gray = TRANSFORMS.build({"type": "LoadImageFromFile", "color_type": "grayscale"})(
        {"img_prefix": None, "img_info": {"filename": str(tmp_path / "red.png")}})
    assert gray["img"].shape == (5, 7)


def _run(cfg: dict, img: np.ndarray) -> dict:
    return TRANSFORMS.build(cfg)({"img": img, "img_shape": img.shape})


def test_it_resizes_to_a_size_or_by_the_short_side():
    img = np.zeros((20, 40, 3), dtype=np.uint8)
    assert _run({"type": "Resize", "size": 8}, img)["img_shape"] == (8, 8, 3)
    assert _run({"type": "Resize", "size": (10, 30)}, img)["img"].shape == (10, 30, 3)
    assert _run({"type": "Resize", "size": (10, -1)}, img)["img"].shape == (10, 20, 3)
    assert _run({"type": "Resize", "size": (10, -1), "adaptive_side": "long", "backend": "pillow",
                 "interpolation": "nearest"}, img)["img"].shape == (5, 10, 3)


def test_it_crops_flips_and_normalises_with_mmcls_keys():
    img = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    assert _run({"type": "CenterCrop", "crop_size": 4}, img)["img"].tolist() == img[3:7, 4:8].tolist()
    padded = _run({"type": "RandomCrop", "size": 10, "padding": 2}, img[:, :10])
    assert padded["img"].shape == (10, 10, 3)
    assert _run({"type": "RandomResizedCrop", "size": 6}, img)["img"].shape == (6, 6, 3)
    flipped = _run({"type": "RandomFlip", "flip_prob": 1.0}, img)
    assert flipped["flip"] is True and flipped["flip_direction"] == "horizontal"
    assert flipped["img"].tolist() == img[:, ::-1].tolist()
    normed = _run({"type": "Normalize", "mean": [1, 2, 3], "std": [2, 2, 2], "to_rgb": True}, img)
    assert normed["img"].dtype == np.float32
    assert normed["img"][0, 0].tolist() == [(2 - 1) / 2, (1 - 2) / 2, (0 - 3) / 2]
    assert normed["img_norm_cfg"]["to_rgb"] is True


def test_it_formats_tensors_and_collects_only_the_asked_keys():
    pipeline = Compose([{"type": "ImageToTensor", "keys": ["img"]}, {"type": "ToTensor", "keys": ["gt_label"]},
                        {"type": "Collect", "keys": ["img", "gt_label"]}])
    out = pipeline({"img": np.zeros((4, 5), dtype=np.float32), "gt_label": np.array(3, dtype=np.int64),
                    "filename": "x.png", "ori_shape": (4, 5), "extra": 1})
    assert set(out) == {"img", "gt_label", "img_metas"}
    assert out["img"].shape == (1, 4, 5) and out["gt_label"].shape == ()
    assert out["img_metas"] == {"filename": "x.png", "ori_shape": (4, 5)}


def test_it_batches_samples_with_their_metas(tiny_root):
    dataset = build_dataset({"type": "CustomDataset", "data_prefix": "tiny/train", "pipeline": TRAIN_PIPELINE},
                            data_root=tiny_root)
    loader = build_dataloader(dataset, samples_per_gpu=5, workers_per_gpu=0, shuffle=True, seed=1)
    batches = list(loader)
    assert [len(b["gt_label"]) for b in batches] == [5, 5, 2]
    assert batches[0]["img"].shape == (5, 3, 16, 16) and len(batches[0]["img_metas"]) == 5
    again = [b["gt_label"].tolist() for b in build_dataloader(dataset, 5, 0, shuffle=True, seed=1)]
    assert again == [b["gt_label"].tolist() for b in batches]


def test_it_writes_the_digits_once_in_the_folder_layout(digits_root):
    root = digits_root / "data" / "digits"
    counts = write_digits_dataset(root)  # already written by the fixture: nothing to do
    assert counts == {"train": 1438, "val": 359, "classes": 10}
    assert sorted(p.name for p in (root / "val").iterdir()) == [str(d) for d in range(10)]
    assert len(list((root / "train").rglob("*.png"))) == 1438
    with Image.open(next((root / "val" / "3").iterdir())) as image:
        assert image.size == (16, 16) and image.mode == "L"


def test_it_reads_the_digits_scikit_learn_ships_as_scikit_learn_does():
    from sklearn.datasets import load_digits as sklearn_load_digits

    images, labels = load_digits()
    theirs = sklearn_load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == theirs.images.dtype
    assert np.array_equal(images, theirs.images) and np.array_equal(labels, theirs.target)
