"""Normalisation: ``Normalize`` per image, or deferred and fused into the batch.

``Normalize`` gives what MMCls 0.25's gives (mmcv's ``imnormalize``: float32, BGR->RGB when ``to_rgb``,
subtract the mean, multiply by ``1 / std``; see :func:`imnormalize` for why a float32 division gives the
same numbers). When a :class:`~workers.data.transforms.compose.Compose` is
told to fuse normalisation (``data.fuse_normalize``, on by default in the engine) and its last
``Normalize`` is followed only by formatting steps (``ImageToTensor``, ``Transpose``, ``ToTensor``,
``Collect``), that ``Normalize`` is *deferred*: it leaves the image as it is (uint8, in the loader's BGR
order), records a :class:`DeferredNorm` in the results, and the formatting steps carry it along. The
collated batch then holds uint8 images (four times fewer bytes from the loader workers) plus the
``DeferredNorm`` under :data:`DEFERRED_KEY`, and :func:`prepare_images` normalises the whole batch with one
tensor operation after moving it to the device (as MMCls 1.x's data preprocessor does). Both paths do the
same float32 operations on the same numbers, so they give bitwise equal results.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from workers.registry import TRANSFORMS

__all__ = ["DEFERRED_KEY", "DeferredNorm", "Normalize", "imnormalize", "normalize_tensor", "prepare_images"]

DEFERRED_KEY = "deferred_norm"
"""The results / batch key of a deferred normalisation's :class:`DeferredNorm`."""


def _norm_params(mean, std) -> tuple[np.ndarray, np.ndarray]:
    """``mean`` and ``std`` as flat float32 arrays (``Normalize`` keeps them so, as MMCls's does)."""
    return np.asarray(mean, dtype=np.float32).reshape(-1), np.asarray(std, dtype=np.float32).reshape(-1)


def _check_channels(mean: np.ndarray, std: np.ndarray, channels: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The mean / std to apply to an image of ``channels`` channels (``None``: a 2-D image)."""
    if channels is None or channels == 1:
        if mean.size > 1 and not (np.all(mean == mean[0]) and np.all(std == std[0])):
            raise ValueError(f"a single-channel image needs one mean/std value, got {mean.tolist()}")
        return mean[:1], std[:1]
    if mean.size not in (1, channels):
        raise ValueError(f"{mean.size} mean values for an image with {channels} channels")
    return mean, std


def imnormalize(img: np.ndarray, mean, std, to_rgb: bool = True) -> np.ndarray:
    """``(img - mean) / std`` in float32, after BGR->RGB when ``to_rgb``: mmcv's ``imnormalize``, value for
    value.

    mmcv subtracts the float32 mean in float32, then multiplies by ``1 / std`` computed in float64 and
    rounds the float64 product to float32. That equals the float32 quotient ``(img - mean) / std``
    exactly: the product is within 2**-52 (relative) of the true quotient, and a quotient of two float32
    numbers is never that close to a point where float32 rounding changes (a float32 quotient that is not
    exactly representable lies at least 2**-49 away from the nearest rounding midpoint). So one float32
    division, here and in :func:`normalize_tensor`, gives mmcv's numbers without float64 work.

    Returns a new C-contiguous float32 array; ``img`` is not changed.
    """
    channels = img.shape[2] if img.ndim == 3 else None
    mean32, std32 = _check_channels(*_norm_params(mean, std), channels)
    if img.dtype == np.uint8 and img.ndim in (2, 3) and (channels or 1) <= 4 and img.size:
        return _imnormalize_uint8(img, mean32, std32, to_rgb and channels == 3)
    if channels in (3, 4):
        # OpenCV's float32 arithmetic, as mmcv has it: cvtColor, subtract, multiply (~2.5x numpy's speed
        # on 224x224x3, whose broadcasting over a last axis of 3 is slow). 2-D images take numpy's scalar
        # path below (OpenCV would read a 1x1 image's one mean as an array, not a scalar).
        out = img.astype(np.float32, order="C")  # a C-contiguous copy (OpenCV needs one), normalised in place
        if to_rgb and channels == 3:
            cv2.cvtColor(out, cv2.COLOR_BGR2RGB, out)
        mean64 = np.broadcast_to(mean32.astype(np.float64), (channels,)).reshape(1, -1)
        stdinv64 = (1.0 / np.broadcast_to(std32.astype(np.float64), (channels,))).reshape(1, -1)
        cv2.subtract(out, mean64, out)
        cv2.multiply(out, stdinv64, out)
        return out
    if to_rgb and channels == 3:
        img = img[..., ::-1]
    out = np.empty(img.shape, dtype=np.float32)
    out[...] = img  # the cast into a contiguous float32 array
    out -= mean32
    out /= std32
    return out


# flip codes of cv2.flip by (rows reversed, columns reversed)
_FLIP_CODES = {(True, False): 0, (False, True): 1, (True, True): -1}


def _contiguous_uint8(img: np.ndarray, to_rgb: bool) -> np.ndarray:
    """A C-contiguous copy of a uint8 HxW(xC) image (channels reversed when ``to_rgb``), or ``img`` itself
    when it is contiguous already and nothing changes.

    A flipped view (``RandomFlip`` hands one on) is copied by ``cv2.flip`` from the unflipped array: numpy
    copies a view with negative strides over a last axis of 3 element by element (~5x slower), and so does
    OpenCV's binding when such a view is passed to it.
    """
    code = _FLIP_CODES.get((img.strides[0] < 0, img.strides[1] < 0))
    if code is not None:
        base = img[::-1 if img.strides[0] < 0 else 1, ::-1 if img.strides[1] < 0 else 1]
        if code == 1 and to_rgb and base.strides[2] == 1 and base.strides[1] == 3:
            # mirroring the pixels of a row and then their B, G, R is reversing the row's bytes: one pass
            return cv2.flip(base.reshape(base.shape[0], -1), 1).reshape(img.shape)
        if all(stride > 0 for stride in base.strides):
            out = cv2.cvtColor(base, cv2.COLOR_BGR2RGB) if to_rgb else base
            out = cv2.flip(out, code, out if to_rgb else None)
            return out.reshape(img.shape)
    if to_rgb and img.strides[2] > 0:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if to_rgb:
        img = img[..., ::-1]
    return img if img.flags.c_contiguous and min(img.strides) >= 0 else img.copy(order="C")


def _float32_array(shape: Sequence[int]) -> torch.Tensor:
    """A new, uninitialised float32 CPU tensor of ``shape`` whose memory numpy allocates.

    Not ``torch.empty``: PyTorch takes CPU memory with ``posix_memalign``, and glibc serves a same-sized
    request after the free of the previous one (the batch after the batch) from fresh pages, which the
    kernel zero-fills one 4 KiB page fault at a time (~4,700 faults for a 32x3x224x224 float32 batch, ~1.5x
    the time of the normalisation itself in a loader's training process, measured for issue 15). numpy takes
    it with ``malloc``, which reuses the freed block, and asks for transparent huge pages above 4 MiB.
    """
    return torch.from_numpy(np.empty(tuple(shape), dtype=np.float32))


@functools.lru_cache(maxsize=64)
def _norm_rows(mean: tuple[float, ...], std: tuple[float, ...], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The channel means and deviations repeated along an image row of ``width`` pixels (float32 tensors of
    ``width * channels``), so that a row-major HxWxC image viewed as Hx(W*C) is normalised by contiguous,
    vectorised float32 operations (broadcasting over a last axis of 3 is not)."""
    mean_row = torch.tensor(mean, dtype=torch.float32).repeat(width)
    std_row = torch.tensor(std, dtype=torch.float32).repeat(width)
    return mean_row, std_row


def _imnormalize_uint8(img: np.ndarray, mean32: np.ndarray, std32: np.ndarray, to_rgb: bool) -> np.ndarray:
    """:func:`imnormalize` of a uint8 image: the channel swap on the uint8 image (a quarter of the bytes of
    mmcv's swap on float32), then one cast and a float32 subtraction and division (the numbers mmcv's
    float64 multiplication rounds to, see :func:`imnormalize`), each one vectorised pass."""
    src = _contiguous_uint8(img, to_rgb)
    if not src.flags.writeable:  # img itself, read-only: torch would warn about viewing it
        src = src.copy()
    height = img.shape[0]
    width = img.shape[1]
    channels = img.shape[2] if img.ndim == 3 else 1
    mean_row, std_row = _norm_rows(tuple(np.broadcast_to(mean32, (channels,)).tolist()),
                                   tuple(np.broadcast_to(std32, (channels,)).tolist()), width)
    out = _float32_array((height, width * channels))
    out.copy_(torch.from_numpy(src).view(height, width * channels))  # the cast
    out.sub_(mean_row).div_(std_row)
    return out.numpy().reshape(img.shape)


@dataclasses.dataclass(frozen=True)
class DeferredNorm:
    """A normalisation left for the batch: ``(x - mean) / std`` in float32, after reversing the
    channel order when ``to_rgb``.

    Attributes:
        mean: Channel means (float32 values).
        std: Channel standard deviations (float32 values).
        to_rgb: Reverse the (3) channels first.
        channel_dims: Result key -> the channel axis of that (unbatched) image, ``None`` for a 2-D one;
            formatting steps keep it up to date as they move axes.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    to_rgb: bool
    channel_dims: tuple[tuple[str, int | None], ...]

    def channel_dim(self, key: str) -> int | None:
        return dict(self.channel_dims).get(key)

    def with_channel_dim(self, key: str, dim: int | None) -> DeferredNorm:
        return _with_channel_dim(self, key, dim)

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.channel_dims]


@functools.lru_cache(maxsize=256)
def _with_channel_dim(deferred: DeferredNorm, key: str, dim: int | None) -> DeferredNorm:
    """:meth:`DeferredNorm.with_channel_dim`, made once per distinct answer (it runs for every sample)."""
    dims = dict(deferred.channel_dims)
    if key not in dims:
        return deferred
    dims[key] = dim
    return dataclasses.replace(deferred, channel_dims=tuple(dims.items()))


def normalize_tensor(x: torch.Tensor, mean: Sequence[float], std: Sequence[float], to_rgb: bool,
                     channel_dim: int | None) -> torch.Tensor:
    """``(x - mean) / std`` in float32 along ``channel_dim`` (``None``: one value for all), after
    reversing the channel order when ``to_rgb`` and there are 3 channels. Equals :func:`imnormalize` of
    each image bit for bit (the same IEEE float32 operations on the same numbers, on CPU or GPU)."""
    channels = None if channel_dim is None else x.shape[channel_dim]
    mean_a, std_a = _check_channels(*_norm_params(mean, std), channels)
    if x.dtype == torch.uint8 and x.device.type == "cpu" and x.is_contiguous() and x.numel():
        looked_up = _lookup_normalize(x, mean_a, std_a, to_rgb and channels == 3, channel_dim)
        if looked_up is not None:
            return looked_up
    if x.device.type == "cpu":
        out = _float32_array(x.shape)
    else:
        out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    if to_rgb and channels == 3:  # the channel swap and the cast in one pass
        for c in range(3):
            out.select(channel_dim, c).copy_(x.select(channel_dim, 2 - c))
    else:
        out.copy_(x)
    shape = [1] * out.ndim
    if channel_dim is not None and mean_a.size > 1:
        shape[channel_dim] = -1
    # tensors on the device, not Python numbers: PyTorch's CUDA kernel divides by a CPU scalar as a
    # multiplication by its reciprocal, which rounds differently from the division
    mean_t = torch.from_numpy(np.ascontiguousarray(mean_a)).to(out.device).view(shape)
    std_t = torch.from_numpy(np.ascontiguousarray(std_a)).to(out.device).view(shape)
    return out.sub_(mean_t).div_(std_t)


@functools.lru_cache(maxsize=64)
def _norm_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``C x 256`` float32: entry ``[c, v]`` is ``(v - mean[c]) / std[c]``, computed by the float32 tensor
    operations of :func:`normalize_tensor`, so that looking a uint8 value up gives its numbers exactly."""
    values = torch.arange(256, dtype=torch.float32).view(1, 256)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1)
    return ((values - mean_t) / std_t).numpy()


def _lookup_normalize(x: torch.Tensor, mean_a: np.ndarray, std_a: np.ndarray, swap: bool,
                      channel_dim: int | None) -> torch.Tensor | None:
    """:func:`normalize_tensor` of a contiguous uint8 CPU tensor by table lookup (``cv2.LUT``, one pass that
    casts, subtracts and divides: about half the time of the three tensor passes), one channel plane at a
    time; ``None`` where the planes are too small for it to pay (e.g. a channel-last layout)."""
    shape = tuple(x.shape)
    if channel_dim is None:
        lead, channels, rest = 1, 1, x.numel()
    else:
        lead, channels, rest = math.prod(shape[:channel_dim]), shape[channel_dim], math.prod(shape[channel_dim + 1:])
    if rest < 1024:
        return None
    table = _norm_table(tuple(np.broadcast_to(mean_a, (channels,)).tolist()),
                        tuple(np.broadcast_to(std_a, (channels,)).tolist()))
    out = _float32_array(shape)
    src = x.numpy().reshape(lead, channels, rest)
    dst = out.numpy().reshape(lead, channels, rest)
    for i in range(lead):
        for c in range(channels):
            plane = dst[i, c]
            got = cv2.LUT(src[i, channels - 1 - c if swap else c], table[c], dst=plane)
            if got is not plane:  # OpenCV wrote elsewhere (it keeps to dst for a contiguous plane)
                plane[...] = got.reshape(plane.shape)
    return out


def prepare_images(batch: dict, device: torch.device | str | None = None, *, dtype: torch.dtype | None = None,
                   key: str = "img", non_blocking: bool = True) -> torch.Tensor:
    """``batch[key]`` ready for the model: on ``device``, normalised when the loader deferred it (after
    the move, so that uint8 crosses to the accelerator), then cast to ``dtype`` if given.

    Every consumer of a loader's batches (training, evaluation, prediction, PreciseBN, inference, the
    test tool) takes its images through here.
    """
    img = batch[key]
    if device is not None:
        img = img.to(device, non_blocking=non_blocking)
    deferred = batch.get(DEFERRED_KEY)
    if isinstance(deferred, DeferredNorm) and key in dict(deferred.channel_dims):
        channel_dim = deferred.channel_dim(key)
        # the batch's first axis is the sample: the per-image channel axis moves one up
        img = normalize_tensor(img, deferred.mean, deferred.std, deferred.to_rgb,
                               None if channel_dim is None else channel_dim + 1)
    if dtype is not None and img.dtype != dtype:
        img = img.to(dtype)
    return img


@TRANSFORMS.register()
class Normalize:
    """``(img - mean) / std`` per channel in float32 (mmcv's numbers, see :func:`imnormalize`), after
    BGR->RGB when ``to_rgb``; adds ``img_norm_cfg``.

    With ``deferred`` set (a fusing :class:`Compose` sets it when only formatting steps follow) the
    images are left as they are (non-uint8 ones cast to float32, as the per-image path would first) and a
    :class:`DeferredNorm` is recorded for the batch; ``img_norm_cfg`` is added either way.

    Args:
        mean: Channel means.
        std: Channel standard deviations.
        to_rgb: Reverse the channel order first (images are loaded BGR).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True):
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.to_rgb = to_rgb
        self.deferred = False
        self._deferred_cache: dict[tuple, DeferredNorm] = {}

    def __call__(self, results: dict) -> dict:
        keys = results.get("img_fields", ["img"])
        if self.deferred:
            layout = []
            for key in keys:
                img = results[key]
                if img.dtype != np.uint8 and img.dtype != np.float32:
                    results[key] = img.astype(np.float32)
                layout.append((key, img.shape[2] if img.ndim == 3 else None))
            cache_key = (tuple(layout), np.asarray(self.mean, np.float32).tobytes(),
                         np.asarray(self.std, np.float32).tobytes(), bool(self.to_rgb))
            deferred = self._deferred_cache.get(cache_key)
            if deferred is None:  # once per layout: every sample of a pipeline shares one DeferredNorm
                mean32, std32 = _norm_params(self.mean, self.std)
                for _, channels in layout:
                    _check_channels(mean32, std32, channels)  # the per-image path's errors, raised here
                dims = tuple((key, None if channels is None else 2) for key, channels in layout)
                deferred = DeferredNorm(tuple(mean32.tolist()), tuple(std32.tolist()), bool(self.to_rgb), dims)
                self._deferred_cache[cache_key] = deferred
            results[DEFERRED_KEY] = deferred
        else:
            for key in keys:
                results[key] = imnormalize(results[key], self.mean, self.std, self.to_rgb)
        results["img_norm_cfg"] = {"mean": self.mean, "std": self.std, "to_rgb": self.to_rgb}
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mean={self.mean.tolist()}, std={self.std.tolist()}, to_rgb={self.to_rgb})"
