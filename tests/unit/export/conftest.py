"""Fixtures of the export tests: the digits demo data, the demo spec as a file, and a checkpoint of it trained
for one epoch (so that metrics and predictions mean something)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import jobspecs
from tests.support.specs import demo_spec

torch.set_num_threads(1)  # as the engine's tests: OpenMP's spinning threads are slower on a busy 2-core machine


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, digits_root) -> tuple[Path, Path, Path]:
    """``(spec file, checkpoint, data root)``: the demo spec trained one epoch on the digits."""
    from workers.engine import train

    folder = tmp_path_factory.mktemp("export-demo")
    spec = demo_spec()
    spec["runner"]["max_epochs"] = 1
    spec["checkpoint_config"] = {"interval": 1}
    spec_file = folder / "demo_digits.py"
    spec_file.write_text(jobspecs.dumps(spec, format="py"))
    train(spec, folder / "work", data_root=digits_root, validate=False, seed=0, console=False)
    return spec_file, folder / "work" / "epoch_1.pth", digits_root
