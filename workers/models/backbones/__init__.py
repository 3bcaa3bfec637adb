"""Backbones, one file per family; importing this package registers their names in ``MODELS``.

A family's module is imported when a spec first builds one of its backbones (``MODELS.add_lazy``), not when the
package is: most families build on timm, whose import pulls in torchvision and ``torch._dynamo`` (about 3 CPU
seconds), and a run's workers, an evaluation's shards and a served model each need one family. The names come
from the modules' source (``@MODELS.register()`` on a class, ``MODELS.add("Name", ...)``), so a new family is
still one new file and no list to edit; ``tests/unit/workers/test_registry.py`` checks the scan against what
importing every module registers.
"""
from __future__ import annotations

import re
from pathlib import Path

from workers.registry import MODELS

_REGISTERED_CLASS = re.compile(r"^@MODELS\.register\((?:name=)?(?:['\"](\w+)['\"])?\)\s*\nclass (\w+)", re.M)
_ADDED = re.compile(r"^MODELS\.add\(['\"](\w+)['\"]", re.M)

# The classes ``workers.models`` re-exports under their own names (imported on first access).
_EXPORTS = {
    "DistilledVisionTransformer": "deit", "LeNet5": "lenet", "MobileNetV2": "mobilenet_v2", "ResNet": "resnet",
    "ResNetV1C": "resnet", "ResNetV1D": "resnet", "ResNet_CIFAR": "resnet_cifar",
    "VisionTransformer": "vision_transformer",
}


def registered_names(source: str) -> list[str]:
    """The ``MODELS`` names a backbone module's source registers."""
    names = [explicit or cls for explicit, cls in _REGISTERED_CLASS.findall(source)]
    return names + _ADDED.findall(source)


def family_modules() -> list[str]:
    """The module names of this folder's families (every ``*.py`` not starting with ``_``)."""
    return sorted(p.stem for p in Path(__file__).parent.glob("*.py") if not p.stem.startswith("_"))


for _module in family_modules():
    for _name in registered_names((Path(__file__).parent / f"{_module}.py").read_text(encoding="utf-8")):
        MODELS.add_lazy(_name, f"{__name__}.{_module}:{_name}")


def import_all() -> None:
    """Import every family's module (a listing or a check that needs the classes themselves)."""
    import importlib

    for module in family_modules():
        importlib.import_module(f"{__name__}.{module}")


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DistilledVisionTransformer", "LeNet5", "MobileNetV2", "ResNet", "ResNetV1C", "ResNetV1D",
           "ResNet_CIFAR", "VisionTransformer", "family_modules", "import_all", "registered_names"]
