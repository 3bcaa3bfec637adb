"""Pre-processing transforms with MMClassification 0.25's names, arguments and result keys (seed 7.1.2).

Images are HxW or HxWxC numpy arrays (BGR from the loader). Each transform gives what MMCls 0.25's gives
(mmcv 1.7's OpenCV calls: :mod:`workers.data.transforms.functional`) and draws its random numbers from
the same generators in the same order (Python's ``random`` for the crops, ``RandomGrayscale`` and
``ColorJitter``'s factors; ``numpy.random`` for flips, erasing and lighting), so that a seeded run draws the
same crops as MMCls. Crops and flips are views; the formatting step copies once. ``backend='pillow'``
(``Resize``, ``CenterCrop``, ``RandomResizedCrop``) resizes with Pillow instead of OpenCV.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Sequence
from numbers import Number

import numpy as np

from workers.data.transforms import functional as F
from workers.data.transforms.auto_augment import Brightness, ColorTransform, Contrast
from workers.data.transforms.functional import imcrop, imflip, impad, imresize
from workers.data.transforms.normalize import Normalize, imnormalize  # noqa: F401  (moved; re-exported)
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

_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


_IMG_FIELDS = ("img",)


def _image_keys(results: dict) -> list[str]:
    return results.get("img_fields", _IMG_FIELDS)


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
    named by ``adaptive_side`` ('short', 'long', 'height' or 'width') becomes ``s``, keeping the ratio
    (the other side truncated, as MMCls), and leaves an image whose side is already ``s`` untouched.

    Args:
        size: Target size.
        interpolation: 'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos' for ``'cv2'``;
            'nearest', 'bilinear', 'bicubic', 'box', 'lanczos' or 'hamming' for ``'pillow'``.
        backend: 'cv2' (``cv2.resize``, MMCls's default) or 'pillow'.
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
        F.check_interpolation(interpolation, backend)
        self.size = size
        self.resize_w_short_side = size[1] == -1
        self.interpolation = interpolation
        self.backend = backend
        self.adaptive_side = adaptive_side

    def _target(self, h: int, w: int) -> tuple[int, int] | None:
        if not self.resize_w_short_side:
            return self.size
        target, side = self.size[0], self.adaptive_side
        if side == "short":
            if min(h, w) == target:
                return None
            by_width = w < h
        elif side == "long":
            if max(h, w) == target:
                return None
            by_width = w > h
        else:
            if (h if side == "height" else w) == target:
                return None
            by_width = side == "width"
        return (int(target * h / w), target) if by_width else (target, int(target * w / h))

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            old_height, old_width = img.shape[:2]
            target = self._target(old_height, old_width)
            if target is not None:
                height, width = target
                img = imresize(img, (width, height), self.interpolation, self.backend)
                results[key] = img
                results["img_shape"] = img.shape
            # the keys seed section 7.1 lists for Resize (mmdet's names; nothing in MMCls reads them)
            shape = img.shape
            w_scale, h_scale = shape[1] / old_width, shape[0] / old_height
            results["scale"] = (shape[1], shape[0])
            results["scale_idx"] = None
            results["scale_factor"] = np.array((w_scale, h_scale, w_scale, h_scale), dtype=np.float32)
            results["keep_ratio"] = self.resize_w_short_side
            results["pad_shape"] = shape
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(size={self.size}, interpolation={self.interpolation}, "
                f"backend={self.backend})")


@TRANSFORMS.register()
class CenterCrop:
    """Crop the centre ``crop_size`` (int or ``(h, w)``); a smaller image is kept whole.

    With ``efficientnet_style`` (TensorFlow's EfficientNet evaluation crop), crop a centred square of
    ``crop_size / (crop_size + crop_padding)`` of the short side, then resize it to ``crop_size``.

    Args:
        crop_size: Output size.
        efficientnet_style: EfficientNet's crop.
        crop_padding: Padding of the EfficientNet crop.
        interpolation: Resize interpolation of the EfficientNet crop.
        backend: 'cv2' or 'pillow', for that resize.
    """

    def __init__(self, crop_size: int | Sequence[int], efficientnet_style: bool = False, crop_padding: int = 32,
                 interpolation: str = "bilinear", backend: str = "cv2"):
        if efficientnet_style:
            if not isinstance(crop_size, int):
                raise ValueError("efficientnet_style needs an int crop_size")
            if crop_padding < 0:
                raise ValueError("crop_padding must be >= 0")
            F.check_interpolation(interpolation, backend)
        self.crop_size = _to_size(crop_size)
        if min(self.crop_size) <= 0:
            raise ValueError(f"crop_size must be positive, got {crop_size!r}")
        self.efficientnet_style = efficientnet_style
        self.crop_padding = crop_padding
        self.interpolation = interpolation
        self.backend = backend

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            img_height, img_width = img.shape[:2]
            crop_height, crop_width = self.crop_size
            if self.efficientnet_style:
                # fractional sizes, as MMCls: the box's far edge is truncated when cropping
                short = min(img_height, img_width)
                crop_height = crop_height / (crop_height + self.crop_padding) * short
                crop_width = crop_width / (crop_width + self.crop_padding) * short
            y1 = max(0, int(round((img_height - crop_height) / 2.0)))
            x1 = max(0, int(round((img_width - crop_width) / 2.0)))
            y2 = min(img_height, y1 + crop_height) - 1
            x2 = min(img_width, x1 + crop_width) - 1
            img = imcrop(img, (x1, y1, x2, y2))
            if self.efficientnet_style:
                img = imresize(img, self.crop_size[::-1], self.interpolation, self.backend)
            results[key] = img
            results["img_shape"] = img.shape
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(crop_size={self.crop_size}, efficientnet_style={self.efficientnet_style}, "
                f"crop_padding={self.crop_padding}, interpolation={self.interpolation}, backend={self.backend})")


@TRANSFORMS.register()
class RandomCrop:
    """Crop a random ``size`` window, after optional padding.

    As MMCls 0.25, ``padding`` pads with the constant ``pad_val`` whatever ``padding_mode`` says;
    ``padding_mode`` applies to the ``pad_if_needed`` padding. The window's corner is drawn with Python's
    ``random.randint`` (rows first).

    Args:
        size: Output ``(h, w)`` or int.
        padding: Padding added first: int, ``(lr, tb)`` or ``(l, t, r, b)``.
        pad_if_needed: Pad an image smaller than ``size`` (on both sides).
        pad_val: Constant padding value, one per channel; a single number fills the first channel only
            and zeros the others, as in MMCls (OpenCV's scalar).
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, pad_val: float | Sequence[float] = 0, padding_mode: str = "constant"):
        if padding_mode not in _PADDING_MODES:
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
        ymin = random.randint(0, height - target_height)
        xmin = random.randint(0, width - target_width)
        return ymin, xmin, target_height, target_width

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            if self.padding is not None:
                img = impad(img, padding=self.padding, pad_val=self.pad_val)
            if self.pad_if_needed and img.shape[0] < self.size[0]:
                dy = self.size[0] - img.shape[0]
                img = impad(img, padding=(0, dy, 0, dy), pad_val=self.pad_val, padding_mode=self.padding_mode)
            if self.pad_if_needed and img.shape[1] < self.size[1]:
                dx = self.size[1] - img.shape[1]
                img = impad(img, padding=(dx, 0, dx, 0), pad_val=self.pad_val, padding_mode=self.padding_mode)
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
    """Crop a random area and aspect ratio, then resize to ``size`` (Inception-style, Szegedy et al. 2015).

    The area fraction is ``U(scale)``, the aspect ratio (w/h) log-uniform in ``ratio``, the corner
    uniform: all from Python's ``random``, in MMCls's order. After ``max_attempts`` misses, a centre crop.

    Args:
        size: Output ``(h, w)`` or int.
        scale: Range of the crop's area as a fraction of the image.
        ratio: Range of the crop's aspect ratio (w/h).
        max_attempts: Tries before falling back to a central crop.
        efficientnet_style: TensorFlow EfficientNet's sampling (uniform aspect ratio, then height), whose
            fallback is a centre crop of ``size / (size + crop_padding)`` of the short side.
        min_covered: Smallest crop area fraction accepted in the EfficientNet style.
        crop_padding: Padding of the EfficientNet-style fallback crop.
        interpolation: Resize interpolation.
        backend: 'cv2' or 'pillow', for the resize.
    """

    def __init__(self, size: int | Sequence[int], scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0), max_attempts: int = 10,
                 efficientnet_style: bool = False, min_covered: float = 0.1, crop_padding: int = 32,
                 interpolation: str = "bilinear", backend: str = "cv2"):
        if efficientnet_style:
            if not isinstance(size, int):
                raise ValueError("efficientnet_style needs an int size")
            if crop_padding < 0:
                raise ValueError("crop_padding must be >= 0")
        if min_covered < 0:
            raise ValueError("min_covered should be no less than 0.")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f"range should be of kind (min, max), got scale {scale} and ratio {ratio}")
        if not isinstance(max_attempts, int) or max_attempts < 0:
            raise ValueError("max_attempts must be an int >= 0")
        F.check_interpolation(interpolation, backend)
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
            aspect_ratio = random.uniform(*ratio)
            min_target_height = int(round(math.sqrt(min_target_area / aspect_ratio)))
            max_target_height = int(round(math.sqrt(max_target_area / aspect_ratio)))
            if max_target_height * aspect_ratio > width:
                max_target_height = int((width + 0.5 - 1e-7) / aspect_ratio)
                if max_target_height * aspect_ratio > width:
                    max_target_height -= 1
            max_target_height = min(max_target_height, height)
            min_target_height = min(max_target_height, min_target_height)
            target_height = int(round(random.uniform(min_target_height, max_target_height)))
            target_width = int(round(target_height * aspect_ratio))
            target_area = target_height * target_width
            if (target_area < min_target_area or target_area > max_target_area or target_width > width
                    or target_height > height or target_area < min_covered * area):
                continue
            ymin = random.randint(0, height - target_height)
            xmin = random.randint(0, width - target_width)
            return ymin, xmin, ymin + target_height - 1, xmin + target_width - 1
        crop = size[0] / (size[0] + crop_padding) * min(height, width)
        ymin = max(0, int(round((height - crop) / 2.0)))
        xmin = max(0, int(round((width - crop) / 2.0)))
        # MMCls keeps the far edges fractional and its crop truncates them: the same box
        return ymin, xmin, int(min(height, ymin + crop) - 1), int(min(width, xmin + crop) - 1)

    @staticmethod
    def get_params(img: np.ndarray, scale, ratio, max_attempts: int = 10) -> tuple[int, int, int, int]:
        """``(ymin, xmin, ymax, xmax)`` (inclusive) of a random crop."""
        height, width = img.shape[:2]
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(max_attempts):
            target_area = random.uniform(*scale) * area
            aspect_ratio = math.exp(random.uniform(*log_ratio))
            target_width = int(round(math.sqrt(target_area * aspect_ratio)))
            target_height = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < target_width <= width and 0 < target_height <= height:
                ymin = random.randint(0, height - target_height)
                xmin = random.randint(0, width - target_width)
                return ymin, xmin, ymin + target_height - 1, xmin + target_width - 1
        # fall back to a central crop
        in_ratio = width / height
        if in_ratio < min(ratio):
            target_width, target_height = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            target_height, target_width = height, int(round(height * max(ratio)))
        else:
            target_width, target_height = width, height
        ymin = (height - target_height) // 2
        xmin = (width - target_width) // 2
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
            img = imresize(img, (self.size[1], self.size[0]), self.interpolation, self.backend)
            results[key] = img
            results["img_shape"] = img.shape
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio}, "
                f"interpolation={self.interpolation}, backend={self.backend})")


@TRANSFORMS.register()
class RandomFlip:
    """Flip with probability ``flip_prob`` (``np.random.rand() < flip_prob``); adds ``flip`` and
    ``flip_direction``. The flipped image is a view; the formatting step copies it.

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
        return f"{self.__class__.__name__}(flip_prob={self.flip_prob}, direction={self.direction})"


@TRANSFORMS.register()
class Pad:
    """Pad at the bottom and right to ``size`` ``(h, w)``, or to a square of the long side (a side that is
    already longer stays as it is).

    Args:
        size: Target ``(h, w)``; exclusive with ``pad_to_square``.
        pad_to_square: Pad to ``max(h, w)`` on both sides.
        pad_val: Constant fill value, one per channel; a single number fills the first channel only and
            zeros the others, as in MMCls (OpenCV's scalar).
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.
    """

    def __init__(self, size: Sequence[int] | None = None, pad_to_square: bool = False,
                 pad_val: float | Sequence[float] = 0, padding_mode: str = "constant"):
        if (size is None) == (not pad_to_square):
            raise ValueError("only one of size and pad_to_square should be valid")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}")
        self.size = None if size is None else _to_size(size)
        self.pad_to_square = pad_to_square
        self.pad_val = pad_val
        self.padding_mode = padding_mode

    def __call__(self, results: dict) -> dict:
        for key in _image_keys(results):
            img = results[key]
            target = (max(img.shape[:2]),) * 2 if self.pad_to_square else self.size
            img = impad(img, shape=target, pad_val=self.pad_val, padding_mode=self.padding_mode)
            results[key] = img
            results["img_shape"] = img.shape
            results["pad_shape"] = img.shape
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(size={self.size}, pad_to_square={self.pad_to_square}, "
                f"pad_val={self.pad_val}, padding_mode={self.padding_mode})")


@TRANSFORMS.register()
class RandomGrayscale:
    """With probability ``gray_prob`` (Python's ``random.random()``), replace every channel by the luma,
    weighing the first channel as red (``mmcv.rgb2gray``, whatever the order); the channel count stays.

    As MMCls 0.25, the first image field turned grey ends the step (later fields draw nothing).

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
            channels = 1 if img.ndim == 2 else img.shape[2]
            if random.random() < self.gray_prob and channels > 1:
                results[key] = F.gray2bgr(F.rgb2gray(img), channels)
                return results
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(gray_prob={self.gray_prob})"


@TRANSFORMS.register()
class RandomErasing:
    """Random Erasing (Zhong et al., arXiv 1708.04896): fill a random box with a colour or noise.

    The box's area is ``U(min_area_ratio, max_area_ratio)`` of the image and its aspect ratio (h/w)
    log-uniform in ``aspect_range``; all draws from ``numpy.random`` in MMCls's order. The fill is uint8
    (noise truncated), as MMCls's.

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
                 fill_color: Sequence[float] | float = (128, 128, 128),
                 fill_std: Sequence[float] | float | None = None):
        if not 0 <= erase_prob <= 1:
            raise ValueError(f"erase_prob must be in [0, 1], got {erase_prob}")
        if not 0 <= min_area_ratio <= max_area_ratio <= 1:
            raise ValueError("need 0 <= min_area_ratio <= max_area_ratio <= 1, got "
                             f"{min_area_ratio} and {max_area_ratio}")
        if isinstance(aspect_range, Number):
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
        self.fill_std = [fill_std] * 3 if isinstance(fill_std, Number) else fill_std

    def _patch(self, h: int, w: int, channels: int) -> np.ndarray:
        shape = (h, w, 3 if channels in (1, 3) else channels)
        if self.mode == "const":
            patch = np.empty(shape, dtype=np.uint8)
            patch[:] = np.asarray(self.fill_color[:shape[2]]).astype(np.uint8)
        elif self.fill_std is None:
            patch = np.random.uniform(0, 256, shape).astype(np.uint8)
        else:
            patch = np.random.normal(self.fill_color[:shape[2]], self.fill_std[:shape[2]], shape)
            patch = np.clip(patch.astype(np.int32), 0, 255).astype(np.uint8)
        return patch[..., :1] if channels == 1 else patch

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
            channels = 1 if img.ndim == 2 else img.shape[2]
            patch = self._patch(h, w, channels)
            img = img.copy()  # MMCls writes into the image it was given; a copy keeps the input as it was
            img[top:top + h, left:left + w] = patch.reshape(patch.shape[:2]) if img.ndim == 2 else patch
            results[key] = img
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(erase_prob={self.erase_prob}, min_area_ratio={self.min_area_ratio}, "
                f"max_area_ratio={self.max_area_ratio}, aspect_range={self.aspect_range}, mode={self.mode}, "
                f"fill_color={self.fill_color}, fill_std={self.fill_std})")


@TRANSFORMS.register()
class ColorJitter:
    """Change brightness, contrast and saturation by random factors, in random order (MMCls 0.25's).

    Each factor is ``1 +/- U(0, value)``: the three magnitudes from Python's ``random.uniform``, the
    order from ``random.shuffle``, then the ``Brightness``, ``Contrast`` and ``ColorTransform``
    operations (probability 1, sign negated with probability 0.5 by ``numpy.random``). Hue is not
    jittered.

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
        ops = [Brightness(random.uniform(0, self.brightness), prob=1.0, random_negative_prob=0.5),
               Contrast(random.uniform(0, self.contrast), prob=1.0, random_negative_prob=0.5),
               ColorTransform(random.uniform(0, self.saturation), prob=1.0, random_negative_prob=0.5)]
        random.shuffle(ops)
        for op in ops:
            results = op(results)
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
        self.eigval = np.array(eigval, dtype=np.float64)  # three numbers, combined as MMCls does
        self.eigvec = np.array(eigvec, dtype=np.float64)
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
