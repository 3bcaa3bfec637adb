"""AutoAugment, RandAugment and the policy operations they sample from (seed section 60.2.12).

Names and arguments follow MMCls 0.25's ``mmcls/datasets/pipelines/auto_augment.py``; each operation
fires with probability ``prob`` and, where it has a signed magnitude, negates it with probability
``random_negative_prob``. ``hparams`` (default ``pad_val=128``) fill the arguments a policy leaves out,
only for operations that take them. The operations compute with mmcv 1.7's arithmetic (see
:mod:`workers.data.transforms.functional`), so they give MMCls's images. Random numbers come from the
generators MMCls uses, in its order: Python's ``random`` picks AutoAugment's policy and RandAugment's
operations and magnitudes; ``numpy.random`` decides whether an operation fires and its sign.
"""

from __future__ import annotations

import copy
import inspect
import math
import random
from collections.abc import Sequence
from numbers import Number

import numpy as np

from workers.data.transforms import functional as F
from workers.data.transforms.compose import Compose
from workers.registry import TRANSFORMS

__all__ = [
    "AutoAugment",
    "AutoContrast",
    "Brightness",
    "ColorTransform",
    "Contrast",
    "Cutout",
    "Equalize",
    "Invert",
    "Posterize",
    "RandAugment",
    "Rotate",
    "Sharpness",
    "Shear",
    "Solarize",
    "SolarizeAdd",
    "Translate",
    "merge_hparams",
    "random_negative",
]

_HPARAMS_DEFAULT = {"pad_val": 128}


def random_negative(value: float, random_negative_prob: float) -> float:
    """``-value`` with probability ``random_negative_prob``, else ``value``."""
    return -value if np.random.rand() < random_negative_prob else value


def merge_hparams(policy: dict, hparams: dict) -> dict:
    """Copy of ``policy`` with each of ``hparams`` it leaves unset (or ``None``) and its operation accepts."""
    policy = dict(policy)
    accepted = inspect.signature(TRANSFORMS.get(policy["type"]).__init__).parameters
    for key, value in hparams.items():
        if policy.get(key) is None and key in accepted:
            policy[key] = value
    return policy


_IMG_FIELDS = ("img",)


def _image_keys(results: dict) -> list[str]:
    return results.get("img_fields", _IMG_FIELDS)


def _check_prob(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} should be in range [0,1], got {value} instead.")


def _check_magnitude(magnitude) -> None:
    if not isinstance(magnitude, (int, float)) or isinstance(magnitude, bool):
        raise TypeError(f"The magnitude type must be int or float, but got {type(magnitude).__name__} instead.")


def _pad_val(pad_val) -> tuple:
    if isinstance(pad_val, (int, float)):
        return (pad_val,) * 3
    if isinstance(pad_val, Sequence) and len(pad_val) == 3:
        return tuple(pad_val)
    raise TypeError(f"pad_val must be a number or a sequence of 3, got {pad_val!r}")


@TRANSFORMS.register()
class AutoAugment:
    """AutoAugment (Cubuk et al., arXiv 1805.09501): apply one policy chosen at random per image.

    Args:
        policies: Non-empty list of policies; each a non-empty list of operation configs applied in turn.
        hparams: Defaults for the operations' arguments the policies leave unset.
    """

    def __init__(self, policies: Sequence[Sequence[dict]], hparams: dict = _HPARAMS_DEFAULT):
        if not isinstance(policies, (list, tuple)) or not policies:
            raise ValueError("Policies must be a non-empty list.")
        for policy in policies:
            if not isinstance(policy, (list, tuple)) or not policy:
                raise ValueError("Each policy in policies must be a non-empty list.")
            for augment in policy:
                if not isinstance(augment, dict) or "type" not in augment:
                    raise ValueError('Each specific augmentation must be a dict with key "type".')
        self.hparams = dict(hparams)
        self.policies = [[merge_hparams(op, self.hparams) for op in policy] for policy in copy.deepcopy(policies)]
        self.sub_policy = [Compose(policy) for policy in self.policies]

    def __call__(self, results: dict) -> dict:
        return random.choice(self.sub_policy)(results)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(policies={self.policies})"


@TRANSFORMS.register()
class RandAugment:
    """RandAugment (Cubuk et al., arXiv 1909.13719): ``num_policies`` operations drawn with replacement.

    A policy with ``magnitude_key`` gets that argument set to
    ``magnitude_level / total_level * (val2 - val1) + val1`` for ``magnitude_range=(val1, val2)``.

    Args:
        policies: Operation configs; those with a magnitude name it in ``magnitude_key`` and give
            ``magnitude_range``.
        num_policies: Operations applied to each image.
        magnitude_level: Shared magnitude level, in ``[0, total_level]``.
        magnitude_std: Noise on the level: a positive number samples ``N(level, std)`` clipped to
            ``[0, total_level]``; ``'inf'`` samples ``U(0, level)``; 0 keeps it fixed (timm's variant).
        total_level: Level that maps to ``val2``.
        hparams: Defaults for the operations' arguments the policies leave unset.
    """

    def __init__(self, policies: Sequence[dict], num_policies: int, magnitude_level: float,
                 magnitude_std: float | str = 0.0, total_level: float = 30, hparams: dict = _HPARAMS_DEFAULT):
        if not isinstance(num_policies, int) or num_policies <= 0:
            raise ValueError(f"num_policies must be a positive int, got {num_policies!r}")
        if not isinstance(magnitude_level, (int, float)) or magnitude_level < 0:
            raise ValueError(f"magnitude_level must be a number >= 0, got {magnitude_level!r}")
        if not isinstance(total_level, (int, float)) or total_level <= 0:
            raise ValueError(f"total_level must be a number > 0, got {total_level!r}")
        if not (isinstance(magnitude_std, Number) or magnitude_std == "inf"):
            raise ValueError(f'Magnitude std must be of number or "inf", got {magnitude_std!r} instead.')
        if not isinstance(policies, (list, tuple)) or not policies:
            raise ValueError("Policies must be a non-empty list.")
        for policy in policies:
            if not isinstance(policy, dict) or "type" not in policy:
                raise ValueError('Each policy must be a dict with key "type".')
            if policy.get("magnitude_key") is not None:
                magnitude_range = policy.get("magnitude_range")
                if not (isinstance(magnitude_range, Sequence) and len(magnitude_range) == 2):
                    raise ValueError(f"RandAugment policy {policy['type']} needs `magnitude_range`, "
                                     "a sequence of two numbers.")
        self.num_policies = num_policies
        self.magnitude_level = magnitude_level
        self.magnitude_std = magnitude_std
        self.total_level = total_level
        self.hparams = dict(hparams)
        self.policies = [merge_hparams(policy, self.hparams) for policy in copy.deepcopy(policies)]
        # build each operation once with its range's end point, to fail on bad configs now, not in a worker
        for policy in self.policies:
            self._resolve(policy, self.total_level)

    def _level(self) -> float:
        level = self.magnitude_level
        if self.magnitude_std == "inf":
            return random.uniform(0, level)
        if self.magnitude_std > 0:
            return min(self.total_level, max(0, random.gauss(level, self.magnitude_std)))
        return level

    def _resolve(self, policy: dict, level: float):
        policy = dict(policy)
        magnitude_key = policy.pop("magnitude_key", None)
        magnitude_range = policy.pop("magnitude_range", None)
        if magnitude_key is not None:
            val1, val2 = magnitude_range
            policy[magnitude_key] = level / self.total_level * (val2 - val1) + val1
        return TRANSFORMS.build(policy)

    def __call__(self, results: dict) -> dict:
        # as MMCls: pick the operations, then draw each one's level (only those with a magnitude), then run
        chosen = random.choices(self.policies, k=self.num_policies)
        ops = [self._resolve(policy, self._level() if policy.get("magnitude_key") is not None else 0)
               for policy in chosen]
        for op in ops:
            results = op(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(policies={self.policies}, num_policies={self.num_policies}, "
                f"magnitude_level={self.magnitude_level}, total_level={self.total_level})")


class _Op:
    """An operation that fires with probability ``prob`` and maps each image with :meth:`apply`."""

    prob: float

    def apply(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, results: dict) -> dict:
        if np.random.rand() > self.prob:
            return results
        self._draw()
        for key in _image_keys(results):
            img = results[key]
            results[key] = self.apply(img).astype(img.dtype, copy=False)
        return results

    def _draw(self) -> None:
        """Draw per-call random values (the magnitude's sign) before the images are mapped."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{self.__class__.__name__}({args})"


class _SignedOp(_Op):
    """An operation whose ``magnitude`` is negated with probability ``random_negative_prob`` per call."""

    def __init__(self, magnitude: float, prob: float = 0.5, random_negative_prob: float = 0.5):
        _check_magnitude(magnitude)
        _check_prob("The prob", prob)
        _check_prob("The random_negative_prob", random_negative_prob)
        self.magnitude = magnitude
        self.prob = prob
        self.random_negative_prob = random_negative_prob
        self._magnitude = magnitude

    def _draw(self) -> None:
        self._magnitude = random_negative(self.magnitude, self.random_negative_prob)


class _GeometricOp(_SignedOp):
    def __init__(self, magnitude: float, pad_val: int | Sequence[int] = 128, prob: float = 0.5,
                 direction: str = "horizontal", random_negative_prob: float = 0.5,
                 interpolation: str = "bicubic"):
        super().__init__(magnitude, prob, random_negative_prob)
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f'direction must be either "horizontal" or "vertical", got {direction} instead.')
        self.pad_val = _pad_val(pad_val)
        self.direction = direction
        self.interpolation = interpolation


@TRANSFORMS.register()
class Shear(_GeometricOp):
    """Shear by ``magnitude`` (a slope), filling with ``pad_val``.

    Args:
        magnitude: Shear factor (0.3 is AutoAugment's largest).
        pad_val: Fill value, one or three (in the image's channel order).
        prob: Probability of shearing.
        direction: 'horizontal' or 'vertical'.
        random_negative_prob: Probability of negating the magnitude.
        interpolation: 'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos' (``cv2.warpAffine``).
    """

    def apply(self, img):
        return F.imshear(img, self._magnitude, self.direction, self.pad_val, self.interpolation)


@TRANSFORMS.register()
class Translate(_GeometricOp):
    """Shift by ``magnitude`` times the image's width (or height for 'vertical'), filling with ``pad_val``.

    Args:
        magnitude: Offset as a fraction of the size (1 moves the whole image out).
        pad_val: Fill value.
        prob: Probability of translating.
        direction: 'horizontal' or 'vertical'.
        random_negative_prob: Probability of negating the magnitude.
        interpolation: Interpolation.
    """

    def __init__(self, magnitude: float, pad_val: int | Sequence[int] = 128, prob: float = 0.5,
                 direction: str = "horizontal", random_negative_prob: float = 0.5, interpolation: str = "nearest"):
        super().__init__(magnitude, pad_val, prob, direction, random_negative_prob, interpolation)

    def apply(self, img):
        height, width = img.shape[:2]
        offset = self._magnitude * (width if self.direction == "horizontal" else height)
        return F.imtranslate(img, offset, self.direction, self.pad_val, self.interpolation)


@TRANSFORMS.register()
class Rotate(_SignedOp):
    """Rotate ``angle`` degrees clockwise, filling with ``pad_val``.

    Args:
        angle: Degrees.
        center: Centre ``(x, y)``; default the image centre.
        scale: Isotropic scale.
        pad_val: Fill value.
        prob: Probability of rotating.
        random_negative_prob: Probability of negating the angle.
        interpolation: Interpolation.
    """

    def __init__(self, angle: float, center: Sequence[float] | None = None, scale: float = 1.0,
                 pad_val: int | Sequence[int] = 128, prob: float = 0.5, random_negative_prob: float = 0.5,
                 interpolation: str = "nearest"):
        super().__init__(angle, prob, random_negative_prob)
        del self.magnitude
        self.angle = angle
        self.center = center
        self.scale = scale
        self.pad_val = _pad_val(pad_val)
        self.interpolation = interpolation

    def _draw(self) -> None:
        self._magnitude = random_negative(self.angle, self.random_negative_prob)

    def apply(self, img):
        return F.imrotate(img, self._magnitude, self.center, self.scale, self.pad_val, self.interpolation)


class _ProbOp(_Op):
    def __init__(self, prob: float = 0.5):
        _check_prob("The prob", prob)
        self.prob = prob


@TRANSFORMS.register()
class AutoContrast(_ProbOp):
    """Stretch each channel to the full [0, 255] range.

    Args:
        prob: Probability of applying.
    """

    def apply(self, img):
        return F.auto_contrast(img)


@TRANSFORMS.register()
class Invert(_ProbOp):
    """``255 - img``.

    Args:
        prob: Probability of applying.
    """

    def apply(self, img):
        return F.iminvert(img)


@TRANSFORMS.register()
class Equalize(_ProbOp):
    """Equalise each channel's histogram.

    Args:
        prob: Probability of applying.
    """

    def apply(self, img):
        return F.imequalize(img)


@TRANSFORMS.register()
class Solarize(_ProbOp):
    """Invert every pixel at or above ``thr``.

    Args:
        thr: Threshold (256 changes nothing).
        prob: Probability of applying.
    """

    def __init__(self, thr: float, prob: float = 0.5):
        super().__init__(prob)
        _check_magnitude(thr)
        self.thr = thr

    def apply(self, img):
        return F.solarize(img, self.thr)


@TRANSFORMS.register()
class SolarizeAdd(_ProbOp):
    """Add ``magnitude`` to every pixel below ``thr`` (capped at 255).

    Args:
        magnitude: Value added.
        thr: Threshold.
        prob: Probability of applying.
    """

    def __init__(self, magnitude: float, thr: float = 128, prob: float = 0.5):
        super().__init__(prob)
        _check_magnitude(magnitude)
        _check_magnitude(thr)
        self.magnitude = magnitude
        self.thr = thr

    def apply(self, img):
        # MMCls's expression, in numpy's arithmetic for the image's dtype (an int magnitude stays uint8),
        # evaluated once per grey level for uint8 images
        levels = np.arange(256, dtype=np.uint8) if img.dtype == np.uint8 else img
        out = np.where(levels < self.thr, np.minimum(levels + self.magnitude, 255), levels).astype(img.dtype)
        return F.apply_lut(img, out) if img.dtype == np.uint8 else out


@TRANSFORMS.register()
class Posterize(_ProbOp):
    """Keep the ``bits`` highest bits of each value (``bits`` is rounded up; at most 8).

    Args:
        bits: Bits kept.
        prob: Probability of applying.
    """

    def __init__(self, bits: float, prob: float = 0.5):
        super().__init__(prob)
        if bits > 8:
            raise ValueError(f"The bits must be less than 8, got {bits} instead.")
        self.bits = math.ceil(bits)

    def apply(self, img):
        return F.posterize(img, self.bits)


@TRANSFORMS.register()
class Contrast(_SignedOp):
    """Contrast times ``1 + magnitude`` (blend with the mean grey).

    Args:
        magnitude: Change of the factor.
        prob: Probability of applying.
        random_negative_prob: Probability of negating the magnitude.
    """

    def apply(self, img):
        return F.adjust_contrast(img, 1 + self._magnitude)


@TRANSFORMS.register()
class ColorTransform(_SignedOp):
    """Saturation times ``1 + magnitude`` (blend with the grey image).

    Args:
        magnitude: Change of the factor.
        prob: Probability of applying.
        random_negative_prob: Probability of negating the magnitude.
    """

    def apply(self, img):
        return F.adjust_color(img, 1 + self._magnitude)


@TRANSFORMS.register()
class Brightness(_SignedOp):
    """Brightness times ``1 + magnitude`` (blend with black).

    Args:
        magnitude: Change of the factor.
        prob: Probability of applying.
        random_negative_prob: Probability of negating the magnitude.
    """

    def apply(self, img):
        return F.adjust_brightness(img, 1 + self._magnitude)


@TRANSFORMS.register()
class Sharpness(_SignedOp):
    """Sharpness times ``1 + magnitude`` (blend with a smoothed copy).

    Args:
        magnitude: Change of the factor.
        prob: Probability of applying.
        random_negative_prob: Probability of negating the magnitude.
    """

    def apply(self, img):
        return F.adjust_sharpness(img, 1 + self._magnitude)


@TRANSFORMS.register()
class Cutout(_ProbOp):
    """Fill a ``shape`` box about a random point (DeVries & Taylor 2017; ``mmcv.cutout``'s draw).

    Args:
        shape: Box size, int (square) or ``(h, w)``; floats are truncated.
        pad_val: Fill value, one or three.
        prob: Probability of applying.
    """

    def __init__(self, shape: float | Sequence[float], pad_val: int | Sequence[int] = 128, prob: float = 0.5):
        super().__init__(prob)
        if isinstance(shape, (int, float)):
            shape = (int(shape), int(shape))
        elif isinstance(shape, Sequence) and len(shape) == 2:
            shape = tuple(int(s) for s in shape)
        else:
            raise TypeError(f"shape must be a number or (h, w), got {shape!r}")
        self.shape = shape
        self.pad_val = _pad_val(pad_val)

    def apply(self, img):
        return F.cutout(img, self.shape, self.pad_val)
