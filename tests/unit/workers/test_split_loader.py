"""The loaders of the evaluation splits read the spec as the engine's do: ``data``'s loader keys, overridden by
``data.<split>_dataloader`` (MMCls's ``test_dataloader``). ``trainyard test`` and an evaluation job's shards
therefore load with the test loader's workers, batch size and normalisation, not with fixed settings of their own."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.specs import tiny_spec
from workers.data import build_dataset
from workers.data.builder import build_split_loader, loader_settings
from workers.registry import TRANSFORMS


class RecordProcess:
    """A pipeline step that appends the id of the process it runs in to ``out``."""

    def __init__(self, out: str):
        self.out = out

    def __call__(self, results: dict) -> dict:
        with open(self.out, "a") as f:
            f.write(f"{os.getpid()}\n")
        return results


@pytest.fixture
def recording_spec(tmp_path):
    """The tiny spec whose test pipeline notes where it runs, with a test loader of its own: 2 workers, batches of
    3, per-image normalisation; the spec-wide settings say 0 workers, batches of 4."""
    TRANSFORMS.add("RecordProcess", RecordProcess, force=True)
    out = tmp_path / "pids.txt"
    spec = tiny_spec()
    spec["data"]["test"]["pipeline"].insert(1, {"type": "RecordProcess", "out": str(out)})
    spec["data"]["test_dataloader"] = {"workers_per_gpu": 2, "samples_per_gpu": 3, "fuse_normalize": False}
    return spec, out


def _pids(out: Path) -> set[int]:
    return {int(line) for line in out.read_text().split()}


def test_a_split_takes_its_own_loader_settings_over_the_specs():
    data = tiny_spec()["data"]
    data["test_dataloader"] = {"workers_per_gpu": 2, "samples_per_gpu": 3, "fuse_normalize": False}
    test, val = loader_settings(data, "test"), loader_settings(data, "val")
    assert (test["workers_per_gpu"], test["samples_per_gpu"], test["fuse_normalize"]) == (2, 3, False)
    assert test["persistent_workers"] and test["prefetch_factor"] == 2
    assert (val["workers_per_gpu"], val["samples_per_gpu"], val["fuse_normalize"]) == (0, 4, True)
    assert not val["persistent_workers"]


def test_the_test_loader_runs_the_pipeline_in_its_workers_in_its_batches(recording_spec, tiny_root):
    spec, out = recording_spec
    dataset = build_dataset(spec["data"]["test"], {"test_mode": True}, data_root=tiny_root)
    batches = list(build_split_loader(dataset, spec["data"], "test"))
    assert [len(b["img"]) for b in batches] == [3, 3, 3]  # 9 val images
    assert batches[0]["img"].dtype == torch.float32  # normalised image by image: fuse_normalize off
    pids = _pids(out)
    assert len(pids) == 2 and os.getpid() not in pids  # the loader's two worker processes, not this one


def test_trainyard_test_scores_with_the_test_loaders_settings(recording_spec, tiny_root, tmp_path):
    from workers.models import build_model
    from workers.tools import score_checkpoint

    spec, out = recording_spec
    checkpoint = tmp_path / "model.pth"
    torch.save({"state_dict": build_model(spec["model"]).state_dict(), "meta": {}}, checkpoint)
    results = score_checkpoint(spec, checkpoint, metrics=["accuracy"], data_root=tiny_root)
    assert len(results["pred_label"]) == 9 and np.isfinite(results["class_scores"]).all()
    pids = _pids(out)
    assert len(pids) == 2 and os.getpid() not in pids

    spec["data"]["test_dataloader"] = {"workers_per_gpu": 0}  # and without workers, here
    out.unlink()
    fused = score_checkpoint(spec, checkpoint, metrics=["accuracy"], data_root=tiny_root)
    assert _pids(out) == {os.getpid()}
    np.testing.assert_allclose(fused["class_scores"], results["class_scores"], atol=1e-5)
