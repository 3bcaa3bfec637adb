"""Formatting transforms: ToTensor, ImageToTensor, Transpose, ToPIL, ToNumpy, ToHalf, Collect (seed 7.1.3, 60.3)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from PIL import Image

from workers.data.transforms.normalize import DEFERRED_KEY
from workers.registry import TRANSFORMS

__all__ = ["FORMATTING_STEPS", "Collect", "ImageToTensor", "ToHalf", "ToNumpy", "ToPIL", "ToTensor", "Transpose",
           "to_tensor"]


def to_tensor(data) -> torch.Tensor:
    """A tensor from an array, a sequence, an int or a float."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        # a view of the array, strided or not (the batch's stack makes it contiguous in one copy, as a
        # contiguous copy here would again); a copy only where torch cannot view it (negative strides,
        # e.g. a flipped view: from_numpy refuses them) or where the tensor could write into a read-only
        # buffer. Asking torch rather than checking the strides first halves the time of a label's tensor.
        if data.flags.writeable:
            try:
                return torch.from_numpy(data)
            except ValueError:  # negative strides
                pass
        return torch.from_numpy(data.copy())  # not np.ascontiguousarray: it turns 0-d labels into 1-d
    if isinstance(data, Sequence) and not isinstance(data, str):
        return torch.tensor(data)
    if isinstance(data, (int, np.integer)):
        return torch.LongTensor([int(data)])
    if isinstance(data, (float, np.floating)):
        return torch.FloatTensor([float(data)])
    raise TypeError(f"type {type(data).__name__} cannot be converted to a tensor")


def _planar_uint8(img: np.ndarray) -> np.ndarray:
    """A C-contiguous CxHxW copy of a uint8 HxWxC image: OpenCV's ``split`` into the planes of the new array
    (~1.4x numpy's transposing copy), a horizontally flipped view first un-flipped by ``cv2.flip``."""
    channels = img.shape[2]
    if 2 <= channels <= 4 and img.size:
        src = img
        if src.strides[1] < 0 and src.strides[0] > 0 and src.strides[2] > 0:
            src = cv2.flip(src[:, ::-1], 1)
        if min(src.strides) > 0:
            out = np.empty((channels, *img.shape[:2]), dtype=np.uint8)
            planes = [out[c] for c in range(channels)]
            if all(got is plane for got, plane in zip(cv2.split(src, planes), planes, strict=True)):
                return out
    return np.ascontiguousarray(img.transpose(2, 0, 1))


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
        deferred = results.get(DEFERRED_KEY)
        for key in self.keys:
            img = results[key]
            if img.ndim < 3:
                img = img[..., None]
            if deferred is not None and img.dtype == np.uint8 and deferred.channel_dim(key) == 2:
                # uint8 images for the batch: one contiguous CxHxW copy here, in the loader worker, so that
                # the batch's stack is a plain memcpy (stacking HxWxC views transposes in torch, ~3x slower;
                # a flipped view, which torch cannot view, would be copied here and again by the stack)
                results[key] = to_tensor(_planar_uint8(img))
            else:
                results[key] = to_tensor(img.transpose(2, 0, 1))
            if deferred is not None:
                deferred = deferred.with_channel_dim(key, 0)
        if deferred is not None:
            results[DEFERRED_KEY] = deferred
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
        if DEFERRED_KEY in results:  # a deferred normalisation travels with the images to the batch
            data[DEFERRED_KEY] = results[DEFERRED_KEY]
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
        deferred = results.get(DEFERRED_KEY)
        for key in self.keys:
            value = results[key]
            results[key] = value.permute(self.order) if isinstance(value, torch.Tensor) else value.transpose(self.order)
            if deferred is not None and deferred.channel_dim(key) is not None:
                deferred = deferred.with_channel_dim(key, self.order.index(deferred.channel_dim(key)))
        if deferred is not None:
            results[DEFERRED_KEY] = deferred
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


FORMATTING_STEPS = (ImageToTensor, Transpose, ToTensor, Collect)
"""Steps that only move or wrap the image: a ``Normalize`` followed by nothing else can be deferred to the
batch (see :mod:`workers.data.transforms.normalize`)."""
