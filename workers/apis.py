"""Inference in MMClassification 0.25's API (seed 2.2, ``mmcls.apis``): :func:`init_model` builds a
classifier from a spec and a checkpoint, :func:`inference_model` classifies one image.

    model = init_model('jobspecs/library/demo/resnet18-tiny_2xb32-6e_digits.py', 'latest.pth')
    inference_model(model, 'digit.png')  # {'pred_label': 3, 'pred_score': 0.97, 'pred_class': '3'}
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

__all__ = ["inference_model", "init_model"]


def _load_spec(config: str | Path | dict, options: dict | None) -> dict:
    import jobspecs

    if isinstance(config, dict):
        spec = copy.deepcopy(config)
    elif isinstance(config, (str, Path)):
        spec = jobspecs.load(str(config))
    else:
        raise TypeError(f"config must be a filename or a spec dict, but got {type(config).__name__}")
    for key, value in (options or {}).items():  # mmcv's Config.merge_from_dict: dotted keys
        node = spec
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    return spec


def init_model(config: str | Path | dict, checkpoint: str | Path | None = None, device: str | torch.device = "cpu",
               options: dict | None = None) -> nn.Module:
    """Build the classifier of a spec and load a checkpoint's weights into it.

    Args:
        config: A spec file or an already resolved spec dict.
        checkpoint: Checkpoint whose weights to load (``None``: initial weights).
        device: Where the model goes.
        options: Spec overrides, e.g. ``{'model.head.num_classes': 10}``.

    Returns:
        The model in eval mode, with ``cfg`` (the spec) and ``CLASSES`` (the checkpoint's class names,
        ``None`` when it has none) attached.
    """
    from workers.engine.checkpoint import load_checkpoint
    from workers.models import build_model, load_weights

    spec = _load_spec(config, options)
    model = build_model(copy.deepcopy(spec["model"]))
    classes = None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        load_weights(model, state, strict=False)
        classes = (state.get("meta") or {}).get("CLASSES")
        if classes is None:
            warnings.warn("the checkpoint has no CLASSES in its meta; pred_class will be the label number",
                          stacklevel=2)
    model.cfg = spec
    model.CLASSES = list(classes) if classes is not None else None
    model.to(device)
    model.eval()
    return model


class _UseArray:
    """Stands in for ``LoadImageFromFile`` when the image is already an array (MMCls's webcam loader)."""

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        results.update(filename=None, ori_filename=None, img_shape=img.shape, ori_shape=img.shape)
        channels = 1 if img.ndim < 3 else img.shape[2]
        results["img_norm_cfg"] = {"mean": np.zeros(channels, dtype=np.float32),
                                   "std": np.ones(channels, dtype=np.float32), "to_rgb": False}
        return results


@torch.no_grad()
def inference_model(model: nn.Module, img: str | Path | np.ndarray) -> dict:
    """Classify one image with the spec's test pipeline (``data.test.pipeline``).

    Args:
        model: From :func:`init_model`.
        img: An image file, or an ``HxWxC`` BGR uint8 array.

    Returns:
        ``{'pred_label': int, 'pred_score': float, 'pred_class': str}``.
    """
    from workers.data import Compose, collate, prepare_images

    try:
        steps = copy.deepcopy(model.cfg["data"]["test"]["pipeline"])
    except (AttributeError, KeyError, TypeError):
        raise KeyError("the model's spec (model.cfg) has no data.test.pipeline; build it with init_model") from None
    if isinstance(img, np.ndarray):
        if steps and steps[0].get("type") == "LoadImageFromFile":
            steps[0] = _UseArray()
        data = {"img": img}
    else:
        if not Path(img).is_file():
            raise FileNotFoundError(f"image not found: {img}")
        data = {"img_info": {"filename": str(img)}, "img_prefix": None}
    data = Compose(steps)(data)
    batch = collate([data])
    device = next(model.parameters()).device
    scores = model.simple_test(prepare_images(batch, device))
    pred_score, pred_label = torch.max(scores, dim=1)
    label = int(pred_label[0])
    classes = getattr(model, "CLASSES", None)
    return {"pred_label": label, "pred_score": float(pred_score[0]),
            "pred_class": classes[label] if classes is not None else str(label)}
