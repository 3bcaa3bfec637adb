"""LoadImageFromFile: read an image with Pillow into mmcv's layout (HxWxC uint8, BGR channel order)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from workers.registry import TRANSFORMS

__all__ = ["LoadImageFromFile", "imread"]


def imread(path: str, color_type: str = "color") -> np.ndarray:
    """Read an image the way ``mmcv.imread`` does with its Pillow backend.

    ``'color'`` gives HxWx3 in BGR order (MMCls configs' ``to_rgb=True`` assumes it), ``'grayscale'``
    HxW, ``'unchanged'`` the file's own channels (RGB(A) stays in file order reversed to BGR(A)).
    """
    with Image.open(path) as pil:
        if color_type == "color":
            # most JPEGs are RGB already: skip Pillow's conversion copy
            array = np.asarray(pil if pil.mode == "RGB" else pil.convert("RGB"))[..., ::-1]
        elif color_type == "grayscale":
            array = np.asarray(pil.convert("L"))
        elif color_type == "unchanged":
            array = np.asarray(pil)
            if array.ndim == 3 and array.shape[2] in (3, 4):
                array = np.concatenate([array[..., 2::-1], array[..., 3:]], axis=2)
        else:
            raise ValueError(f"color_type must be 'color', 'grayscale' or 'unchanged', got {color_type!r}")
    return np.ascontiguousarray(array)


@TRANSFORMS.register()
class LoadImageFromFile:
    """Load ``results['img_info']['filename']`` (under ``results['img_prefix']``).

    Adds ``img``, ``img_shape``, ``ori_shape``, ``filename``, ``ori_filename`` and an identity
    ``img_norm_cfg``.

    Args:
        to_float32: Convert the image to float32.
        color_type: ``'color'`` (BGR, 3 channels), ``'grayscale'`` or ``'unchanged'``.
        file_client_args: Accepted for MMCls compatibility; only the local disk is read.
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color", file_client_args: dict | None = None):
        if color_type not in ("color", "grayscale", "unchanged"):
            raise ValueError(f"color_type must be 'color', 'grayscale' or 'unchanged', got {color_type!r}")
        if file_client_args not in (None, {"backend": "disk"}):
            raise NotImplementedError(f"file_client_args {file_client_args!r}: only the local disk is supported")
        self.to_float32 = to_float32
        self.color_type = color_type

    def __call__(self, results: dict) -> dict:
        name = results["img_info"]["filename"]
        prefix = results.get("img_prefix")
        filename = os.path.join(prefix, name) if prefix is not None else name
        img = imread(filename, self.color_type)
        if self.to_float32:
            img = img.astype(np.float32)
        results["filename"] = filename
        results["ori_filename"] = name
        results["img"] = img
        results["img_shape"] = img.shape
        results["ori_shape"] = img.shape
        channels = 1 if img.ndim < 3 else img.shape[2]
        results["img_norm_cfg"] = {"mean": np.zeros(channels, dtype=np.float32),
                                   "std": np.ones(channels, dtype=np.float32), "to_rgb": False}
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(to_float32={self.to_float32}, color_type='{self.color_type}')"
