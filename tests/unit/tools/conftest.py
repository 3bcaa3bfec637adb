"""Fixtures of the analysis tools' tests: a tiny classifier trained for two epochs on a subset of the digits demo
data (3 train and 2 val images a digit), its ``.log.json``, checkpoint and the results file `trainyard test --out`
wrote for it. Everything is made by the project's own code (``trainyard train`` and ``test``)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import jobspecs
from tests.support.specs import demo_spec
from workers.cli import main

torch.set_num_threads(1)  # see tests/unit/workers/conftest.py: one thread is faster on the shared 2 cores


@dataclass
class Run:
    root: Path  # the data root (--data-root)
    spec_file: Path
    work_dir: Path
    log_json: Path
    checkpoint: Path
    results_pkl: Path
    results_json: Path


def _keep(folder: Path, count: int) -> None:
    for cls in sorted(folder.iterdir()):
        for image in sorted(cls.iterdir())[count:]:
            image.unlink()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, digits_root) -> Run:
    root = tmp_path_factory.mktemp("tools-run")
    shutil.copytree(digits_root / "data", root / "data")
    _keep(root / "data" / "digits" / "train", 3)
    _keep(root / "data" / "digits" / "val", 2)
    spec = demo_spec()
    spec["model"]["backbone"].update(stem_channels=8, base_channels=8)
    spec["model"]["head"]["in_channels"] = 64
    spec["data"]["samples_per_gpu"] = 6
    spec["runner"]["max_epochs"] = 2
    spec["log_config"]["interval"] = 1
    spec["checkpoint_config"] = {"interval": 1}
    spec["lr_config"] = {"policy": "step", "step": [1]}
    spec_file = root / "tiny-digits.py"
    spec_file.write_text(jobspecs.dumps(spec))
    work_dir = root / "wd"
    assert main(["train", str(spec_file), "--work-dir", str(work_dir), "--data-root", str(root), "--seed", "0"]) == 0
    checkpoint = work_dir / "epoch_2.pth"
    results_pkl, results_json = root / "results.pkl", root / "results.json"
    for out in (results_pkl, results_json):
        assert main(["test", str(spec_file), str(checkpoint), "--data-root", str(root), "--out", str(out)]) == 0
    (log_json,) = work_dir.glob("*.log.json")
    return Run(root, spec_file, work_dir, log_json, checkpoint, results_pkl, results_json)
