"""The model family of a backbone ``type=`` name, as the model zoo names it (issue #17, item 2).

One model family per file (``workers/models/backbones/<folder>.py``) and one library folder per family
(``jobspecs/library/<folder>/metafile.yml``, whose collection names the family): a registered backbone's module
names its folder, and the folder's metafile its family. A class whose own file has no metafile takes the family
of the class it extends (``ResNet_CIFAR`` is a ``ResNet``); a backbone no metafile covers (``LeNet5``, a plugin's
own) is its own family, by its ``type=`` name. The service stores the result in a run's spec facts
(``jobspecs.contract.SpecFacts.family``), so the leaderboard groups any spec's runs, in the zoo or not.
"""
from __future__ import annotations

import functools

from jobspecs.zoo import zoo_entries

__all__ = ["model_family"]


@functools.lru_cache(maxsize=1)
def _families_by_folder() -> dict[str, str]:
    """``{library folder: the family its metafile names}``."""
    out: dict[str, str] = {}
    for entry in zoo_entries():
        out.setdefault(entry.folder, entry.family)
    return out


def model_family(backbone_type: str | None) -> str | None:
    """The family of a backbone type.

    Args:
        backbone_type: ``model.backbone.type`` of a spec (``'ResNetV1d'``), or None for a model without one.

    Returns:
        The zoo's family name (``'ResNet'``), the type name itself for a backbone outside the zoo (including one
        no registry knows), or None without a type.
    """
    if not isinstance(backbone_type, str) or not backbone_type:
        return None
    return _family(backbone_type)


@functools.lru_cache(maxsize=256)
def _family(backbone_type: str) -> str:
    from workers.registry import MODELS, ensure_registered  # the registries import torch: only when asked

    ensure_registered()
    if backbone_type not in MODELS:
        return backbone_type
    families = _families_by_folder()
    obj = MODELS.get(backbone_type)
    for cls in getattr(obj, "__mro__", (obj,)):
        module = getattr(cls, "__module__", "") or ""
        if not module.startswith("workers.models.backbones."):
            continue
        family = families.get(module.rsplit(".", 1)[-1])
        if family is not None:
            return family
    return backbone_type
