"""The ResNet strikes back specs (rsb-a1/a2/a3): their training recipe (Lamb, repeated augmentation,
Mixup/CutMix with label smoothing or sigmoid cross-entropy) trains a tiny ResNet for one epoch."""

from __future__ import annotations

import pytest
import torch

from jobspecs import load_library
from tests.support.specs import tiny_spec
from workers.engine import train

torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["resnet50_8xb256-rsb-a1-600e_in1k.py", "resnet50_8xb256-rsb-a2-300e_in1k.py",
                                  "resnet50_8xb256-rsb-a3-100e_in1k.py"])
def test_it_trains_with_the_rsb_recipe(tiny_root, tmp_path, name):
    rsb = load_library(f"resnet/{name}")
    spec = tiny_spec(max_epochs=1, optimizer=rsb["optimizer"],
                     lr_config={**rsb["lr_config"], "warmup_iters": 2})
    if "sampler" in rsb:  # a1, a2; 12 tiny images: round to 4, not 256
        spec["sampler"] = {**rsb["sampler"], "selected_round": 4}
    spec["model"]["head"]["loss"] = rsb["model"]["head"]["loss"]
    spec["model"]["train_cfg"] = {"augments": [{**augment, "num_classes": 3}
                                               for augment in rsb["model"]["train_cfg"]["augments"]]}
    # SyncBN needs a GPU process group; the tiny run keeps the tiny spec's BN
    spec["model"]["backbone"]["drop_path_rate"] = rsb["model"]["backbone"].get("drop_path_rate", 0.0)

    result = train(spec, tmp_path, data_root=tiny_root, seed=0, console=False)

    assert rsb["optimizer"]["type"] == "Lamb" and 0 <= result["accuracy_top-1"] <= 100
