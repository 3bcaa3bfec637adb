"""The recorded MMClassification 0.25 pipeline outputs (tests/fixtures/mmcls_pipeline) and what both sides
measure the same way: the source arrays the cases start from, a crop's box read off a coordinate image, the
per-draw features of a random transform's output.

Used by ``tests/fixtures/mmcls_pipeline/make_fixtures.py`` (run once with the side venv's MMCls) and by
``tests/unit/data/test_mmcls_exactness.py`` (our transforms): numpy only, so that both can import it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mmcls_pipeline"
INPUTS = FIXTURES / "inputs"
COORDINATES = "coordinates_120x90"


@cache
def cases() -> dict:
    """``cases.json``: the recorded cases (configs as a user's spec writes them), inputs and versions."""
    return json.loads((FIXTURES / "cases.json").read_text())


@cache
def recorded(name: str) -> dict[str, np.ndarray]:
    """One of the ``.npz`` files (``loading``, ``deterministic``, ``seeded``, ``distributions``, ``e2e``)."""
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


def coordinate_image(height: int, width: int) -> np.ndarray:
    """uint8 BGR-layout image whose channel 0 holds x, channel 1 y, channel 2 zero: a crop's box can be read
    off its pixels."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx, yy, np.zeros_like(xx)], axis=2).astype(np.uint8)


def source_array(source: str, loaded: dict[str, np.ndarray]) -> np.ndarray:
    """The array a case starts from: ``input|color_type`` as MMCls loaded it (``loaded``), optionally
    ``|float32`` and/or ``|centre32`` (the 32x32 centre); or the coordinate image."""
    if source == COORDINATES:
        return coordinate_image(90, 120)
    parts = source.split("|")
    img = loaded[f"{parts[0]}|{parts[1]}"]
    for extra in parts[2:]:
        if extra == "float32":
            img = img.astype(np.float32)
        elif extra == "centre32":
            h, w = img.shape[:2]
            img = img[(h - 32) // 2:(h - 32) // 2 + 32, (w - 32) // 2:(w - 32) // 2 + 32]
        else:
            raise ValueError(f"unknown source modifier {extra!r} in {source!r}")
    return np.array(img, copy=True)


def results_for(img: np.ndarray) -> dict:
    """A pipeline's results dict holding ``img`` (a copy) as after LoadImageFromFile."""
    return {"img": img.copy(), "img_shape": img.shape, "ori_shape": img.shape, "img_fields": ["img"]}


def as_array(value) -> np.ndarray:
    """A tensor or array as a numpy array."""
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def box_of(out: np.ndarray) -> np.ndarray:
    """``(x1, y1, x2, y2)`` of the source pixels seen in a nearest-upscaled crop of a coordinate image."""
    out = as_array(out)
    return np.array([out[..., 0].min(), out[..., 1].min(), out[..., 0].max(), out[..., 1].max()], np.int16)


FEATURES = ["mean0", "mean1", "mean2", "std0", "std1", "std2", "changed", "mean_abs_change"]


def features(out, src: np.ndarray) -> np.ndarray:
    """A random transform's output, summed up (``FEATURES``): per-channel mean and std, the fraction of
    pixels changed and the mean absolute change (against the input, where the shapes agree; else 1, nan)."""
    out = np.asarray(as_array(out), dtype=np.float64)
    planes = out if out.ndim == 3 else out[..., None]
    means, stds = list(planes.mean(axis=(0, 1))[:3]), list(planes.std(axis=(0, 1))[:3])
    means += [float("nan")] * (3 - len(means))
    stds += [float("nan")] * (3 - len(stds))
    if out.shape == src.shape:
        diff = np.abs(out - src.astype(np.float64))
        per_pixel = diff.reshape(diff.shape[0], diff.shape[1], -1).max(axis=2)
        extra = [float((per_pixel > 0).mean()), float(diff.mean())]
    else:
        extra = [1.0, float("nan")]
    return np.array(means + stds + extra, dtype=np.float64)
