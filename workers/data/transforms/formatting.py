"""Formatting transforms: ToTensor, ImageToTensor, Transpose, ToPIL, ToNumpy, ToHalf, Collect (seed 7.1.3, 60.3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from workers.registry import TRANSFORMS

__all__ = ["Collect", "ImageToTensor", "ToHalf", "ToNumpy", "ToPIL", "ToTensor", "Transpose", "to_tensor"]


def to_tensor(data) -> torch.Tensor:
    """A tensor from an array, a sequence, an int or a float."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        # not np.ascontiguousarray: it turns 0-d labels into 1-d
        return torch.from_numpy(data if data.flags.c_contiguous else data.copy())
    if isinstance(data, Sequence) and not isinstance(data, str):
        return torch.tensor(data)
    if isinstance(data, (int, np.integer)):
        return torch.LongTensor([int(data)])
    if isinstance(data, (float, np.floating)):
        return torch.FloatTensor([float(data)])
    raise TypeError(f"type {type(data).__name__} cannot be converted to a tensor")


@TRANSFORMS.register()
class ToTensor:
    """Convert ``results[key]`` to a tensor for each of ``keys``.

    Args:
        keys: Result keys, e.g. ``['gt_label']``.
    """

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            results[key] = to_tensor(results[key])
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(keys={self.keys})"


@TRANSFORMS.register()
class ToHalf:
    """Cast ``results[key]`` to float16 (a tensor with ``.half()``, an array with ``astype``) for each of
    ``keys``: MMCls 0.25's transform for its IPU specs, which feed half-precision images.

    Args:
        keys: Result keys, e.g. ``['img']``.
    """

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            value = results[key]
            results[key] = value.half() if isinstance(value, torch.Tensor) else np.asarray(value).astype(np.float16)
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(keys={self.keys})"


@TRANSFORMS.register()
class ImageToTensor:
    """Convert HxW(xC) images to CxHxW tensors (HxW gets one channel).

    Args:
        keys: Result keys, e.g. ``['img']``.
    """

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            img = results[key]
            if img.ndim < 3:
                img = np.expand_dims(img, -1)
            results[key] = to_tensor(img.transpose(2, 0, 1))
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(keys={self.keys})"


@TRANSFORMS.register()
class Collect:
    """Keep only ``keys``, plus ``img_metas``: a dict of the ``meta_keys`` present.

    Args:
        keys: Keys passed to the model, e.g. ``['img', 'gt_label']``.
        meta_keys: Keys gathered into ``img_metas``.
    """

    def __init__(self, keys: Sequence[str],
                 meta_keys: Sequence[str] = ("filename", "ori_filename", "ori_shape", "img_shape", "flip",
                                             "flip_direction", "img_norm_cfg")):
        self.keys = list(keys)
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        data = {"img_metas": {key: results[key] for key in self.meta_keys if key in results}}
        for key in self.keys:
            if key not in results:
                raise KeyError(f"Collect: {key!r} is not in the results (keys: {', '.join(sorted(results))})")
            data[key] = results[key]
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(keys={self.keys}, meta_keys={self.meta_keys})"


@TRANSFORMS.register()
class Transpose:
    """Permute the axes of ``results[key]`` for each of ``keys``.

    Args:
        keys: Result keys.
        order: New axis order, e.g. ``(2, 0, 1)``.
    """

    def __init__(self, keys: Sequence[str], order: Sequence[int]):
        self.keys = list(keys)
        self.order = tuple(order)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            value = results[key]
            results[key] = value.permute(self.order) if isinstance(value, torch.Tensor) else value.transpose(self.order)
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(keys={self.keys}, order={self.order})"


@TRANSFORMS.register()
class ToPIL:
    """Turn ``results['img']`` into a ``PIL.Image`` (for torchvision transforms that want one)."""

    def __call__(self, results: dict) -> dict:
        results["img"] = Image.fromarray(results["img"])
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


@TRANSFORMS.register()
class ToNumpy:
    """Turn ``results['img']`` (e.g. a ``PIL.Image``) back into a float32 array."""

    def __call__(self, results: dict) -> dict:
        results["img"] = np.array(results["img"], dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"
