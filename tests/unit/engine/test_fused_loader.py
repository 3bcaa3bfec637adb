"""The engine's loaders with normalisation fused into the batch (``data.fuse_normalize``, on by default):
training learns exactly as with per-image normalisation, batch augments see the same normalised floats,
and the loader keys of the spec's ``data`` section reach the DataLoaders."""

from __future__ import annotations

import pytest
import torch

from tests.support.datasets import write_images
from tests.support.reporters import ListReporter
from tests.support.specs import demo_spec, tiny_spec
from workers.data import build_dataset, prepare_images
from workers.data.demo import write_digits_dataset
from workers.data.transforms.normalize import DEFERRED_KEY
from workers.engine import train
from workers.engine.assembly import _loaders
from workers.engine.checkpoint import unwrap_model
from workers.engine.hooks import Hook
from workers.registry import HOOKS

torch.set_num_threads(1)  # as the engine tests' conftest: one intra-op thread on this busy machine

AUGMENT_INPUTS: dict[str, list[torch.Tensor]] = {}


@HOOKS.register("RecordAugmentInputsForTest")
class RecordAugmentInputs(Hook):
    """Keeps (under ``AUGMENT_INPUTS[key]``) every image batch the model's batch augments receive."""

    def __init__(self, key: str):
        self.key = key

    def before_run(self, state) -> None:
        module = unwrap_model(state.model)
        inner, seen = module.augments, AUGMENT_INPUTS.setdefault(self.key, [])

        def record(img, gt_label):
            seen.append(img.detach().clone())
            return inner(img, gt_label)

        module.augments = record


def _digits_root(tmp_path):
    write_digits_dataset(tmp_path / "data" / "digits")
    return tmp_path


def _train_losses(spec, work_dir, data_root) -> tuple[list[float], list[dict]]:
    reporter = ListReporter()
    train(spec, work_dir, data_root=data_root, seed=0, reporter=reporter, console=False)
    losses = [values["loss"] for _, values, _, mode in reporter.points if mode == "train"]
    val = [values for _, values, _, mode in reporter.points if mode == "val"]
    return losses, val


def test_it_learns_the_demo_the_same_with_fusion_on_and_off(tmp_path):
    root = _digits_root(tmp_path)
    curves = {}
    for fuse in (True, False):
        spec = demo_spec()
        spec["runner"]["max_epochs"] = 2
        spec["data"]["fuse_normalize"] = fuse
        curves[fuse] = _train_losses(spec, tmp_path / f"run-{fuse}", root)

    fused_losses, fused_val = curves[True]
    plain_losses, plain_val = curves[False]
    assert len(fused_losses) == len(plain_losses) == 2 * 4
    # the same images reach the model bit for bit, so the same seed gives the same run
    assert fused_losses == plain_losses
    assert fused_val == plain_val
    assert fused_losses[-1] < 0.5 * fused_losses[0]


def test_it_gives_mixup_and_cutmix_the_same_normalised_floats(tmp_path, tiny_images):
    for fuse in (True, False):
        spec = tiny_spec(max_epochs=1)
        spec["model"]["train_cfg"] = {"augments": [
            {"type": "BatchMixup", "alpha": 0.2, "num_classes": 3, "prob": 0.5},
            {"type": "BatchCutMix", "alpha": 1.0, "num_classes": 3, "prob": 0.5}]}
        spec["custom_hooks"] = [{"type": "RecordAugmentInputsForTest", "key": f"fuse-{fuse}"}]
        spec["data"]["fuse_normalize"] = fuse
        train(spec, tmp_path / f"run-{fuse}", data_root=tiny_images, seed=0, console=False)

    fused, plain = AUGMENT_INPUTS["fuse-True"], AUGMENT_INPUTS["fuse-False"]
    assert len(fused) == len(plain) == 3  # 12 images, batches of 4
    for a, b in zip(fused, plain, strict=True):
        assert a.dtype == torch.float32
        assert torch.equal(a, b)
        # normalised (mean 33, std 60 on grey levels 40..200), not raw 0..255 pixels
        assert float(a.max()) < 3.0 and float(a.min()) > -1.0


def test_it_wires_the_spec_loader_keys_into_the_loaders(tiny_images):
    spec = tiny_spec()
    spec["data"].update(workers_per_gpu=2, prefetch_factor=3)
    spec["data"]["train_dataloader"] = {"pin_memory": False}
    spec["data"]["val_dataloader"] = {"workers_per_gpu": 1, "persistent_workers": False, "fuse_normalize": False}
    train_set = build_dataset(spec["data"]["train"], data_root=tiny_images)
    val_set = build_dataset(spec["data"]["val"], {"test_mode": True}, data_root=tiny_images)

    train_loader, val_loader, _ = _loaders(spec, train_set, val_set, False, seed=0, pin_memory=True,
                                           data_root=tiny_images)

    assert (train_loader.num_workers, train_loader.prefetch_factor) == (2, 3)
    assert train_loader.persistent_workers is True  # the default with workers
    assert train_loader.pin_memory is False  # the spec's choice over the CUDA default
    assert (val_loader.num_workers, val_loader.prefetch_factor, val_loader.persistent_workers) == (1, 3, False)
    assert val_loader.pin_memory is True  # the default on CUDA
    batch = next(iter(train_loader))
    assert batch["img"].dtype == torch.uint8 and DEFERRED_KEY in batch  # fused by default
    assert prepare_images(batch).dtype == torch.float32
    val_batch = next(iter(val_loader))
    assert val_batch["img"].dtype == torch.float32 and DEFERRED_KEY not in val_batch


def test_it_defaults_sensibly_without_workers(tiny_images):
    spec = tiny_spec()  # workers_per_gpu=0
    train_set = build_dataset(spec["data"]["train"], data_root=tiny_images)
    train_loader, _, _ = _loaders(spec, train_set, None, False, seed=0, pin_memory=False, data_root=tiny_images)
    assert train_loader.num_workers == 0 and train_loader.persistent_workers is False
    assert train_loader.pin_memory is False
    assert next(iter(train_loader))["img"].dtype == torch.uint8


@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory):
    """``tiny/{train,val}/{a,b,c}``: 4 train and 3 val flat grey images per class (the engine tests' set)."""
    root = tmp_path_factory.mktemp("tiny-root")
    for split, count in (("train", 4), ("val", 3)):
        for label, name in enumerate("abc"):
            write_images(root / "tiny" / split / name, count, size=16, value=40 + 80 * label)
    return root
