"""Weights from files: ``init_cfg=dict(type='Pretrained', ...)``, ``load_from`` and the key handling they share.

Modules initialise themselves in their constructors with MMClassification's defaults (Kaiming convs,
unit norms, N(0, 0.01) linear heads). ``init_cfg`` only adds loading a checkpoint on top
(seed section 10.4.1); other mmcv initializer types are not implemented yet and are refused at submit
time because they are absent from ``INITIALIZERS``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn

from workers.registry import INITIALIZERS

logger = logging.getLogger(__name__)


@INITIALIZERS.register("Pretrained")
def pretrained_init(module: nn.Module, checkpoint: str, prefix: str | None = None,
                    map_location: str = "cpu") -> None:
    """Load ``checkpoint`` into ``module`` (non-strict), keeping only keys under ``prefix`` if given.

    Args:
        module: The module whose ``init_cfg`` asked for it.
        checkpoint: A local path, or an http(s) URL fetched through ``torch.hub``.
        prefix: E.g. ``'backbone.'`` to take a classifier checkpoint's backbone weights.
        map_location: Where tensors are loaded.
    """
    load_weights(module, checkpoint, prefix=prefix, strict=False, map_location=map_location)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint file or URL into a dict; ``weights_only`` so that no pickled code runs."""
    path = str(path)
    if path.startswith(("http://", "https://")):
        return torch.hub.load_state_dict_from_url(path, map_location=map_location, progress=False,
                                                  weights_only=True)
    return torch.load(path, map_location=map_location, weights_only=True)


def extract_state_dict(checkpoint: dict, prefix: str | None = None) -> OrderedDict:
    """The weights of a checkpoint dict: ``state_dict`` (or ``model``) with DDP's ``module.`` removed.

    Args:
        checkpoint: As :func:`read_checkpoint` returns it, or a bare state dict.
        prefix: Keep only keys starting with it, with the prefix stripped.
    """
    state = checkpoint
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if prefix:
            if not key.startswith(prefix):
                continue
            key = key[len(prefix):]
        out[key] = value
    if prefix and not out:
        raise KeyError(f"no weights with prefix {prefix!r} in the checkpoint")
    return out


def load_weights(module: nn.Module, checkpoint: str | Path | dict, *, prefix: str | None = None,
                 strict: bool = False, map_location: str | torch.device = "cpu") -> tuple[list, list]:
    """Load weights from a checkpoint path or dict into ``module``, logging missing and unexpected keys.

    Returns:
        ``(missing_keys, unexpected_keys)``.
    """
    if not isinstance(checkpoint, dict):
        logger.info("load checkpoint from %s", checkpoint)
        checkpoint = read_checkpoint(checkpoint, map_location)
    state = extract_state_dict(checkpoint, prefix)
    own = module.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if mismatched and not strict:
        # Skip shape mismatches (a head with another num_classes) rather than fail, as mmcv does.
        for key in mismatched:
            logger.warning("size mismatch for %s: checkpoint %s, model %s; skipped", key,
                           tuple(state[key].shape), tuple(own[key].shape))
            del state[key]
    result = module.load_state_dict(state, strict=strict)
    if result.missing_keys:
        logger.warning("missing keys in source state_dict: %s", ", ".join(result.missing_keys))
    if result.unexpected_keys:
        logger.warning("unexpected key in source state_dict: %s", ", ".join(result.unexpected_keys))
    return list(result.missing_keys), list(result.unexpected_keys)


def apply_init_cfgs(model: nn.Module) -> None:
    """Run every ``init_cfg`` found on ``model`` and its submodules, outermost first."""
    for module in model.modules():
        init_cfg = getattr(module, "init_cfg", None)
        if init_cfg is None:
            continue
        for cfg in init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]:
            cfg = dict(cfg)
            INITIALIZERS.get(cfg.pop("type"))(module, **cfg)
