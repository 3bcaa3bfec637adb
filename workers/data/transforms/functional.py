"""Image functions behind the augmentations, matching ``mmcv.image`` (which MMCls 0.25 calls) on numpy.

Images are HxW or HxWxC arrays in the loader's (BGR) order; colour functions weigh channels as mmcv
does for BGR input. Geometric warps use Pillow's affine transform (OpenCV is not a dependency), so
edge pixels can differ from mmcv's ``cv2.warpAffine`` by interpolation rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

__all__ = [
    "adjust_brightness",
    "adjust_color",
    "adjust_contrast",
    "adjust_lighting",
    "adjust_sharpness",
    "auto_contrast",
    "bgr2gray",
    "imequalize",
    "iminvert",
    "imrotate",
    "imshear",
    "imtranslate",
    "posterize",
    "solarize",
]

# Pillow's affine warp knows only these three; 'area' and 'lanczos' (cv2 flags in mmcv) map to the closest.
_WARP_INTERP = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.BICUBIC,
}


def _blend(img: np.ndarray, other: np.ndarray | float, factor: float) -> np.ndarray:
    """``img * factor + other * (1 - factor)`` clipped to [0, 255] in the image's dtype (mmcv's addWeighted)."""
    out = img.astype(np.float32) * factor + np.asarray(other, dtype=np.float32) * (1.0 - factor)
    return np.clip(out, 0, 255).astype(img.dtype)


def bgr2gray(img: np.ndarray) -> np.ndarray:
    """Luma of a BGR image (ITU-R 601 weights, as OpenCV's ``COLOR_BGR2GRAY``), HxW; a HxW image unchanged."""
    if img.ndim == 2 or img.shape[2] == 1:
        return img.reshape(img.shape[:2])
    gray = img[..., 0].astype(np.float32) * 0.114 + img[..., 1] * 0.587 + img[..., 2] * 0.299
    if np.issubdtype(img.dtype, np.integer):
        gray = np.rint(gray)
    return gray.astype(img.dtype)


def _gray_like(img: np.ndarray, gray: np.ndarray) -> np.ndarray:
    return gray if img.ndim == 2 else np.repeat(gray.reshape(*gray.shape[:2], 1), img.shape[2], axis=2)


def adjust_brightness(img: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """Blend with black: 0 gives black, 1 the image, above 1 brighter."""
    return _blend(img, 0.0, factor)


def adjust_contrast(img: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """Blend with the image's mean grey: 0 gives a flat grey image, 1 the image."""
    mean = round(float(bgr2gray(img).mean()))
    return _blend(img, float(mean), factor)


def adjust_color(img: np.ndarray, alpha: float = 1.0, beta: float | None = None, gamma: float = 0.0) -> np.ndarray:
    """Saturation: ``img * alpha + gray * beta + gamma`` (``beta`` defaults to ``1 - alpha``)."""
    gray = _gray_like(img, bgr2gray(img)).astype(np.float32)
    beta = 1.0 - alpha if beta is None else beta
    out = img.astype(np.float32) * alpha + gray * beta + gamma
    if np.issubdtype(img.dtype, np.integer):
        out = np.rint(out)  # OpenCV rounds (saturate_cast) for integer images
    return np.clip(out, 0, 255).astype(img.dtype)


def adjust_sharpness(img: np.ndarray, factor: float = 1.0, kernel: np.ndarray | None = None) -> np.ndarray:
    """Blend with a smoothed copy (3x3 kernel [[1,1,1],[1,5,1],[1,1,1]]/13): 0 blurs, above 1 sharpens."""
    if kernel is None:
        kernel = np.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13
    kernel = np.asarray(kernel, dtype=np.float32)
    kh, kw = kernel.shape
    widths = [(kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2)] + [(0, 0)] * (img.ndim - 2)
    padded = np.pad(img.astype(np.float32), widths, mode="reflect")  # OpenCV's BORDER_REFLECT_101
    height, width = img.shape[:2]
    smooth = sum(kernel[i, j] * padded[i:i + height, j:j + width] for i in range(kh) for j in range(kw))
    if np.issubdtype(img.dtype, np.integer):
        smooth = np.clip(np.rint(smooth), 0, 255)
    return _blend(img, smooth, factor)


def _histogram(plane: np.ndarray) -> np.ndarray:
    """256-bin histogram over [0, 255] (``np.bincount`` for uint8: several times faster than np.histogram)."""
    if plane.dtype == np.uint8:
        return np.bincount(plane.ravel(), minlength=256)
    return np.histogram(plane, 256, (0, 255))[0]


def _lut(plane: np.ndarray, lut: np.ndarray) -> np.ndarray:
    if plane.dtype == np.uint8:
        return lut.astype(np.uint8)[plane]  # lut values are in [0, 255]: truncation as mmcv's astype
    return lut[np.clip(plane, 0, 255).astype(np.intp)]


def _per_channel(img: np.ndarray, fn) -> np.ndarray:
    if img.ndim == 2:
        return fn(img).astype(img.dtype)
    return np.stack([fn(img[..., c]) for c in range(img.shape[2])], axis=-1).astype(img.dtype)


def auto_contrast(img: np.ndarray, cutoff: float | Sequence[float] = 0) -> np.ndarray:
    """Stretch each channel so its darkest pixel becomes 0 and its brightest 255 (after cutting ``cutoff`` %)."""
    low_cut, high_cut = (cutoff, cutoff) if isinstance(cutoff, (int, float)) else cutoff

    def channel(plane: np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(_histogram(plane))
        total = cumulative[-1]
        cut_low, cut_high = total * low_cut // 100, total - total * high_cut // 100
        cumulative = np.clip(cumulative, cut_low, cut_high) - cut_low
        histogram = np.concatenate([cumulative[:1], np.diff(cumulative)])
        nonzero = np.nonzero(histogram)[0]
        if len(nonzero) == 0 or nonzero[0] >= nonzero[-1]:
            return plane
        low, high = nonzero[0], nonzero[-1]
        scale = 255.0 / (high - low)
        lut = np.clip((np.arange(256) - low) * scale, 0, 255)  # (v - low) * scale keeps high at exactly 255
        return _lut(plane, lut)

    return _per_channel(img, channel)


def imequalize(img: np.ndarray) -> np.ndarray:
    """Histogram equalisation of each channel (Pillow's ``ImageOps.equalize`` algorithm, as mmcv)."""

    def channel(plane: np.ndarray) -> np.ndarray:
        histogram = _histogram(plane)
        nonzero = histogram[histogram > 0]
        step = (nonzero.sum() - nonzero[-1]) // 255
        if not step:
            return plane
        lut = (np.cumsum(histogram) + step // 2) // step
        lut = np.minimum(np.concatenate([[0], lut[:-1]]), 255)
        return _lut(plane, lut)

    return _per_channel(img, channel)


def iminvert(img: np.ndarray) -> np.ndarray:
    """``255 - img``."""
    return (np.full_like(img, 255) - img).astype(img.dtype)


def solarize(img: np.ndarray, thr: float = 128) -> np.ndarray:
    """Invert the pixels at or above ``thr``."""
    return np.where(img < thr, img, 255 - img).astype(img.dtype)


def posterize(img: np.ndarray, bits: int) -> np.ndarray:
    """Keep the ``bits`` highest bits of each value."""
    shift = 8 - bits
    return np.left_shift(np.right_shift(img, shift), shift).astype(img.dtype)


def adjust_lighting(img: np.ndarray, eigval: np.ndarray, eigvec: np.ndarray, alphastd: float = 0.1,
                    to_rgb: bool = True) -> np.ndarray:
    """AlexNet's PCA lighting noise: add ``eigvec @ (alpha * eigval)``, ``alpha ~ N(0, alphastd)``; float32."""
    eigval = np.asarray(eigval, dtype=np.float32).reshape(-1)
    eigvec = np.asarray(eigvec, dtype=np.float32)
    if eigvec.shape != (3, eigval.size):
        raise ValueError(f"eigvec must be 3x{eigval.size}, got {eigvec.shape}")
    img = img.astype(np.float32)
    if to_rgb:
        img = img[..., ::-1]
    alpha = np.random.normal(scale=alphastd, size=eigval.size).astype(np.float32)
    return img + (eigvec * (alpha * eigval)[None, :]).sum(axis=1)


def _warp_affine(img: np.ndarray, matrix: np.ndarray, border_value: float | Sequence[float],
                 interpolation: str) -> np.ndarray:
    """``cv2.warpAffine(img, matrix)`` (matrix maps source to destination) with a constant border."""
    if interpolation not in _WARP_INTERP:
        raise ValueError(f"interpolation must be one of {sorted(_WARP_INTERP)}, got {interpolation!r}")
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    # Pillow asks, for each output point, where to sample; its pixel centres lie at +0.5, OpenCV's at 0
    shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    inverse = (shift @ np.linalg.inv(full) @ back)[:2].reshape(-1)
    height, width = img.shape[:2]
    resample = _WARP_INTERP[interpolation]
    values = [border_value] * (1 if img.ndim == 2 else img.shape[2]) if np.isscalar(border_value) \
        else list(border_value)

    def warp(plane: np.ndarray, mode: str | None, fill) -> np.ndarray:
        pil = Image.fromarray(plane, mode=mode) if mode else Image.fromarray(plane)
        return np.asarray(pil.transform((width, height), Image.Transform.AFFINE, tuple(inverse), resample,
                                        fillcolor=fill))

    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        return warp(img, None, tuple(int(v) for v in values[:3]))
    planes = img[..., None] if img.ndim == 2 else img
    out = np.stack([warp(planes[..., c].astype(np.float32), "F", float(values[min(c, len(values) - 1)]))
                    for c in range(planes.shape[2])], axis=2)
    if np.issubdtype(img.dtype, np.integer):
        out = np.clip(np.rint(out), np.iinfo(img.dtype).min, np.iinfo(img.dtype).max)
    out = out.astype(img.dtype)
    return out[..., 0] if img.ndim == 2 else out


def imshear(img: np.ndarray, magnitude: float, direction: str = "horizontal",
            border_value: float | Sequence[float] = 0, interpolation: str = "bilinear") -> np.ndarray:
    """Shear by ``magnitude`` (x += magnitude * y for 'horizontal', y += magnitude * x for 'vertical')."""
    if direction == "horizontal":
        matrix = np.array([[1, magnitude, 0], [0, 1, 0]], dtype=np.float64)
    elif direction == "vertical":
        matrix = np.array([[1, 0, 0], [magnitude, 1, 0]], dtype=np.float64)
    else:
        raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
    return _warp_affine(img, matrix, border_value, interpolation)


def imtranslate(img: np.ndarray, offset: float, direction: str = "horizontal",
                border_value: float | Sequence[float] = 0, interpolation: str = "bilinear") -> np.ndarray:
    """Shift by ``offset`` pixels (right/down when positive)."""
    if direction == "horizontal":
        matrix = np.array([[1, 0, offset], [0, 1, 0]], dtype=np.float64)
    elif direction == "vertical":
        matrix = np.array([[1, 0, 0], [0, 1, offset]], dtype=np.float64)
    else:
        raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
    return _warp_affine(img, matrix, border_value, interpolation)


def imrotate(img: np.ndarray, angle: float, center: Sequence[float] | None = None, scale: float = 1.0,
             border_value: float | Sequence[float] = 0, interpolation: str = "bilinear") -> np.ndarray:
    """Rotate ``angle`` degrees clockwise (mmcv's sign) about ``center`` (default the image centre)."""
    height, width = img.shape[:2]
    cx, cy = ((width - 1) * 0.5, (height - 1) * 0.5) if center is None else center
    # cv2.getRotationMatrix2D(center, -angle, scale)
    radians = math.radians(-angle)
    a, b = scale * math.cos(radians), scale * math.sin(radians)
    matrix = np.array([[a, b, (1 - a) * cx - b * cy], [-b, a, b * cx + (1 - a) * cy]], dtype=np.float64)
    return _warp_affine(img, matrix, border_value, interpolation)
