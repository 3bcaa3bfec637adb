"""Image functions behind the transforms, with ``mmcv.image``'s (1.7, which MMCls 0.25 calls) results.

Images are HxW or HxWxC numpy arrays in the loader's (BGR) order. Geometry (resize, warps, padding,
grey conversion) goes through the same OpenCV calls mmcv makes, so results are mmcv's to the bit; the
point-wise colour operations on uint8 images are computed once per grey level into a 256-entry table
(with mmcv's arithmetic: float32 blends truncated by ``astype``) and applied with ``cv2.LUT``. Crops and
flips return views, as mmcv's do; the formatting step copies once. ``backend='pillow'`` resizes with
Pillow, as mmcv's Pillow backend does.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageEnhance

__all__ = [
    "CV2_INTERP",
    "PILLOW_INTERP",
    "adjust_brightness",
    "adjust_color",
    "adjust_contrast",
    "adjust_lighting",
    "adjust_sharpness",
    "apply_lut",
    "auto_contrast",
    "bgr2gray",
    "cutout",
    "gray2bgr",
    "imcrop",
    "imequalize",
    "imflip",
    "iminvert",
    "impad",
    "imrescale",
    "imresize",
    "imrotate",
    "imshear",
    "imtranslate",
    "posterize",
    "rescale_size",
    "rgb2gray",
    "solarize",
]

CV2_INTERP = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
PILLOW_INTERP = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
    "hamming": Image.Resampling.HAMMING,
}
BACKENDS = ("cv2", "pillow")

# mmcv.impad's padding modes
_BORDER = {
    "constant": cv2.BORDER_CONSTANT,
    "edge": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
    "symmetric": cv2.BORDER_REFLECT,
}
_LEVELS = np.arange(256, dtype=np.uint8)
_LEVELS_F32 = _LEVELS.astype(np.float32)
_SHARPNESS_KERNEL = np.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13


def check_interpolation(interpolation: str, backend: str = "cv2") -> None:
    """Raise ``ValueError`` unless ``interpolation`` names one of ``backend``'s resampling filters."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'cv2' or 'pillow', got {backend!r}")
    names = CV2_INTERP if backend == "cv2" else PILLOW_INTERP
    if interpolation not in names:
        raise ValueError(f"interpolation for backend {backend!r} must be one of {', '.join(names)}, "
                         f"got {interpolation!r}")


def apply_lut(img: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``lut[img]`` for a uint8 image: one 256-entry table for all channels, or one per channel (256xC)."""
    channels = 1 if img.ndim == 2 else img.shape[2]
    if lut.ndim == 2 and lut.shape[1] == 1:
        lut = lut[:, 0]
    if channels > 4:
        out = lut[img] if lut.ndim == 1 else np.stack([lut[:, c][img[..., c]] for c in range(channels)], axis=-1)
        return out
    table = lut if lut.ndim == 1 else np.ascontiguousarray(lut.reshape(256, 1, channels))
    return cv2.LUT(img, table).reshape(img.shape)


# ---------------------------------------------------------------- geometry


def imresize(img: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear", backend: str = "cv2",
             out: np.ndarray | None = None) -> np.ndarray:
    """Resize to ``size=(width, height)`` (``mmcv.imresize``).

    ``'cv2'`` calls ``cv2.resize`` (an HxWx1 image comes back HxW, as from mmcv); ``'pillow'`` resizes
    a uint8 image with Pillow (``'box'`` and ``'hamming'`` filters too).
    """
    size = (int(size[0]), int(size[1]))
    if backend == "cv2" and interpolation in CV2_INTERP:
        return cv2.resize(img, size, dst=out, interpolation=CV2_INTERP[interpolation])
    check_interpolation(interpolation, backend)
    if img.dtype != np.uint8:
        raise ValueError(f"the Pillow backend resizes uint8 images only, got {img.dtype}")
    return np.asarray(Image.fromarray(img).resize(size, PILLOW_INTERP[interpolation]))


def rescale_size(old_size: tuple[int, int], scale: float | tuple[int, int]) -> tuple[tuple[int, int], float]:
    """``((width, height), factor)`` for ``old_size=(w, h)`` scaled by a factor, or as large as fits in
    ``scale=(long edge, short edge)`` keeping the ratio (``mmcv.rescale_size``)."""
    w, h = old_size
    if isinstance(scale, (int, float)):
        if scale <= 0:
            raise ValueError(f"Invalid scale {scale}, must be positive.")
        factor = scale
    elif isinstance(scale, tuple):
        factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    else:
        raise TypeError(f"Scale must be a number or tuple of int, but got {type(scale)}")
    return (int(w * float(factor) + 0.5), int(h * float(factor) + 0.5)), factor


def imrescale(img: np.ndarray, scale: float | tuple[int, int], interpolation: str = "bilinear",
              backend: str = "cv2") -> np.ndarray:
    """Resize keeping the aspect ratio, by a factor or to fit ``(long edge, short edge)`` (``mmcv.imrescale``)."""
    height, width = img.shape[:2]
    size, _ = rescale_size((width, height), scale)
    return imresize(img, size, interpolation, backend)


def imcrop(img: np.ndarray, bbox: Sequence[float]) -> np.ndarray:
    """The inclusive box ``(x1, y1, x2, y2)`` (truncated to ints, clipped to the image), as a view
    (``mmcv.imcrop`` without scaling or padding)."""
    height, width = img.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in bbox)
    x1, x2 = max(0, min(x1, width - 1)), max(0, min(x2, width - 1))
    y1, y2 = max(0, min(y1, height - 1)), max(0, min(y2, height - 1))
    return img[y1:y2 + 1, x1:x2 + 1]


def impad(img: np.ndarray, *, shape: Sequence[int] | None = None, padding: int | Sequence[int] | None = None,
          pad_val: float | Sequence[float] = 0, padding_mode: str = "constant") -> np.ndarray:
    """Pad to ``shape=(h, w)`` at the bottom and right, or by ``padding`` (``mmcv.impad``).

    Args:
        img: The image.
        shape: Target ``(h, w)``; exclusive with ``padding``.
        padding: An int (all sides), ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        pad_val: Fill value for ``'constant'``: one per channel, or a number, which (as in mmcv, whose
            number becomes OpenCV's scalar ``(v, 0, 0, 0)``) fills the first channel and zeros the others.
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` (without repeating the edge pixel) or
            ``'symmetric'`` (repeating it).
    """
    if (shape is None) == (padding is None):
        raise ValueError("give one of shape and padding")
    if shape is not None:
        padding = (0, 0, max(shape[1] - img.shape[1], 0), max(shape[0] - img.shape[0], 0))
    elif isinstance(padding, (int, np.integer)):
        padding = (padding,) * 4
    elif isinstance(padding, (tuple, list)) and len(padding) in (2, 4):
        padding = tuple(padding) * 2 if len(padding) == 2 else padding
    else:
        raise ValueError(f"Padding must be a int or a 2, or 4 element tuple. But received {padding}")
    border = _BORDER.get(padding_mode)
    if border is None:
        raise ValueError(f"padding_mode must be one of {', '.join(_BORDER)}, got {padding_mode!r}")
    channels = 1 if img.ndim == 2 else img.shape[2]
    if isinstance(pad_val, (int, float, np.number)):
        # one number is OpenCV's scalar (v, 0, 0, 0), as mmcv passes it: it fills the first channel only
        value = [float(pad_val)] + [0.0] * (channels - 1)
    else:
        if len(pad_val) != channels:
            raise ValueError(f"pad_val has {len(pad_val)} values for an image of {channels} channels")
        value = [float(v) for v in pad_val]
    left, top, right, bottom = (int(v) for v in padding)
    if channels > 4:  # cv2 takes a 4-value scalar at most
        widths = [(top, bottom), (left, right), (0, 0)]
        if padding_mode != "constant":
            return np.pad(img, widths, mode={"edge": "edge", "reflect": "reflect",
                                             "symmetric": "symmetric"}[padding_mode])
        out = np.empty((img.shape[0] + top + bottom, img.shape[1] + left + right, channels), dtype=img.dtype)
        out[...] = np.asarray(value, dtype=img.dtype)
        out[top:top + img.shape[0], left:left + img.shape[1]] = img
        return out
    out = cv2.copyMakeBorder(img, top, bottom, left, right, border, value=value)
    return out[..., None] if img.ndim == 3 and out.ndim == 2 else out


def imflip(img: np.ndarray, direction: str = "horizontal") -> np.ndarray:
    """A flipped view: ``'horizontal'``, ``'vertical'`` or ``'diagonal'`` (both) (``mmcv.imflip``)."""
    if direction == "horizontal":
        return img[:, ::-1]
    if direction == "vertical":
        return img[::-1]
    if direction == "diagonal":
        return img[::-1, ::-1]
    raise ValueError(f"direction must be 'horizontal', 'vertical' or 'diagonal', got {direction!r}")


def _border_value(img: np.ndarray, border_value) -> tuple:
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels == 3 and type(border_value) is tuple and len(border_value) == 3:
        return border_value
    if isinstance(border_value, (int, float, np.number)):
        return (float(border_value),) * min(channels, 4)
    values = tuple(float(v) for v in border_value)
    # mmcv passes the first three to cv2 (an RGB fill for 3-channel images); a grey image takes the first
    return values[:1] if channels == 1 else values[:3]


def _warp(img: np.ndarray, matrix: np.ndarray, border_value, interpolation: str) -> np.ndarray:
    if interpolation not in CV2_INTERP:
        raise ValueError(f"interpolation must be one of {', '.join(CV2_INTERP)}, got {interpolation!r}")
    height, width = img.shape[:2]
    out = cv2.warpAffine(img, matrix, (width, height), flags=CV2_INTERP[interpolation],
                         borderMode=cv2.BORDER_CONSTANT, borderValue=_border_value(img, border_value))
    return out[..., None] if img.ndim == 3 and out.ndim == 2 else out


def imshear(img: np.ndarray, magnitude: float, direction: str = "horizontal",
            border_value: float | Sequence[float] = 0, interpolation: str = "bilinear") -> np.ndarray:
    """Shear by ``magnitude`` (x += magnitude * y for 'horizontal', y += magnitude * x for 'vertical')."""
    if direction == "horizontal":
        matrix = np.array([[1, magnitude, 0], [0, 1, 0]], dtype=np.float32)  # float32 as mmcv's matrix
    elif direction == "vertical":
        matrix = np.array([[1, 0, 0], [magnitude, 1, 0]], dtype=np.float32)
    else:
        raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
    return _warp(img, matrix, border_value, interpolation)


def imtranslate(img: np.ndarray, offset: float, direction: str = "horizontal",
                border_value: float | Sequence[float] = 0, interpolation: str = "bilinear") -> np.ndarray:
    """Shift by ``offset`` pixels (right/down when positive)."""
    if direction == "horizontal":
        matrix = np.array([[1, 0, offset], [0, 1, 0]], dtype=np.float32)
    elif direction == "vertical":
        matrix = np.array([[1, 0, 0], [0, 1, offset]], dtype=np.float32)
    else:
        raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
    return _warp(img, matrix, border_value, interpolation)


def imrotate(img: np.ndarray, angle: float, center: Sequence[float] | None = None, scale: float = 1.0,
             border_value: float | Sequence[float] = 0, interpolation: str = "bilinear") -> np.ndarray:
    """Rotate ``angle`` degrees clockwise (mmcv's sign) about ``center`` (default the image centre)."""
    height, width = img.shape[:2]
    if center is None:
        center = ((width - 1) * 0.5, (height - 1) * 0.5)
    matrix = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), -angle, scale)
    return _warp(img, matrix, border_value, interpolation)


def cutout(img: np.ndarray, shape: int | tuple[int, int], pad_val: float | Sequence[float] = 0) -> np.ndarray:
    """A copy with a ``shape`` box filled by ``pad_val`` around a random point (``mmcv.cutout``).

    The centre is drawn as mmcv draws it: ``np.random.uniform(h)`` (i.e. ``U(1, h)``, numpy's ``high``
    defaulting to 1), then ``np.random.uniform(w)``.
    """
    cut_h, cut_w = (shape, shape) if isinstance(shape, int) else shape
    img_h, img_w = img.shape[:2]
    y0 = np.random.uniform(img_h, 1.0)
    x0 = np.random.uniform(img_w, 1.0)
    y1 = int(max(0, y0 - cut_h / 2.0))
    x1 = int(max(0, x0 - cut_w / 2.0))
    y2 = min(img_h, y1 + cut_h)
    x2 = min(img_w, x1 + cut_w)
    out = img.copy()
    if img.ndim == 2:
        out[y1:y2, x1:x2] = pad_val if isinstance(pad_val, (int, float)) else pad_val[0]
    else:
        values = (pad_val,) * img.shape[2] if isinstance(pad_val, (int, float)) else tuple(pad_val)
        out[y1:y2, x1:x2] = np.asarray(values[:img.shape[2]]).astype(img.dtype)
    return out


# ---------------------------------------------------------------- colour


def bgr2gray(img: np.ndarray) -> np.ndarray:
    """Luma of a BGR image (``cv2.COLOR_BGR2GRAY``), HxW; a grey image comes back as HxW."""
    if img.ndim == 2 or img.shape[2] == 1:
        return img.reshape(img.shape[:2])
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)


def rgb2gray(img: np.ndarray) -> np.ndarray:
    """Luma weighing the first channel as red (``cv2.COLOR_RGB2GRAY``, ``mmcv.rgb2gray``), HxW."""
    if img.ndim == 2 or img.shape[2] == 1:
        return img.reshape(img.shape[:2])
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY if img.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)


def gray2bgr(gray: np.ndarray, channels: int = 3) -> np.ndarray:
    """HxW -> HxWx``channels`` with the value repeated."""
    if channels == 3:
        return cv2.cvtColor(gray.reshape(gray.shape[:2]), cv2.COLOR_GRAY2BGR)
    return np.repeat(gray.reshape(*gray.shape[:2], 1), channels, axis=2)


def _blend_f32(img: np.ndarray, factor: float, other: np.ndarray) -> np.ndarray:
    """mmcv's blend: ``cv2.addWeighted(float32(img), factor, float32(other), 1 - factor, 0)``, clipped to
    [0, 255] and cast back by truncation."""
    out = cv2.addWeighted(img.astype(np.float32), factor, other.astype(np.float32), 1 - factor, 0)
    np.clip(out, 0, 255, out=out)
    return out.astype(img.dtype)


def _blend_with_constant(img: np.ndarray, factor: float, value: float) -> np.ndarray:
    """:func:`_blend_f32` against a flat image of ``value``; for uint8 through a table of the 256 levels."""
    if img.dtype == np.uint8:
        lut = _blend_f32(_LEVELS_F32, factor, np.full(256, value, dtype=np.float32)).reshape(256)
        return apply_lut(img, lut.astype(np.uint8))
    return _blend_f32(img, factor, np.full(img.shape, value, dtype=np.float32))


def _pillow_enhance(img: np.ndarray, enhancer, factor: float) -> np.ndarray:
    """mmcv's Pillow backend of the colour functions: ``PIL.ImageEnhance`` on the RGB image (uint8, BGR)."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError("the Pillow backend adjusts uint8 BGR images only")
    pil = enhancer(Image.fromarray(np.ascontiguousarray(img[..., ::-1]), mode="RGB")).enhance(factor)
    return np.asarray(pil)[..., ::-1]


def adjust_brightness(img: np.ndarray, factor: float = 1.0, backend: str = "cv2") -> np.ndarray:
    """Blend with black: 0 gives black, 1 the image, above 1 brighter (``mmcv.adjust_brightness``;
    ``backend='pillow'``: ``PIL.ImageEnhance.Brightness``)."""
    if backend == "pillow":
        return _pillow_enhance(img, ImageEnhance.Brightness, factor)
    return _blend_with_constant(img, factor, 0.0)


def adjust_contrast(img: np.ndarray, factor: float = 1.0, backend: str = "cv2") -> np.ndarray:
    """Blend with the image's mean luma, rounded: 0 gives a flat grey image, 1 the image
    (``mmcv.adjust_contrast``; ``backend='pillow'``: ``PIL.ImageEnhance.Contrast``)."""
    if backend == "pillow":
        return _pillow_enhance(img, ImageEnhance.Contrast, factor)
    gray = bgr2gray(img)
    total = int(cv2.sumElems(gray)[0]) if gray.dtype == np.uint8 else float(gray.sum())
    mean = round(total / gray.size)  # Python's round: half to even, as mmcv's round of a numpy float
    if np.issubdtype(img.dtype, np.integer):
        mean = np.array(mean).astype(img.dtype).item()  # mmcv casts the degenerate image to the dtype
    return _blend_with_constant(img, factor, float(mean))


def adjust_color(img: np.ndarray, alpha: float = 1.0, beta: float | None = None, gamma: float = 0.0,
                 backend: str = "cv2") -> np.ndarray:
    """Saturation: ``img * alpha + gray * beta + gamma`` with ``beta = 1 - alpha`` by default
    (``mmcv.adjust_color``: ``cv2.addWeighted`` in the image's dtype, so uint8 rounds and saturates;
    ``backend='pillow'``: ``PIL.ImageEnhance.Color`` with ``alpha``)."""
    if backend == "pillow":
        return _pillow_enhance(img, ImageEnhance.Color, alpha)
    beta = 1 - alpha if beta is None else beta
    if img.ndim == 2 or img.shape[2] == 1:
        gray = img
    else:
        gray = gray2bgr(bgr2gray(img), img.shape[2])
    out = cv2.addWeighted(img, alpha, gray, beta, gamma)
    if out.dtype != np.uint8:
        np.clip(out, 0, 255, out=out)
    out = out.astype(img.dtype, copy=False)
    return out.reshape(img.shape)


def adjust_sharpness(img: np.ndarray, factor: float = 1.0, kernel: np.ndarray | None = None) -> np.ndarray:
    """Blend with ``cv2.filter2D(img, kernel)`` (default [[1,1,1],[1,5,1],[1,1,1]]/13): 0 blurs, above 1
    sharpens (``mmcv.adjust_sharpness``)."""
    kernel = _SHARPNESS_KERNEL if kernel is None else np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must have a dimension of 2, but got {kernel.ndim} instead.")
    degenerated = cv2.filter2D(img, -1, kernel)
    return _blend_f32(img, factor, degenerated.reshape(img.shape))


def _histograms(img: np.ndarray) -> np.ndarray:
    """256-bin histograms of each channel of a uint8 image (``np.histogram(channel, 256, (0, 255))``), Cx256."""
    planes = img.reshape(-1, 1 if img.ndim == 2 else img.shape[2])
    return np.stack([np.bincount(planes[:, c], minlength=256) for c in range(planes.shape[1])])


def _per_channel_lut(img: np.ndarray, luts: list[np.ndarray | None]) -> np.ndarray:
    """Apply one uint8 table per channel (``None``: the channel unchanged)."""
    table = np.stack([_LEVELS if lut is None else lut for lut in luts], axis=1)
    return apply_lut(img, table[:, 0] if img.ndim == 2 else table)


def _auto_contrast_lut(histogram: np.ndarray, cutoff: tuple[float, float]) -> np.ndarray | None:
    cumulative = np.cumsum(histogram)
    total = cumulative[-1]
    cut_low = total * cutoff[0] // 100
    cut_high = total - total * cutoff[1] // 100
    cumulative = np.clip(cumulative, cut_low, cut_high) - cut_low
    kept = np.nonzero(np.concatenate([cumulative[:1], np.diff(cumulative)]))[0]
    if len(kept) == 0:
        return None
    low, high = kept[0], kept[-1]
    if low >= high:
        return None
    # a 256-entry table in float64, as mmcv's (its v * scale - low * scale truncates 254.99... to 254)
    scale = 255.0 / (high - low)
    return np.clip(np.arange(256) * scale + (-low * scale), 0, 255).astype(np.uint8)


def auto_contrast(img: np.ndarray, cutoff: float | tuple[float, float] = 0) -> np.ndarray:
    """Stretch each channel so its darkest pixel becomes 0 and its brightest 255, after cutting
    ``cutoff`` percent of the pixels at each end (``mmcv.auto_contrast``)."""
    cutoff = (cutoff, cutoff) if isinstance(cutoff, (int, float)) else tuple(cutoff)
    if img.dtype != np.uint8:
        return auto_contrast(np.clip(img, 0, 255).astype(np.uint8), cutoff).astype(img.dtype)
    return _per_channel_lut(img, [_auto_contrast_lut(h, cutoff) for h in _histograms(img)])


def _equalize_lut(histogram: np.ndarray) -> np.ndarray | None:
    nonzero = histogram[histogram > 0]
    step = (nonzero.sum() - nonzero[-1]) // 255
    if not step:
        return None
    lut = (np.cumsum(histogram) + step // 2) // step
    return np.minimum(np.concatenate([[0], lut[:-1]]), 255).astype(np.uint8)


def imequalize(img: np.ndarray) -> np.ndarray:
    """Equalise each channel's histogram (Pillow's ``ImageOps.equalize`` algorithm, as ``mmcv.imequalize``)."""
    if img.dtype != np.uint8:
        return imequalize(np.clip(img, 0, 255).astype(np.uint8)).astype(img.dtype)
    return _per_channel_lut(img, [_equalize_lut(h) for h in _histograms(img)])


def iminvert(img: np.ndarray) -> np.ndarray:
    """``255 - img``."""
    if img.dtype == np.uint8:
        return cv2.bitwise_not(img).reshape(img.shape)
    return np.full_like(img, 255) - img


def solarize(img: np.ndarray, thr: float = 128) -> np.ndarray:
    """Invert the pixels at or above ``thr``."""
    if img.dtype == np.uint8:
        return apply_lut(img, np.where(_LEVELS < thr, _LEVELS, 255 - _LEVELS).astype(np.uint8))
    return np.where(img < thr, img, 255 - img).astype(img.dtype)


def posterize(img: np.ndarray, bits: int) -> np.ndarray:
    """Keep the ``bits`` highest bits of each value."""
    shift = 8 - bits
    if img.dtype == np.uint8:  # clearing the low bits is the same as shifting them out and back, in one pass
        return np.bitwise_and(img, np.uint8((0xFF << shift) & 0xFF if shift >= 0 else 0xFF))
    return np.left_shift(np.right_shift(img, shift), shift)


def adjust_lighting(img: np.ndarray, eigval: np.ndarray, eigvec: np.ndarray, alphastd: float = 0.1,
                    to_rgb: bool = True) -> np.ndarray:
    """AlexNet's PCA lighting noise (``mmcv.adjust_lighting``): add ``eigvec @ (alpha * eigval)`` with
    ``alpha ~ N(0, alphastd)`` (one ``np.random.normal`` draw); float32, RGB first when ``to_rgb``."""
    eigval = np.asarray(eigval).reshape(-1)
    eigvec = np.asarray(eigvec)
    if eigvec.shape != (3, eigval.size):
        raise ValueError(f"eigvec must be 3x{eigval.size}, got {eigvec.shape}")
    alpha = np.random.normal(0, alphastd, eigval.size)
    # three numbers: computed as mmcv does, then added to the image in float32
    alter = (eigvec * alpha.reshape(1, -1) * eigval.reshape(1, -1)).sum(axis=1).astype(np.float32)
    out = img.astype(np.float32)
    if to_rgb and out.ndim == 3 and out.shape[2] == 3:
        cv2.cvtColor(out, cv2.COLOR_BGR2RGB, out)
    out += alter
    return out
