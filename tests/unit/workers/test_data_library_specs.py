"""The library's MMCls specs run on tiny data written here: their datasets, pipelines and batch augments."""

from __future__ import annotations

import copy

import numpy as np
import torch
from PIL import Image

from jobspecs.loader import load_library
from tests.support.dataset_formats import write_cifar, write_idx
from workers.data import Augments, build_dataloader, build_dataset

torch.set_num_threads(1)


def test_it_trains_lenet_mnist_data_from_idx_files(tmp_path):
    spec = load_library("lenet/lenet5_mnist.py")
    mnist = tmp_path / "data" / "mnist"
    mnist.mkdir(parents=True)
    write_idx(mnist / "train-images-idx3-ubyte", np.full((2, 28, 28), 200), gz=True)
    write_idx(mnist / "train-labels-idx1-ubyte", np.array([4, 2]), gz=True)

    dataset = build_dataset(spec["data"]["train"], data_root=tmp_path)

    sample = dataset[0]
    assert sample["img"].shape == (1, 32, 32) and sample["img"].dtype == torch.float32
    assert sample["gt_label"].item() == 4


def test_it_mixes_up_cifar10_batches_as_the_mixup_spec_asks(tmp_path):
    spec = load_library("resnet/resnet50_8xb16-mixup_cifar10.py")
    batches = {f"data_batch_{i}": [i, i + 1] for i in range(1, 6)}
    batches["test_batch"] = [0]
    write_cifar(tmp_path / "data" / "cifar10" / "cifar-10-batches-py", batches, "batches.meta",
                {"label_names": [str(i) for i in range(10)]}, "labels")

    train = build_dataset(spec["data"]["train"], data_root=tmp_path)
    test = build_dataset(spec["data"]["test"], {"test_mode": True}, data_root=tmp_path)
    batch = next(iter(build_dataloader(train, samples_per_gpu=4, workers_per_gpu=0, seed=0)))
    img, soft = Augments(spec["model"]["train_cfg"]["augments"])(batch["img"], batch["gt_label"])

    assert len(train) == 10 and len(test) == 1
    assert batch["img"].shape == (4, 3, 32, 32) and img.shape == (4, 3, 32, 32)
    assert soft.shape == (4, 10) and torch.allclose(soft.sum(dim=1), torch.ones(4))


def test_it_autoaugments_imagenet_images_with_the_vit_spec_pipeline(tmp_path):
    spec = load_library("vision_transformer/vit-base-p16_pt-64xb64_in1k-224.py")
    assert any(step["type"] == "AutoAugment" for step in spec["data"]["train"]["pipeline"])
    val = tmp_path / "data" / "imagenet" / "val"
    val.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(val / f"{i}.JPEG")
    (tmp_path / "data" / "imagenet" / "meta").mkdir()
    (tmp_path / "data" / "imagenet" / "meta" / "val.txt").write_text("".join(f"{i}.JPEG {i * 100}\n"
                                                                           for i in range(6)))
    train_cfg = copy.deepcopy(spec["data"]["train"])
    train_cfg.update(data_prefix="data/imagenet/val", ann_file="data/imagenet/meta/val.txt")

    dataset = build_dataset(train_cfg, data_root=tmp_path)
    np.random.seed(0)
    samples = [dataset[i % 6] for i in range(12)]

    assert all(s["img"].shape == (3, 224, 224) and s["img"].dtype == torch.float32 for s in samples)
    assert [s["gt_label"].item() for s in samples[:6]] == [0, 100, 200, 300, 400, 500]
