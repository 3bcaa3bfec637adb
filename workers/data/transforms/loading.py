"""LoadImageFromFile: decode an image as MMCls 0.25 does (``mmcv.imfrombytes``: OpenCV's ``cv2.imdecode``,
BGR order), refusing one over ``TRAINYARD_MAX_IMAGE_PIXELS`` from its header, before decoding it (a
decompression bomb). ``backend='pillow'`` decodes with Pillow instead, as mmcv's Pillow backend does.
"""

from __future__ import annotations

import io
import os
import struct

import cv2
import numpy as np
from PIL import Image, ImageOps

from workers.registry import TRANSFORMS

__all__ = ["LoadImageFromFile", "imread", "imfrombytes", "image_size", "ImageTooLarge", "max_image_pixels"]

# 8192 x 8192: decoded as RGB, 192 MiB. The backend's default (backend/settings.py) is the same number.
DEFAULT_MAX_IMAGE_PIXELS = 64 * 1024 ** 2

# mmcv's flag names (mmcv.image.io.imread_flags). 'color' and 'grayscale' turn the image upright by its
# EXIF orientation (OpenCV does it while decoding); 'unchanged' keeps the file's depth and channels.
IMREAD_FLAGS = {
    "color": cv2.IMREAD_COLOR,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "unchanged": cv2.IMREAD_UNCHANGED,
    "color_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR,
    "grayscale_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_GRAYSCALE,
}
BACKENDS = ("cv2", "pillow")

# JPEG start-of-frame markers (ITU T.81 table B.1): SOF0-3, 5-7, 9-11, 13-15; they carry height and width
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# markers without a length field
_JPEG_STANDALONE = frozenset({0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's start-of-frame segment, walking the marker segments before it."""
    end = len(data)
    i = 2
    while i + 9 < end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, i + 5)
            return width, height
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header first
            return None
        i += 2 + struct.unpack_from(">H", data, i + 2)[0]
    return None


def image_size(data: bytes, name: str = "<bytes>") -> tuple[int, int]:
    """``(width, height)`` of an encoded image from its header, without decoding it.

    JPEG and PNG headers are read here (a few microseconds); other formats through ``PIL.Image.open``,
    which reads the header only and applies Pillow's decompression-bomb check.

    Raises:
        ImageTooLarge: when Pillow's own limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``) refuses the image.
        ValueError: bytes whose size no header tells (not an image, or a format only OpenCV reads).
    """
    size = None
    if data[:2] == b"\xff\xd8":
        size = _jpeg_size(data)
    elif data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR":
        size = struct.unpack_from(">II", data, 16)
    if size is None:
        try:
            with Image.open(io.BytesIO(data)) as pil:
                return pil.size
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(f"{name}: {exc} It is over the limit of {max_image_pixels()} pixels "
                                "(TRAINYARD_MAX_IMAGE_PIXELS) and was not decoded.") from None
        except OSError:
            # No header that says how big it is: never handed to a decoder (OpenCV also reads formats such as
            # Radiance HDR or PFM, whose sizes nothing here checks, and would decode a bomb of them).
            raise ValueError(f"{name}: not an image that can be read (JPEG, PNG, or a format whose header Pillow "
                             "reads: BMP, GIF, TIFF, WebP, ...)") from None
    # the same refusal as Pillow's (PIL.Image._decompression_bomb_check) for the headers read here
    pillow_limit = Image.MAX_IMAGE_PIXELS
    pixels = size[0] * size[1]
    if pillow_limit and pixels > 2 * pillow_limit:
        raise ImageTooLarge(f"{name}: Image size ({pixels} pixels) exceeds limit of {2 * pillow_limit} pixels, "
                            f"could be decompression bomb DOS attack. It is over the limit of {max_image_pixels()} "
                            "pixels (TRAINYARD_MAX_IMAGE_PIXELS) and was not decoded.")
    return size


def _check_pixels(data: bytes, name: str) -> None:
    limit = max_image_pixels()
    width, height = image_size(data, name)
    if width * height > limit:
        raise ImageTooLarge(f"{name}: {width}x{height} = {width * height} pixels, over the limit of {limit} "
                            "(TRAINYARD_MAX_IMAGE_PIXELS); the image was not decoded.")


def _pillow_decode(data: bytes, flag: str, channel_order: str) -> np.ndarray:
    """Decode with Pillow into mmcv's Pillow-backend layout (``mmcv.image.io._pillow2array``)."""
    with Image.open(io.BytesIO(data)) as pil:
        if flag == "unchanged":
            array = np.array(pil)  # the file's mode: palette indices, 16-bit grey, RGBA ... as stored
            if array.ndim == 3 and array.shape[2] >= 3 and channel_order == "bgr":
                array[..., :3] = array[..., 2::-1].copy()
            return array
        img = ImageOps.exif_transpose(pil) if flag in ("color", "grayscale") else pil
        if img.mode == "LA":  # mmcv puts grey+alpha on a fixed background colour
            rgba = img.convert("RGBA")
            img = Image.new("RGB", rgba.size, (124, 117, 104))
            img.paste(rgba, mask=rgba.getchannel("A"))
        elif img.mode != "RGB":
            img = img.convert("RGB")
        if flag.startswith("grayscale"):
            return np.asarray(img.convert("L"))
        array = np.asarray(img)
        return array[..., ::-1] if channel_order == "bgr" else array


def imfrombytes(content: bytes, flag: str = "color", channel_order: str = "bgr", backend: str = "cv2",
                name: str = "<bytes>") -> np.ndarray:
    """Decode an image as ``mmcv.imfrombytes`` does, after refusing it if its header says it is too large.

    Args:
        content: The encoded file.
        flag: ``'color'`` (3 channels, 8 bits, EXIF-upright), ``'grayscale'`` (HxW, EXIF-upright),
            ``'unchanged'`` (the file's own channels and depth: 16-bit PNGs stay uint16, RGBA stays 4
            channels as BGRA), ``'color_ignore_orientation'`` or ``'grayscale_ignore_orientation'``.
        channel_order: ``'bgr'`` (mmcv's default; MMCls configs' ``to_rgb=True`` assumes it) or ``'rgb'``.
        backend: ``'cv2'`` (MMCls's decoder, ``cv2.imdecode``) or ``'pillow'``.
        name: The file's name, for messages.

    Returns:
        The decoded image. A format OpenCV cannot read (GIF) is decoded with Pillow instead.

    Raises:
        ImageTooLarge: for an image over ``TRAINYARD_MAX_IMAGE_PIXELS``, before decoding it.
        ValueError: for bytes no decoder can read.
    """
    if flag not in IMREAD_FLAGS:
        raise ValueError(f"flag must be one of {', '.join(IMREAD_FLAGS)}, got {flag!r}")
    if channel_order not in ("bgr", "rgb"):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'cv2' or 'pillow', got {backend!r}")
    _check_pixels(content, name)
    if backend == "cv2":
        img = cv2.imdecode(np.frombuffer(content, np.uint8), IMREAD_FLAGS[flag])
        if img is not None:
            if channel_order == "rgb" and img.ndim == 3 and img.shape[2] >= 3:
                cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGBA, img)
            return img
    try:
        return _pillow_decode(content, flag, channel_order)
    except OSError as exc:
        raise ValueError(f"{name}: not an image that OpenCV or Pillow can decode ({exc})") from None


def imread(path: str, color_type: str = "color", backend: str = "cv2", channel_order: str = "bgr") -> np.ndarray:
    """Read and decode an image file as ``mmcv.imread`` does (see :func:`imfrombytes` for the arguments).

    Raises:
        ImageTooLarge: for an image over ``TRAINYARD_MAX_IMAGE_PIXELS``, before decoding it.
    """
    with open(path, "rb", buffering=0) as file:  # unbuffered: one read of the whole file, no copy
        content = file.readall()
    return imfrombytes(content, color_type, channel_order, backend, name=str(path))


@TRANSFORMS.register()
class LoadImageFromFile:
    """Load ``results['img_info']['filename']`` (under ``results['img_prefix']``).

    Adds ``img``, ``img_shape``, ``ori_shape``, ``filename``, ``ori_filename`` and an identity
    ``img_norm_cfg``.

    Args:
        to_float32: Convert the image to float32.
        color_type: ``'color'`` (BGR, 3 channels), ``'grayscale'``, ``'unchanged'``,
            ``'color_ignore_orientation'`` or ``'grayscale_ignore_orientation'`` (see :func:`imfrombytes`).
        file_client_args: Accepted for MMCls compatibility; only the local disk is read.
        backend: ``'cv2'`` (MMCls's decoder) or ``'pillow'`` (mmcv's Pillow backend).
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color", file_client_args: dict | None = None,
                 backend: str = "cv2"):
        if color_type not in IMREAD_FLAGS:
            raise ValueError(f"color_type must be one of {', '.join(IMREAD_FLAGS)}, got {color_type!r}")
        if file_client_args not in (None, {"backend": "disk"}):
            raise NotImplementedError(f"file_client_args {file_client_args!r}: only the local disk is supported")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be 'cv2' or 'pillow', got {backend!r}")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.backend = backend

    def __call__(self, results: dict) -> dict:
        name = results["img_info"]["filename"]
        prefix = results.get("img_prefix")
        filename = os.path.join(prefix, name) if prefix is not None else name
        img = imread(filename, self.color_type, self.backend)
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
        return (f"{self.__class__.__name__}(to_float32={self.to_float32}, color_type='{self.color_type}', "
                f"backend='{self.backend}')")
