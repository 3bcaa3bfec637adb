"""Fixtures of the engine's unit tests: the digits demo data and a tiny image set on disk. The specs, reporters
and image writers the tests import are in ``tests/support`` (specs.py, reporters.py, datasets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.support.datasets import write_images

# One intra-op thread: on a busy 2-core machine OpenMP's spinning threads make two-thread runs several
# times slower (measured: 4 s vs 40 s an epoch of the demo), and the DDP test runs two processes.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A data root holding ``tiny/{train,val}/{a,b,c}``: 4 train and 3 val images per class, each class
    a flat grey level, so even a tiny model separates them."""
    root = tmp_path_factory.mktemp("tiny-root")
    for split, count in (("train", 4), ("val", 3)):
        for label, name in enumerate("abc"):
            write_images(root / "tiny" / split / name, count, size=16, value=40 + 80 * label)
    return root
