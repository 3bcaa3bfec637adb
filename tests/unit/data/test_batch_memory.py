"""Loader workers reuse the shared memory of the batches the training process has dropped (issue 15), and never
write into a batch that it still holds: every batch has its own images, however long it is kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.datasets import write_images
from workers.data import CustomDataset, build_dataloader, prepare_images
from workers.data.batch_memory import MIN_POOLED_BYTES, BatchMemory, LeasedBatch, _receive

IMAGENET = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": True}
PIPELINE = [{"type": "LoadImageFromFile"}, {"type": "CenterCrop", "crop_size": 96}, {"type": "Normalize", **IMAGENET},
            {"type": "ImageToTensor", "keys": ["img"]}, {"type": "ToTensor", "keys": ["gt_label"]},
            {"type": "Collect", "keys": ["img", "gt_label"], "meta_keys": ["ori_filename"]}]
BATCH = 4  # 4 x 3 x 96 x 96 uint8 images: 110,592 bytes, a batch whose images go into reused blocks;
# 23 images: the last batch of an epoch has 3 (82,944 bytes, reused blocks too, of another size)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """``train/{a,b}``: 12 and 11 random colour PNGs of 100x100."""
    root = tmp_path_factory.mktemp("batch-memory")
    for seed, (name, count) in enumerate((("a", 12), ("b", 11))):
        write_images(root / "train" / name, count, size=100, seed=seed)
    return root


def _dataset(root) -> CustomDataset:
    return CustomDataset(data_prefix=str(root / "train"), pipeline=PIPELINE)


def _expected(root) -> dict[str, torch.Tensor]:
    """Each image's normalised tensor, per file name, from one process without deferred normalisation."""
    dataset = _dataset(root)
    return {sample["img_metas"]["ori_filename"]: sample["img"] for sample in (dataset[i] for i in range(len(dataset)))}


def _loader(root):
    return build_dataloader(_dataset(root), BATCH, 2, shuffle=True, seed=0, persistent_workers=True,
                            fuse_normalize=True)


def _check(batch: dict, expected: dict[str, torch.Tensor]) -> None:
    assert batch["img"].dtype == torch.uint8 and type(batch) is dict
    images = prepare_images(batch)
    for image, meta in zip(images, batch["img_metas"], strict=True):
        assert torch.equal(image, expected[meta["ori_filename"]]), meta["ori_filename"]


def test_batches_that_are_dropped_give_every_image_of_every_epoch(root):
    assert 3 * 3 * 96 * 96 >= MIN_POOLED_BYTES
    expected = _expected(root)
    loader = _loader(root)
    memory = loader.collate_fn.memory
    fills = set()
    for _ in range(4):
        seen = []
        for batch in loader:
            _check(batch, expected)
            seen += [meta["ori_filename"] for meta in batch["img_metas"]]
            fills.update(int(token) & 0xFFFFFF for token in memory.tokens.flatten() if token)
        assert sorted(seen) == sorted(expected)
    # 24 batches, 6 per epoch: the workers filled more batches than they have blocks, so they reused them
    assert max(fills) > memory.tokens.shape[1]


def test_batches_that_are_kept_keep_their_images(root):
    expected = _expected(root)
    loader = _loader(root)
    kept = [batch for _ in range(4) for batch in loader]  # every batch held while the workers go on
    assert len(kept) == 24
    for batch in kept:
        _check(batch, expected)


def test_a_block_is_taken_again_only_after_the_receiver_dropped_its_batch():
    memory = BatchMemory(num_workers=1, blocks_per_worker=1)
    nbytes = MIN_POOLED_BYTES

    def send():
        """A worker's batch in the block, as the training process receives it: unpickled by ``_receive``, its
        images in a mapping of its own (here a storage of its own)."""
        taken = memory.take(0, nbytes)
        assert taken is not None
        _, lease = taken
        batch = LeasedBatch({"img": torch.zeros(nbytes, dtype=torch.uint8)}, [(*lease, "img")])
        function, args = batch.__reduce__()
        return function(*args)

    first = send()
    assert type(first) is dict
    assert memory.take(0, nbytes) is None  # the only block is in use
    view = first["img"][:10]
    del first
    _receive({"img": torch.zeros(1)}, [])  # a later batch arrives: the block is still used by the view
    assert memory.take(0, nbytes) is None
    del view
    _receive({"img": torch.zeros(1)}, [])
    second = send()  # now it is free again
    assert np.count_nonzero(memory.tokens.numpy()) == 1 and second["img"].numel() == nbytes
