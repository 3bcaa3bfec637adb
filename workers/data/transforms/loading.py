"""LoadImageFromFile: read an image with Pillow into mmcv's layout (HxWxC uint8, BGR channel order),
refusing one over ``TRAINYARD_MAX_IMAGE_PIXELS`` before decoding it (a decompression bomb)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from workers.registry import TRANSFORMS

__all__ = ["LoadImageFromFile", "imread", "ImageTooLarge", "max_image_pixels"]

# 8192 x 8192: decoded as RGB, 192 MiB. The backend's default (backend/settings.py) is the same number.
DEFAULT_MAX_IMAGE_PIXELS = 64 * 1024 ** 2


class ImageTooLarge(ValueError):
    """An image with more pixels than ``TRAINYARD_MAX_IMAGE_PIXELS``: refused before it is decoded."""


def max_image_pixels() -> int:
    """The most pixels an image may have: ``$TRAINYARD_MAX_IMAGE_PIXELS`` (the Ray job carries the backend's
    value), else ``DEFAULT_MAX_IMAGE_PIXELS``."""
    text = os.environ.get("TRAINYARD_MAX_IMAGE_PIXELS", "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"TRAINYARD_MAX_IMAGE_PIXELS must be a whole number of pixels, not {text!r}") from None


def _open_checked(path: str) -> Image.Image:
    """``Image.open`` (which reads the header only) and the pixel limit, before anything is decoded."""
    limit = max_image_pixels()
    try:
        pil = Image.open(path)
    except Image.DecompressionBombError as exc:  # Pillow's own limit (2 x Image.MAX_IMAGE_PIXELS) is lower still
        raise ImageTooLarge(f"{path}: {exc} It is over the limit of {limit} pixels (TRAINYARD_MAX_IMAGE_PIXELS) "
                            "and was not decoded.") from None
    width, height = pil.size
    if width * height > limit:
        pil.close()
        raise ImageTooLarge(f"{path}: {width}x{height} = {width * height} pixels, over the limit of {limit} "
                            "(TRAINYARD_MAX_IMAGE_PIXELS); the image was not decoded.")
    return pil


def imread(path: str, color_type: str = "color") -> np.ndarray:
    """Read an image the way ``mmcv.imread`` does with its Pillow backend.

    ``'color'`` gives HxWx3 in BGR order (MMCls configs' ``to_rgb=True`` assumes it), ``'grayscale'``
    HxW, ``'unchanged'`` the file's own channels (RGB(A) stays in file order reversed to BGR(A)).

    Raises:
        ImageTooLarge: for an image over ``TRAINYARD_MAX_IMAGE_PIXELS``, before decoding it.
    """
    with _open_checked(path) as pil:
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
