"""Pre-processing transforms with MMClassification 0.25's names, arguments and result keys (seed 7.1.2).

Images are HxW or HxWxC numpy arrays. Resizing uses Pillow for both ``backend='cv2'`` and
``backend='pillow'`` (OpenCV is not a dependency), so ``'cv2'`` results can differ from MMCls by
interpolation rounding. Randomness comes from ``numpy.random``, which the engine seeds per worker.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from workers.data.transforms import functional as F
from workers.registry import TRANSFORMS

__all__ = [
    "Albu",
    "CenterCrop",
    "ColorJitter",
    "Lighting",
    "Normalize",
    "Pad",
    "RandomErasing",
    "RandomGrayscale",
    "RandomCrop",
    "RandomFlip",
    "RandomResizedCrop",
    "Resize",
    "imcrop",
    "imflip",
    "imnormalize",
    "impad",
    "imresize",
]

_PIL_INTERP = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,  # Pillow's closest to cv2.INTER_AREA
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
    "hamming": Image.Resampling.HAMMING,
}


def _check_backend(backend: str) -> None:
    if backend not in ("cv2", "pillow"):
        raise ValueError(f"backend must be 'cv2' or 'pillow', got {backend!r}")


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in _PIL_INTERP:
        raise ValueError(f"interpolation must be one of {sorted(_PIL_INTERP)}, got {interpolation!r}")


def imresize(img: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """Resize to ``size=(width, height)``, keeping dtype and channel layout."""
    _check_interpolation(interpolation)
    width, height = int(size[0]), int(size[1])
    resample = _PIL_INTERP[interpolation]
    if img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] in (3, 4)):
        return np.asarray(Image.fromarray(img).resize((width, height), resample))
    # other dtypes / channel counts: resize each channel as a float image
    planes = img[..., None] if img.ndim == 2 else img
    out = np.stack([np.asarray(Image.fromarray(planes[..., c].astype(np.float32), mode="F")
                               .resize((width, height), resample)) for c in range(planes.shape[2])], axis=2)
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    out = out.astype(img.dtype)
    return out[..., 0] if img.ndim == 2 else out


def imcrop(img: np.ndarray, bbox: Sequence[int]) -> np.ndarray:
    """Crop the inclusive box ``(x1, y1, x2, y2)``, clipped to the image."""
    h, w = img.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in bbox)
    x1, y1 = max(0, min(x1, w - 1)), max(0, min(y1, h - 1))
    x2, y2 = max(0, min(x2, w - 1)), max(0, min(y2, h - 1))
    return img[y1:y2 + 1, x1:x2 + 1, ...].copy()


def impad(img: np.ndarray, padding: int | Sequence[int], pad_val: float | Sequence[float] = 0,
          padding_mode: str = "constant") -> np.ndarray:
    """Pad by an int (all sides), ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``."""
    if isinstance(padding, int):
        left = top = right = bottom = padding
    elif len(padding) == 2:
        left = right = padding[0]
        top = bottom = padding[1]
    elif len(padding) == 4:
        left, top, right, bottom = padding
    else:
        raise ValueError(f"padding must be an int or a 2- or 4-tuple, got {padding!r}")
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
    if padding_mode == "constant":
        if isinstance(pad_val, (int, float)) or img.ndim == 2:
            value = pad_val if isinstance(pad_val, (int, float)) else pad_val[0]
            return np.pad(img, widths, mode="constant", constant_values=value)
        out = np.stack([np.pad(img[..., c], widths[:2], mode="constant", constant_values=pad_val[c])
                        for c in range(img.shape[2])], axis=2)
        return out
    modes = {"edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}
    if padding_mode not in modes:
        raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}")
    return np.pad(img, widths, mode=modes[padding_mode])


def imflip(img: np.ndarray, direction: str = "horizontal") -> np.ndarray:
    """Flip ``'horizontal'``, ``'vertical'`` or ``'diagonal'``."""
    if direction == "horizontal":
        return np.flip(img, axis=1).copy()
    if direction == "vertical":
        return np.flip(img, axis=0).copy()
    if direction == "diagonal":
        return np.flip(img, axis=(0, 1)).copy()
    raise ValueError(f"direction must be 'horizontal', 'vertical' or 'diagonal', got {direction!r}")


def imnormalize(img: np.ndarray, mean: np.ndarray, std: np.ndarray, to_rgb: bool = True) -> np.ndarray:
    """``(img - mean) / std`` in float32, after BGR->RGB when ``to_rgb`` (mmcv's ``imnormalize``)."""
    if to_rgb and img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    out = img.astype(np.float32)  # a contiguous copy, normalised in place below (float32 throughout)
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    if out.ndim == 2:
        if mean.size > 1 and not (np.all(mean == mean.flat[0]) and np.all(std == std.flat[0])):
            raise ValueError(f"a single-channel image needs one mean/std value, got {mean.tolist()}")
        mean, std = mean.flat[0], std.flat[0]
    elif mean.size not in (1, out.shape[2]):
        raise ValueError(f"{mean.size} mean values for an image with {out.shape[2]} channels")
    out -= mean
    out /= std
    return out


def _image_keys(results: dict) -> list[str]:
    return results.get("img_fields", ["img"])


def _to_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if len(size) != 2:
        raise ValueError(f"size must be an int or (h, w), got {size!r}")
    return int(size[0]), int(size[1])


@TRANSFORMS.register()
class Resize:
    """Resize to ``size``.

    An int resizes to ``(size, size)``; ``(h, w)`` to exactly that; ``(s, -1)`` scales so that the side
    named by ``adaptive_side`` ('short', 'long', 'height' or 'width') becomes ``s``, keeping the ratio.

    Args:
        size: Target size.
        interpolation: 'nearest', 'bilinear', 'bicubic', 'area', 'lanczos' (or 'box', 'hamming').
        backend: 'cv2' or 'pillow' (both resize with Pillow here).
        adaptive_side: Which side ``(s, -1)`` refers to.
    """

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear", backend: str = "cv2",
                 adaptive_side: str = "short"):
        if isinstance(size, int):
            if size <= 0:
                raise ValueError(f"size must be positive, got {size}")
            size = (size, size)
        else:
            size = tuple(size)
            if len(size) != 2 or size[0] <= 0 or not (size[1] > 0 or size[1] == -1):
                raise ValueError(f"size must be an int, (h, w) or (s, -1), got {size!r}")
        if adaptive_side not in ("short", "long", "height", "width"):
            raise ValueError(f"adaptive_side must be short, long, height or width, got {adaptive_side!r}")
        _check_interpolation(interpolation)
        _check_backend(backend)
        self.size = size
        self.resize_w_short_side = size[1] == -1
        self.interpolation = interpolation
        self.backend = backend
        self.adaptive_side = adaptive_side

    def _target(self, h: int, w: int) -> tuple[int, int] | None:
        if not self.resize_w_short_side:
            return self.size
        target = self.size[0]
        already = {"short": min(h, w) == target, "long": max(h, w) == target,
                   "height": h == target, "width": w == target}
        if already[self.adaptive_side]:
            return None
        if ((self.adaptive_side == "short" and w < h) or (self.adaptive_side == "long" and w > h)
                or self.adaptive_side == "width"):
            return int(target * h / w), target
        return target, int(target * w / h)

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            old_height, old_width = img.shape[:2]
            target = self._target(old_height, old_width)
            if target is not None:
                height, width = target
                img = imresize(img, (width, height), self.interpolation)
                results[key] = img
                results["img_shape"] = img.shape
            # the keys seed section 7.1 lists for Resize (mmdet's names; nothing in MMCls reads them)
            w_scale, h_scale = img.shape[1] / old_width, img.shape[0] / old_height
            results["scale"] = (img.shape[1], img.shape[0])
            results["scale_idx"] = None
            results["scale_factor"] = np.array([w_scale, h_scale, w_scale, h_scale], dtype=np.float32)
            results["keep_ratio"] = self.resize_w_short_side
            results["pad_shape"] = img.shape
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, interpolation={self.interpolation})"


@TRANSFORMS.register()
class CenterCrop:
    """Crop the centre ``crop_size`` (int or ``(h, w)``); a smaller image is kept whole.

    With ``efficientnet_style``, crop a centred square of ``crop_size / (crop_size + crop_padding)`` of
    the short side, then resize it to ``crop_size``.

    Args:
        crop_size: Output size.
        efficientnet_style: EfficientNet's crop.
        crop_padding: Padding of the EfficientNet crop.
        interpolation: Resize interpolation of the EfficientNet crop.
        backend: 'cv2' or 'pillow'.
    """

    def __init__(self, crop_size: int | Sequence[int], efficientnet_style: bool = False, crop_padding: int = 32,
                 interpolation: str = "bilinear", backend: str = "cv2"):
        if efficientnet_style:
            if not isinstance(crop_size, int):
                raise ValueError("efficientnet_style needs an int crop_size")
            if crop_padding < 0:
                raise ValueError("crop_padding must be >= 0")
        _check_interpolation(interpolation)
        _check_backend(backend)
        self.crop_size = _to_size(crop_size)
        self.efficientnet_style = efficientnet_style
        self.crop_padding = crop_padding
        self.interpolation = interpolation
        self.backend = backend

    def __call__(self, results: dict) -> dict:
        crop_height, crop_width = self.crop_size
        for key in _image_keys(results):
            img = results[key]
            img_height, img_width = img.shape[:2]
            if self.efficientnet_style:
                side = int(round(crop_height / (crop_height + self.crop_padding) * min(img_height, img_width)))
                ch = cw = side
            else:
                ch, cw = crop_height, crop_width
            y1 = max(0, int(round((img_height - ch) / 2.0)))
            x1 = max(0, int(round((img_width - cw) / 2.0)))
            y2 = min(img_height, y1 + ch) - 1
            x2 = min(img_width, x1 + cw) - 1
            img = imcrop(img, (x1, y1, x2, y2))
            if self.efficientnet_style:
                img = imresize(img, (crop_width, crop_height), self.interpolation)
            results[key] = img
            results["img_shape"] = img.shape
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(crop_size={self.crop_size})"


@TRANSFORMS.register()
class RandomCrop:
    """Crop a random ``size`` window, after optional padding.

    Args:
        size: Output ``(h, w)`` or int.
        padding: Padding added first: int, ``(lr, tb)`` or ``(l, t, r, b)``.
        pad_if_needed: Pad an image smaller than ``size``.
        pad_val: Constant padding value (per channel allowed).
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, pad_val: float | Sequence[float] = 0, padding_mode: str = "constant"):
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}")
        self.size = _to_size(size)
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.pad_val = pad_val
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img: np.ndarray, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(ymin, xmin, height, width)`` of a random window."""
        height, width = img.shape[:2]
        target_height, target_width = output_size
        if width == target_width and height == target_height:
            return 0, 0, height, width
        ymin = int(np.random.randint(0, height - target_height + 1))
        xmin = int(np.random.randint(0, width - target_width + 1))
        return ymin, xmin, target_height, target_width

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            if self.padding is not None:
                img = impad(img, self.padding, self.pad_val, self.padding_mode)
            if self.pad_if_needed and img.shape[0] < self.size[0]:
                dy = self.size[0] - img.shape[0]
                img = impad(img, (0, dy, 0, dy), self.pad_val, self.padding_mode)
            if self.pad_if_needed and img.shape[1] < self.size[1]:
                dx = self.size[1] - img.shape[1]
                img = impad(img, (dx, 0, dx, 0), self.pad_val, self.padding_mode)
            if img.shape[0] < self.size[0] or img.shape[1] < self.size[1]:
                raise ValueError(f"RandomCrop size {self.size} is larger than the image {img.shape[:2]}; "
                                 "set pad_if_needed=True")
            ymin, xmin, height, width = self.get_params(img, self.size)
            img = imcrop(img, (xmin, ymin, xmin + width - 1, ymin + height - 1))
            results[key] = img
            results["img_shape"] = img.shape
            results["pad_shape"] = img.shape  # seed section 7.1: RandomCrop updates pad_shape
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


@TRANSFORMS.register()
class RandomResizedCrop:
    """Crop a random area and aspect ratio, then resize to ``size`` (Inception-style).

    Args:
        size: Output ``(h, w)`` or int.
        scale: Range of the crop's area as a fraction of the image.
        ratio: Range of the crop's aspect ratio (w/h), sampled log-uniformly.
        max_attempts: Tries before falling back to a central crop.
        efficientnet_style: TensorFlow EfficientNet's sampling (uniform aspect ratio, then height), whose
            fallback is a centre crop of ``size / (size + crop_padding)`` of the short side.
        min_covered: Smallest crop area fraction accepted in the EfficientNet style.
        crop_padding: Padding of the EfficientNet-style fallback crop.
        interpolation: Resize interpolation.
        backend: 'cv2' or 'pillow'.
    """

    def __init__(self, size: int | Sequence[int], scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0), max_attempts: int = 10,
                 efficientnet_style: bool = False, min_covered: float = 0.1, crop_padding: int = 32,
                 interpolation: str = "bilinear", backend: str = "cv2"):
        if efficientnet_style:
            if not isinstance(size, int):
                raise ValueError("efficientnet_style needs an int size")
            if min_covered < 0 or crop_padding < 0:
                raise ValueError("min_covered and crop_padding must be >= 0")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f"range should be of kind (min, max), got scale {scale} and ratio {ratio}")
        if max_attempts < 0:
            raise ValueError("max_attempts must be >= 0")
        _check_interpolation(interpolation)
        _check_backend(backend)
        self.size = _to_size(size)
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.max_attempts = max_attempts
        self.efficientnet_style = efficientnet_style
        self.min_covered = min_covered
        self.crop_padding = crop_padding
        self.interpolation = interpolation
        self.backend = backend

    @staticmethod
    def get_params_efficientnet_style(img: np.ndarray, size: tuple[int, int], scale, ratio, max_attempts: int = 10,
                                      min_covered: float = 0.1, crop_padding: int = 32) -> tuple[int, int, int, int]:
        """``(ymin, xmin, ymax, xmax)`` (inclusive) of a crop sampled as TensorFlow's EfficientNet code does."""
        height, width = img.shape[:2]
        area = height * width
        min_target_area, max_target_area = scale[0] * area, scale[1] * area
        for _ in range(max_attempts):
            aspect_ratio = np.random.uniform(*ratio)
            min_target_height = int(round(math.sqrt(min_target_area / aspect_ratio)))
            max_target_height = int(round(math.sqrt(max_target_area / aspect_ratio)))
            if max_target_height * aspect_ratio > width:
                max_target_height = int((width + 0.5 - 1e-7) / aspect_ratio)
                if max_target_height * aspect_ratio > width:
                    max_target_height -= 1
            max_target_height = min(max_target_height, height)
            min_target_height = min(max_target_height, min_target_height)
            target_height = int(round(np.random.uniform(min_target_height, max_target_height)))
            target_width = int(round(target_height * aspect_ratio))
            target_area = target_height * target_width
            if (target_area < min_target_area or target_area > max_target_area or target_width > width
                    or target_height > height or target_area < min_covered * area):
                continue
            ymin = int(np.random.randint(0, height - target_height + 1))
            xmin = int(np.random.randint(0, width - target_width + 1))
            return ymin, xmin, ymin + target_height - 1, xmin + target_width - 1
        crop = size[0] / (size[0] + crop_padding) * min(height, width)
        ymin = max(0, int(round((height - crop) / 2.0)))
        xmin = max(0, int(round((width - crop) / 2.0)))
        return ymin, xmin, ymin + int(crop) - 1, xmin + int(crop) - 1

    @staticmethod
    def get_params(img: np.ndarray, scale, ratio, max_attempts: int = 10) -> tuple[int, int, int, int]:
        """``(ymin, xmin, ymax, xmax)`` (inclusive) of a random crop."""
        height, width = img.shape[:2]
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(max_attempts):
            target_area = np.random.uniform(*scale) * area
            aspect_ratio = math.exp(np.random.uniform(*log_ratio))
            target_width = int(round(math.sqrt(target_area * aspect_ratio)))
            target_height = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < target_width <= width and 0 < target_height <= height:
                ymin = int(np.random.randint(0, height - target_height + 1))
                xmin = int(np.random.randint(0, width - target_width + 1))
                return ymin, xmin, ymin + target_height - 1, xmin + target_width - 1
        # fall back to a central crop
        in_ratio = width / height
        if in_ratio < min(ratio):
            target_width, target_height = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            target_height, target_width = height, int(round(height * max(ratio)))
        else:
            target_width, target_height = width, height
        ymin = max(0, int(round((height - target_height) / 2.0)))
        xmin = max(0, int(round((width - target_width) / 2.0)))
        return ymin, xmin, ymin + target_height - 1, xmin + target_width - 1

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            if self.efficientnet_style:
                ymin, xmin, ymax, xmax = self.get_params_efficientnet_style(
                    img, self.size, self.scale, self.ratio, self.max_attempts, self.min_covered, self.crop_padding)
            else:
                ymin, xmin, ymax, xmax = self.get_params(img, self.scale, self.ratio, self.max_attempts)
            img = imcrop(img, (xmin, ymin, xmax, ymax))
            img = imresize(img, (self.size[1], self.size[0]), self.interpolation)
            results[key] = img
            results["img_shape"] = img.shape
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio})"


@TRANSFORMS.register()
class RandomFlip:
    """Flip with probability ``flip_prob``; adds ``flip`` and ``flip_direction``.

    Args:
        flip_prob: Probability of flipping.
        direction: 'horizontal', 'vertical' or 'diagonal'.
    """

    def __init__(self, flip_prob: float = 0.5, direction: str = "horizontal"):
        if not 0 <= flip_prob <= 1:
            raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}")
        if direction not in ("horizontal", "vertical", "diagonal"):
            raise ValueError(f"direction must be horizontal, vertical or diagonal, got {direction!r}")
        self.flip_prob = flip_prob
        self.direction = direction

    def __call__(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.flip_prob)
        results["flip"] = flip
        results["flip_direction"] = self.direction
        if flip:
            for key in _image_keys(results):
                results[key] = imflip(results[key], self.direction)
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(flip_prob={self.flip_prob})"


@TRANSFORMS.register()
class Normalize:
    """``(img - mean) / std`` per channel, after BGR->RGB when ``to_rgb``; adds ``img_norm_cfg``.

    Args:
        mean: Channel means.
        std: Channel standard deviations.
        to_rgb: Reverse the channel order first (images are loaded BGR).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True):
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.to_rgb = to_rgb

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            results[key] = imnormalize(results[key], self.mean, self.std, self.to_rgb)
        results["img_norm_cfg"] = {"mean": self.mean, "std": self.std, "to_rgb": self.to_rgb}
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mean={self.mean.tolist()}, std={self.std.tolist()}, to_rgb={self.to_rgb})"


@TRANSFORMS.register()
class Pad:
    """Pad at the bottom and right to ``size`` ``(h, w)``, or to a square of the long side.

    Args:
        size: Target ``(h, w)``; exclusive with ``pad_to_square``.
        pad_to_square: Pad to ``max(h, w)`` on both sides.
        pad_val: Constant fill value (per channel allowed).
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.
    """

    def __init__(self, size: Sequence[int] | None = None, pad_to_square: bool = False,
                 pad_val: float | Sequence[float] = 0, padding_mode: str = "constant"):
        if (size is None) == (not pad_to_square):
            raise ValueError("only one of size and pad_to_square should be valid")
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}")
        self.size = None if size is None else _to_size(size)
        self.pad_to_square = pad_to_square
        self.pad_val = pad_val
        self.padding_mode = padding_mode

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            height, width = img.shape[:2]
            target = (max(height, width),) * 2 if self.pad_to_square else self.size
            if target[0] < height or target[1] < width:
                raise ValueError(f"Pad size {target} is smaller than the image {(height, width)}")
            img = impad(img, (0, 0, target[1] - width, target[0] - height), self.pad_val, self.padding_mode)
            results[key] = img
            results["img_shape"] = img.shape
            results["pad_shape"] = img.shape
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(size={self.size}, pad_to_square={self.pad_to_square}, "
                f"pad_val={self.pad_val}, padding_mode={self.padding_mode})")


@TRANSFORMS.register()
class RandomGrayscale:
    """With probability ``gray_prob``, replace every channel by the luma (the channel count stays).

    Args:
        gray_prob: Probability of converting.
    """

    def __init__(self, gray_prob: float = 0.1):
        if not 0 <= gray_prob <= 1:
            raise ValueError(f"gray_prob must be in [0, 1], got {gray_prob}")
        self.gray_prob = gray_prob

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            if img.ndim == 3 and img.shape[2] > 1 and np.random.rand() < self.gray_prob:
                # mmcv.rgb2gray weighs the first channel as red (cv2.COLOR_RGB2GRAY), whatever the order
                gray = F.bgr2gray(img[..., 2::-1])
                results[key] = np.repeat(gray[..., None], img.shape[2], axis=2)
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(gray_prob={self.gray_prob})"


@TRANSFORMS.register()
class RandomErasing:
    """Random Erasing (Zhong et al., arXiv 1708.04896): fill a random box with a colour or noise.

    The box's area is ``U(min_area_ratio, max_area_ratio)`` of the image and its aspect ratio (h/w)
    log-uniform in ``aspect_range``.

    Args:
        erase_prob: Probability of erasing.
        min_area_ratio: Smallest box area fraction.
        max_area_ratio: Largest box area fraction.
        aspect_range: Aspect ratio range, or one value ``r`` for ``(r, 1/r)``.
        mode: 'const' fills ``fill_color``; 'rand' fills noise: ``N(fill_color, fill_std)`` or, without
            ``fill_std``, uniform in [0, 255].
        fill_color: Fill colour (image channel order).
        fill_std: Per-channel noise deviation in 'rand' mode.
    """

    def __init__(self, erase_prob: float = 0.5, min_area_ratio: float = 0.02, max_area_ratio: float = 0.4,
                 aspect_range: float | Sequence[float] = (3 / 10, 10 / 3), mode: str = "const",
                 fill_color: Sequence[float] = (128, 128, 128), fill_std: Sequence[float] | float | None = None):
        if not 0 <= erase_prob <= 1:
            raise ValueError(f"erase_prob must be in [0, 1], got {erase_prob}")
        if not 0 <= min_area_ratio <= max_area_ratio <= 1:
            raise ValueError("need 0 <= min_area_ratio <= max_area_ratio <= 1, got "
                             f"{min_area_ratio} and {max_area_ratio}")
        if isinstance(aspect_range, (int, float)):
            if aspect_range <= 0:
                raise ValueError("aspect_range must be positive")
            aspect_range = (min(aspect_range, 1 / aspect_range), max(aspect_range, 1 / aspect_range))
        if len(aspect_range) != 2 or not 0 < aspect_range[0] <= aspect_range[1]:
            raise ValueError(f"aspect_range must be (min, max) with 0 < min <= max, got {aspect_range}")
        if mode not in ("const", "rand"):
            raise ValueError(f"Please select `mode` from ['const', 'rand'], got {mode!r}")
        self.erase_prob = erase_prob
        self.min_area_ratio = min_area_ratio
        self.max_area_ratio = max_area_ratio
        self.aspect_range = tuple(aspect_range)
        self.mode = mode
        self.fill_color = tuple(fill_color) if isinstance(fill_color, Sequence) else (fill_color,) * 3
        self.fill_std = fill_std

    def _patch(self, shape: tuple, dtype) -> np.ndarray:
        if self.mode == "const":
            patch = np.broadcast_to(np.asarray(self.fill_color[:shape[-1]], dtype=np.float32), shape)
        elif self.fill_std is None:
            patch = np.random.uniform(0, 256, shape)
        else:
            patch = np.random.normal(self.fill_color[:shape[-1]], self.fill_std, shape)
        if np.issubdtype(dtype, np.integer):
            patch = np.clip(patch.astype(np.int32), 0, 255)
        return patch.astype(dtype)

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            if np.random.rand() > self.erase_prob:
                continue
            img = results[key]
            img_h, img_w = img.shape[:2]
            aspect = np.exp(np.random.uniform(*np.log(np.array(self.aspect_range, dtype=np.float32))))
            area = img_h * img_w * np.random.uniform(self.min_area_ratio, self.max_area_ratio)
            h = min(int(round(np.sqrt(area * aspect))), img_h)
            w = min(int(round(np.sqrt(area / aspect))), img_w)
            top = np.random.randint(0, img_h - h) if img_h > h else 0
            left = np.random.randint(0, img_w - w) if img_w > w else 0
            img = img.copy()
            channels = (1,) if img.ndim == 2 else (img.shape[2],)
            patch = self._patch((h, w) + channels, img.dtype)
            img[top:top + h, left:left + w] = patch[..., 0] if img.ndim == 2 else patch
            results[key] = img
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(erase_prob={self.erase_prob}, min_area_ratio={self.min_area_ratio}, "
                f"max_area_ratio={self.max_area_ratio}, aspect_range={self.aspect_range}, mode={self.mode}, "
                f"fill_color={self.fill_color}, fill_std={self.fill_std})")


@TRANSFORMS.register()
class ColorJitter:
    """Change brightness, contrast and saturation by random factors, in random order.

    As MMCls 0.25: each factor is ``1 +/- U(0, value)`` (sign drawn with probability 0.5), applied by
    the Brightness, Contrast and ColorTransform operations; hue is not jittered.

    Args:
        brightness: Largest brightness change.
        contrast: Largest contrast change.
        saturation: Largest saturation change.
    """

    def __init__(self, brightness: float, contrast: float, saturation: float):
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation

    def __call__(self, results: dict) -> dict:
        ops = [
            (F.adjust_brightness, np.random.uniform(0, self.brightness)),
            (F.adjust_contrast, np.random.uniform(0, self.contrast)),
            (F.adjust_color, np.random.uniform(0, self.saturation)),
        ]
        ops = [(fn, -m if np.random.rand() < 0.5 else m) for fn, m in ops]
        for i in np.random.permutation(len(ops)):
            fn, magnitude = ops[i]
            for key in _image_keys(results):
                results[key] = fn(results[key], 1 + magnitude)
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation})")


@TRANSFORMS.register()
class Lighting:
    """AlexNet-style PCA lighting noise (Krizhevsky et al. 2012, section 4.1); the image becomes float32.

    Args:
        eigval: Eigenvalues of the RGB covariance.
        eigvec: Eigenvectors, 3xN (one per column).
        alphastd: Deviation of the noise weights.
        to_rgb: Reverse BGR to RGB first (the eigenvectors are in RGB).
    """

    def __init__(self, eigval: Sequence[float], eigvec: Sequence[Sequence[float]], alphastd: float = 0.1,
                 to_rgb: bool = True):
        self.eigval = np.array(eigval, dtype=np.float32)
        self.eigvec = np.array(eigvec, dtype=np.float32)
        if self.eigvec.shape != (3, self.eigval.size):
            raise ValueError(f"eigvec must be 3x{self.eigval.size}, got {self.eigvec.shape}")
        self.alphastd = alphastd
        self.to_rgb = to_rgb

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            results[key] = F.adjust_lighting(results[key], self.eigval, self.eigvec, self.alphastd, self.to_rgb)
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(eigval={self.eigval.tolist()}, eigvec={self.eigvec.tolist()}, "
                f"alphastd={self.alphastd}, to_rgb={self.to_rgb})")


@TRANSFORMS.register()
class Albu:
    """Albumentations transforms on ``img`` (https://albumentations.ai); needs ``albumentations`` installed.

    Args:
        transforms: Configs whose ``type`` names an ``albumentations`` class (nested ``transforms`` of
            ``OneOf`` etc. allowed).
        keymap: Result key -> albumentations key; default ``{'img': 'image'}``.
        update_pad_shape: Also set ``pad_shape`` to the new image shape.
    """

    def __init__(self, transforms: Sequence[dict], keymap: dict | None = None, update_pad_shape: bool = False):
        try:
            import albumentations
        except ImportError as error:
            raise ImportError("Albu needs albumentations, which is not installed: pip install albumentations") \
                from error
        self._albu = albumentations
        self.transforms = copy.deepcopy(list(transforms))
        self.keymap = dict(keymap) if keymap is not None else {"img": "image"}
        self.update_pad_shape = update_pad_shape
        self.aug = albumentations.Compose([self._build(t) for t in self.transforms])

    def _build(self, cfg: dict):
        args = dict(cfg)
        name = args.pop("type")
        if not hasattr(self._albu, name):
            raise ValueError(f"albumentations has no transform {name!r}")
        if "transforms" in args:
            args["transforms"] = [self._build(t) for t in args["transforms"]]
        return getattr(self._albu, name)(**args)

    def __call__(self, results: dict) -> dict:
        inputs = {albu_key: results[key] for key, albu_key in self.keymap.items() if key in results}
        outputs = self.aug(**inputs)
        for key, albu_key in self.keymap.items():
            if albu_key in outputs:
                results[key] = outputs[albu_key]
        results["img_shape"] = results["img"].shape
        if self.update_pad_shape:
            results["pad_shape"] = results["img"].shape
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(transforms={self.transforms})"
