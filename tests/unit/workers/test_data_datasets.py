"""The format datasets read tiny files written here in each real on-disk format; the wrappers resample."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from tests.support.dataset_formats import LOAD, write_cifar, write_idx
from tests.support.dataset_formats import voc_xml as _voc_xml
from tests.support.datasets import write_images
from workers.data import build_dataset
from workers.registry import DATASETS

torch.set_num_threads(1)

IN_MEMORY = [{"type": "ImageToTensor", "keys": ["img"]}, {"type": "ToTensor", "keys": ["gt_label"]},
             {"type": "Collect", "keys": ["img", "gt_label"]}]


def test_it_reads_cifar10_batches_as_rgb_images(tmp_path):
    batches = {f"data_batch_{i}": [i % 10, (i + 3) % 10] for i in range(1, 6)}
    batches["test_batch"] = [9]
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write_cifar(tmp_path / "data" / "cifar-10-batches-py", batches, "batches.meta", {"label_names": names},
                 "labels")

    train = build_dataset({"type": "CIFAR10", "data_prefix": "data", "pipeline": IN_MEMORY}, data_root=tmp_path)
    test = build_dataset({"type": "CIFAR10", "data_prefix": str(tmp_path / "data"), "test_mode": True})

    assert len(train) == 10 and len(test) == 1
    assert train.CLASSES == names and train.class_to_idx["truck"] == 9
    assert train.get_gt_labels().tolist() == [1, 4, 2, 5, 3, 6, 4, 7, 5, 8]
    img = test.data_infos[0]["img"]
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [9, 0, 7]
    sample = train[1]
    assert sample["img"].shape == (3, 32, 32) and sample["gt_label"].item() == 4


def test_it_reads_cifar100_fine_labels_and_checks_md5_on_request(tmp_path):
    fine = [f"class_{i}" for i in range(100)]
    write_cifar(tmp_path / "cifar-100-python", {"train": [99, 0, 42], "test": [5]}, "meta",
                 {"fine_label_names": fine, "coarse_label_names": ["x"]}, "fine_labels")

    dataset = build_dataset({"type": "CIFAR100", "data_prefix": str(tmp_path)})
    assert dataset.get_gt_labels().tolist() == [99, 0, 42]
    assert len(dataset.CLASSES) == 100 and dataset.get_cat_ids(2) == [42]
    with pytest.raises(RuntimeError, match="md5 mismatch"):
        build_dataset({"type": "CIFAR100", "data_prefix": str(tmp_path), "check_md5": True})
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        build_dataset({"type": "CIFAR10", "data_prefix": str(tmp_path)})


def test_it_reads_mnist_idx_files_plain_or_gzipped_in_the_raw_folder(tmp_path):
    imgs = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28) % 256
    write_idx(tmp_path / "train-images-idx3-ubyte", imgs, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([7, 0, 3]), gz=False)
    raw = tmp_path / "fashion" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", imgs[:2], gz=True)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.array([9, 1]), gz=True)

    mnist = build_dataset({"type": "MNIST", "data_prefix": str(tmp_path), "pipeline": IN_MEMORY})
    fashion = build_dataset({"type": "FashionMNIST", "data_prefix": str(tmp_path / "fashion"), "test_mode": True})

    assert mnist.get_gt_labels().tolist() == [7, 0, 3] and mnist.CLASSES[7] == "7 - seven"
    assert mnist.data_infos[1]["img"].shape == (28, 28) and mnist.data_infos[1]["img"].dtype == np.uint8
    assert np.array_equal(mnist.data_infos[2]["img"], imgs[2])
    assert mnist[0]["img"].shape == (1, 28, 28)
    assert fashion.get_gt_labels().tolist() == [9, 1] and fashion.CLASSES[9] == "Ankle boot"
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        build_dataset({"type": "MNIST", "data_prefix": str(tmp_path), "test_mode": True})


def test_it_reads_voc_labels_with_difficult_classes_as_minus_one(tmp_path):
    root = tmp_path / "VOCdevkit" / "VOC2007"
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "Annotations").mkdir()
    (root / "JPEGImages").mkdir()
    annotations = {"000005": [("chair", 0), ("chair", 1), ("dog", 1), ("unknown", 0)],
                   "000007": [("car", 0), ("person", 0)]}
    for img_id, objects in annotations.items():
        (root / "Annotations" / f"{img_id}.xml").write_text(_voc_xml(objects))
        Image.new("RGB", (12, 10), (0, 128, 255)).save(root / "JPEGImages" / f"{img_id}.jpg")
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("000005\n000007\n")

    dataset = build_dataset({"type": "VOC", "data_prefix": "VOCdevkit/VOC2007", "pipeline": LOAD,
                             "ann_file": "VOCdevkit/VOC2007/ImageSets/Main/trainval.txt"}, data_root=tmp_path)

    labels = dataset.get_gt_labels()
    assert labels.shape == (2, 20) and labels.dtype == np.int8
    chair, dog, car, person = (dataset.class_to_idx[c] for c in ("chair", "dog", "car", "person"))
    assert labels[0, chair] == 1 and labels[0, dog] == -1 and (labels[0] != 0).sum() == 2
    assert dataset.get_cat_ids(0) == [chair] and dataset.get_cat_ids(1) == [car, person]
    sample = dataset[1]
    assert sample["img"].shape == (10, 12, 3) and sample["img"].dtype == np.uint8
    # perfect scores: AP 1 for chair, car and person; the dog (difficult only) and absent classes give 0
    assert dataset.evaluate(list(labels.astype(np.float64)), metric="mAP")["mAP"] == pytest.approx(15.0)
    scores = np.zeros((2, 20))
    scores[0, [chair, dog]] = 0.9  # the difficult dog counts as absent: one false positive of three
    scores[1, car] = 0.9
    overall = dataset.evaluate(list(scores), metric=["OP", "OR", "CP"])
    assert overall["OP"] == pytest.approx(200 / 3) and overall["OR"] == pytest.approx(200 / 3)
    assert overall["CP"] == pytest.approx(100 * 2 / 20)
    with pytest.raises(ValueError, match="Cannot infer dataset year"):
        DATASETS.get("VOC")(data_prefix=str(tmp_path), ann_file=str(root / "ImageSets/Main/trainval.txt"))


def test_it_reads_stanford_cars_devkit_mat_files(tmp_path):
    (tmp_path / "devkit").mkdir()
    write_images(tmp_path / "cars_train", 3)
    write_images(tmp_path / "cars_test", 1)

    def annos(rows):
        records = np.zeros((1, len(rows)), dtype=[(k, "O") for k in
                                                  ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")])
        for i, (label, fname) in enumerate(rows):
            records[0, i] = (np.array([[1]]), np.array([[2]]), np.array([[10]]), np.array([[12]]),
                             np.array([[label]], dtype=np.uint8), np.array([fname]))
        return {"annotations": records}

    scipy.io.savemat(tmp_path / "devkit" / "cars_train_annos.mat", annos([(1, "0.png"), (196, "2.png"), (5, "1.png")]))
    scipy.io.savemat(tmp_path / "devkit" / "cars_test_annos_withlabels.mat", annos([(3, "0.png")]))
    names = np.empty((1, 196), dtype=object)
    names[0, :] = [f"Car {i}" for i in range(1, 197)]
    scipy.io.savemat(tmp_path / "devkit" / "cars_meta.mat", {"class_names": names})

    train = build_dataset({"type": "StanfordCars", "data_prefix": str(tmp_path), "pipeline": LOAD})
    test = build_dataset({"type": "StanfordCars", "data_prefix": str(tmp_path)}, {"test_mode": True})

    assert train.get_gt_labels().tolist() == [0, 195, 4] and test.get_gt_labels().tolist() == [2]
    assert len(train.CLASSES) == 196 and train.CLASSES[195] == "Car 196"
    assert train[1]["img_metas"]["ori_filename"] == "2.png" and train[1]["img"].shape == (12, 12, 3)
    assert test.data_prefix == str(tmp_path / "cars_test")


def test_it_reads_imagenet_val_lists_and_imagenet21k_folders(tmp_path):
    write_images(tmp_path / "val", 3)
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "val.txt").write_text("0.png 65\n1.png 970\n2.png 0\n")
    val = build_dataset({"type": "ImageNet", "data_prefix": "val", "ann_file": "meta/val.txt", "pipeline": LOAD},
                        data_root=tmp_path)
    assert len(val.CLASSES) == 1000 and val.CLASSES[0] == "tench"
    assert val.get_gt_labels().tolist() == [65, 970, 0] and val[1]["img"].shape == (12, 12, 3)

    write_images(tmp_path / "train" / "n01440764", 2)
    write_images(tmp_path / "train" / "n01443537" / "sub", 1)
    with pytest.raises(ValueError, match="number of subfolders"):
        build_dataset({"type": "ImageNet", "data_prefix": str(tmp_path / "train")})
    with pytest.warns(UserWarning, match="scanning directory"):
        in21k = build_dataset({"type": "ImageNet21k", "data_prefix": str(tmp_path / "train")})
    assert in21k.CLASSES == ["n01440764", "n01443537"] and in21k.get_gt_labels().tolist() == [0, 0, 1]
    with pytest.raises(NotImplementedError, match="multi_label"):
        build_dataset({"type": "ImageNet21k", "data_prefix": str(tmp_path / "train"), "multi_label": True})


class _Labels:
    """A dataset of bare labels for the wrappers."""

    CLASSES = ["a", "b", "c"]

    def __init__(self, labels):
        self.labels = list(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return self.labels[idx]

    def get_cat_ids(self, idx):
        return [self.labels[idx]]

    def get_gt_labels(self):
        return np.array(self.labels)

    def evaluate(self, results, indices=None):
        return {"n": len(indices), "first": int(indices[0])}


def test_it_oversamples_rare_classes_by_the_lvis_repeat_factor():
    dataset = _Labels([0] * 8 + [1, 2])
    balanced = DATASETS.get("ClassBalancedDataset")(dataset, oversample_thr=0.4)
    # f(0)=0.8 -> r=1; f(1)=f(2)=0.1 -> r=sqrt(4)=2
    assert balanced.repeat_factors == [1.0] * 8 + [2.0, 2.0]
    assert len(balanced) == 12 and balanced.get_gt_labels().tolist() == [0] * 8 + [1, 1, 2, 2]
    assert balanced[9] == 1 and balanced.get_cat_ids(11) == [2] and balanced.CLASSES == ["a", "b", "c"]


def test_it_splits_k_folds_without_overlap(tmp_path):
    write_images(tmp_path / "x" / "a", 5)
    write_images(tmp_path / "x" / "b", 5)
    base = {"type": "CustomDataset", "data_prefix": "x"}
    folds = [build_dataset({"type": "KFoldDataset", "dataset": base, "fold": k, "num_splits": 5, "seed": 3},
                           {"test_mode": True}, data_root=tmp_path) for k in range(5)]
    assert [len(f) for f in folds] == [2] * 5
    assert sorted(i for f in folds for i in f.indices) == list(range(10))
    train = build_dataset({"type": "KFoldDataset", "dataset": base, "fold": 1, "seed": 3, "test_mode": False},
                          data_root=tmp_path)
    assert len(train) == 8 and not set(train.indices) & set(folds[1].indices)
    assert train.get_gt_labels().tolist() == [int(i >= 5) for i in train.indices]
    plain = DATASETS.get("KFoldDataset")(_Labels([0, 1, 2, 0]), fold=1, num_splits=2, test_mode=True)
    assert plain.indices == [2, 3] and plain.evaluate([None, None]) == {"n": 2, "first": 2}
