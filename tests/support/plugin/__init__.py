"""A plugin package as a team would install one, for the ``custom_imports`` tests (seed 4.5): importing it
registers a hook, a transform and a backbone, which a spec then names by ``type=`` alone.

``PluginRecordHook`` appends one JSON line per finished epoch to ``out_file`` (with how many images
``PluginShift`` has shifted in this process), so a test reads what the plugin did from disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch.nn as nn

from workers.engine.hooks import Hook
from workers.registry import HOOKS, MODELS, TRANSFORMS

SHIFTED = {"images": 0}


@HOOKS.register()
class PluginRecordHook(Hook):
    """Append ``{"epoch", "iter", "shifted"}`` to ``out_file`` after each epoch."""

    def __init__(self, out_file: str):
        self.out_file = Path(out_file)

    def after_train_epoch(self, state) -> None:
        with self.out_file.open("a") as handle:
            handle.write(json.dumps({"epoch": state.epoch, "iter": state.iter, "shifted": SHIFTED["images"]}) + "\n")


@TRANSFORMS.register()
class PluginShift:
    """Add ``value`` to every pixel (uint8, saturating)."""

    def __init__(self, value: int = 10):
        self.value = value

    def __call__(self, results: dict) -> dict:
        img = results["img"].astype(np.int16) + self.value
        results["img"] = np.clip(img, 0, 255).astype(np.uint8)
        SHIFTED["images"] += 1
        return results


@MODELS.register()
class PluginTinyNet(nn.Module):
    """One 3x3 conv and a ReLU: ``(N, 3, H, W)`` -> a tuple holding ``(N, channels, H, W)``."""

    def __init__(self, channels: int = 8, init_cfg=None):
        super().__init__()
        self.plugin_conv = nn.Conv2d(3, channels, 3, padding=1)
        self.init_cfg = init_cfg

    def forward(self, x):
        return (nn.functional.relu(self.plugin_conv(x)),)
