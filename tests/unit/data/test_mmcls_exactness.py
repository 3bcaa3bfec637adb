"""Our data pipeline against MMClassification 0.25's own outputs (issue 15), recorded once with MMCls 0.25.0
on mmcv 1.7.2 / OpenCV 4.10 by ``tests/fixtures/mmcls_pipeline/make_fixtures.py`` and committed: the tests
need no MMCls.

Each case runs our transforms as a user's spec builds them (``workers.registry.TRANSFORMS`` through
``Compose``) on the very array MMCls started from, so that a decoder difference does not hide in a resize
test:

- loading: ``LoadImageFromFile`` on JPEG/PNG, colour/grey, 16-bit, RGBA, grey+alpha, palette and an
  EXIF-rotated JPEG, in every ``color_type``: the same shape and dtype, values within 1 grey level;
- deterministic transforms: uint8 (and 16-bit, float pixel-scale) outputs within 1 grey level, normalised
  outputs within float32 rounding;
- random transforms after ``random.seed(k); np.random.seed(k)``: the same draw, where our implementation
  consumes the generators as MMCls does;
- random transforms over many draws: every per-draw statistic (crop boxes, areas, aspect ratios; output
  means, deviations, changed fractions) from the same distribution (two-sample Kolmogorov-Smirnov);
- the test pipeline ``Resize((256, -1)) -> CenterCrop(224) -> Normalize`` end to end from the file.

A case that does not match yet is marked ``xfail(strict=True)`` below with why, so that the suite stays
green, the gap stays visible, and a fix that makes it pass must drop the mark.
"""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import torch
from scipy import stats

from tests.support.mmcls_pipeline import (
    FEATURES,
    INPUTS,
    as_array,
    box_of,
    cases,
    features,
    recorded,
    results_for,
    source_array,
)
from workers.data import build_dataloader, build_dataset, prepare_images
from workers.data.transforms import Compose
from workers.registry import TRANSFORMS

torch.set_num_threads(1)

GREY_LEVEL = 1  # deterministic outputs before normalisation: within one grey level of MMCls's
NORM_ATOL = 1e-4  # Normalize on the same uint8 input: float32 rounding only
KS_ALPHA = 1e-4  # a per-draw statistic whose two samples a KS test separates at this p-value differs
OUR_SEED = 2024  # our draws for the distributions come from another seed than MMCls's (0)

# Cases known not to match MMCls yet: id -> why. A case listed here that passes fails the suite (strict).
XFAIL_LOADING: dict[str, str] = {}
XFAIL_DETERMINISTIC: dict[str, str] = {}
XFAIL_SEEDED: dict[str, str] = {}
XFAIL_DISTRIBUTIONS: dict[str, str] = {}
XFAIL_E2E: dict[str, str] = {}


def _params(ids, known: dict[str, str]):
    return [pytest.param(i, id=i, marks=pytest.mark.xfail(strict=True, reason=known[i])) if i in known
            else pytest.param(i, id=i) for i in ids]


def _pipeline(configs: list[dict]) -> Compose:
    return Compose([TRANSFORMS.build(dict(cfg)) for cfg in configs])


def _run(configs: list[dict], img: np.ndarray):
    return _pipeline(configs)(results_for(img))["img"]


def _seed(k: int) -> None:
    random.seed(k)
    np.random.seed(k)


FORMATTING = {"ImageToTensor", "Transpose", "ToTensor", "Collect"}


def _limit(configs: list[dict], theirs: np.ndarray) -> float:
    """How far an output may be from MMCls's: one grey level where pixels were resampled or changed before
    (in normalised units after a Normalize), float32 rounding where the float steps had the same input."""
    rounding = NORM_ATOL * max(1.0, float(np.abs(theirs).max()))
    pixel_steps = [cfg for cfg in configs if cfg["type"] not in FORMATTING | {"Normalize", "Lighting"}]
    normalize = next((cfg for cfg in configs if cfg["type"] == "Normalize"), None)
    if normalize is not None:
        return rounding + (GREY_LEVEL / min(normalize["std"]) if pixel_steps else 0.0)
    if any(cfg["type"] == "Lighting" for cfg in configs):
        return rounding + (GREY_LEVEL if pixel_steps else 0.0)
    return GREY_LEVEL


def _assert_close(ours, theirs: np.ndarray, configs: list[dict], what: str) -> None:
    """Same shape and dtype; pixel-scale values within ``GREY_LEVEL``, normalised ones within ``NORM_ATOL``."""
    ours_array = as_array(ours)
    assert ours_array.shape == theirs.shape, f"{what}: shape {ours_array.shape}, MMCls {theirs.shape}"
    # float32 throughout (issue 15): where MMCls computes in float64 (Lighting), float32 is ours
    dtype_ok = ours_array.dtype == theirs.dtype or (theirs.dtype == np.float64 and ours_array.dtype == np.float32)
    assert dtype_ok, f"{what}: dtype {ours_array.dtype}, MMCls {theirs.dtype}"
    diff = np.abs(ours_array.astype(np.float64) - theirs.astype(np.float64))
    limit = _limit(configs, theirs)
    worst = float(diff.max()) if diff.size else 0.0
    assert worst <= limit, (f"{what}: differs from MMCls by up to {worst:.4g} (limit {limit:.3g}) at "
                            f"{int((diff > limit).sum())} of {diff.size} values")


# ------------------------------------------------------------------------------------------------- loading
LOADING_IDS = [f"{name}|{color_type}" for name, color_types in cases()["color_types"].items()
               for color_type in color_types]


@pytest.mark.parametrize("case", _params(LOADING_IDS, XFAIL_LOADING))
def test_it_loads_each_image_as_mmcls_does(case):
    name, color_type = case.split("|")
    expected = recorded("loading")[case]
    load = TRANSFORMS.build({"type": "LoadImageFromFile", "color_type": color_type})
    results = load({"img_prefix": str(INPUTS), "img_info": {"filename": name}})
    _assert_close(results["img"], expected, [], case)
    assert results["img_shape"] == results["ori_shape"] == expected.shape


@pytest.mark.parametrize("name", ["rgb_37x53.jpg", "grey16_40x30.png", "exif_rot6_40x24.jpg"])
def test_to_float32_gives_the_loaded_values_as_float32(name):
    load = TRANSFORMS.build({"type": "LoadImageFromFile", "to_float32": True})
    img = load({"img_prefix": str(INPUTS), "img_info": {"filename": name}})["img"]
    expected = recorded("loading")[f"{name}|color"]
    assert img.dtype == np.float32 and img.shape == expected.shape
    assert np.abs(img - expected.astype(np.float32)).max() <= GREY_LEVEL


# ------------------------------------------------------------------------------------ deterministic steps
DETERMINISTIC_IDS = [f"{name}|{source}" for name, case in cases()["deterministic"].items()
                     for source in case["sources"] if f"{name}|{source}" in recorded("deterministic")]


@pytest.mark.parametrize("case", _params(DETERMINISTIC_IDS, XFAIL_DETERMINISTIC))
def test_each_deterministic_transform_gives_mmcls_result(case):
    name, source = case.split("|", 1)
    configs = cases()["deterministic"][name]["pipeline"]
    out = _run(configs, source_array(source, recorded("loading")))
    if configs[-1]["type"] in ("ImageToTensor", "ToTensor"):
        assert isinstance(out, torch.Tensor)
    _assert_close(out, recorded("deterministic")[case], configs, case)


# ------------------------------------------------------------------------------------- same-seed draws
SEEDED_IDS = [f"{name}|{source}" for name, case in cases()["seeded"].items() for source in case["sources"]]


@pytest.mark.parametrize("case", _params(SEEDED_IDS, XFAIL_SEEDED))
def test_a_seeded_random_transform_draws_what_mmcls_draws(case):
    name, source = case.split("|", 1)
    spec = cases()["seeded"][name]
    pipeline = _pipeline(spec["pipeline"])
    img = source_array(source, recorded("loading"))
    for k in spec["seeds"]:
        _seed(k)
        out = pipeline(results_for(img))["img"]
        _assert_close(out, recorded("seeded")[f"{case}|{k}"], spec["pipeline"], f"{case} seed {k}")


# ------------------------------------------------------------------------------------------ distributions
def _box_statistics(boxes: np.ndarray) -> dict[str, np.ndarray]:
    boxes = boxes.astype(np.float64)
    width, height = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    return {"x1": boxes[:, 0], "y1": boxes[:, 1], "width": width, "height": height,
            "area": width * height, "log_aspect": np.log(width / height),
            "centre_x": (boxes[:, 0] + boxes[:, 2]) / 2, "centre_y": (boxes[:, 1] + boxes[:, 3]) / 2}


def _feature_statistics(rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: rows[:, i] for i, name in enumerate(FEATURES)}


def _draw(spec: dict, pipeline: Compose) -> np.ndarray:
    """Our per-draw measurements of a distribution case (its boxes or features), from ``OUR_SEED``."""
    img = source_array(spec["source"], recorded("loading"))
    _seed(OUR_SEED)
    rows = []
    for _ in range(spec["draws"]):
        out = pipeline(results_for(img))["img"]
        rows.append(box_of(out) if spec["measure"] == "box" else features(out, img))
    return np.stack(rows)


def _differences(case: str, ours: np.ndarray) -> list[str]:
    """The per-draw statistics whose samples (ours, MMCls's) a two-sample KS test tells apart. Features are
    compared to 3 decimals: float32 against float64 arithmetic must not count as a different draw."""
    spec = cases()["distributions"][case]
    summarise = _box_statistics if spec["measure"] == "box" else _feature_statistics
    theirs = summarise(recorded("distributions")[case])
    different = []
    for stat, a in summarise(ours).items():
        b = theirs[stat]
        a, b = np.round(a[~np.isnan(a)], 3), np.round(b[~np.isnan(b)], 3)
        assert a.size == b.size, f"{case} {stat}: {a.size} defined values, MMCls {b.size}"
        if a.size == 0 or (np.ptp(a) == 0 and np.ptp(b) == 0 and a[0] == b[0]):
            continue
        p = stats.ks_2samp(a, b).pvalue
        if p < KS_ALPHA:
            different.append(f"{stat}: ours mean {a.mean():.4g} sd {a.std():.4g}, MMCls mean {b.mean():.4g} "
                             f"sd {b.std():.4g} (KS p={p:.2g})")
    return different


@pytest.mark.parametrize("case", _params(list(cases()["distributions"]), XFAIL_DISTRIBUTIONS))
def test_a_random_transform_draws_from_mmcls_distribution(case):
    spec = cases()["distributions"][case]
    different = _differences(case, _draw(spec, _pipeline(spec["pipeline"])))
    assert not different, f"{case} over {spec['draws']} draws:\n" + "\n".join(different)


@pytest.mark.parametrize("change", [{"scale": [0.16, 1.0]}, {"ratio": [0.8, 1.25]}], ids=["scale", "ratio"])
def test_the_distribution_comparison_sees_a_crop_drawn_otherwise(change):
    """The comparison's power: boxes of a RandomResizedCrop whose smallest area (or widest aspect ratio)
    differs a little from MMCls's configuration must be told apart from MMCls's."""
    spec = cases()["distributions"]["rrc"]
    ours = _draw(spec, _pipeline([dict(spec["pipeline"][0], **change)]))
    assert _differences("rrc", ours)


# ------------------------------------------------------------------------------------------- end to end
def _assert_e2e(out: torch.Tensor, name: str) -> None:
    """A normalised CHW float32 tensor within one grey level of MMCls's test pipeline output for ``name``."""
    theirs = recorded("e2e")[name].astype(np.float32)  # recorded as float16
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and tuple(out.shape) == theirs.shape
    std = min(next(cfg for cfg in cases()["e2e"]["pipeline"] if cfg["type"] == "Normalize")["std"])
    limit = GREY_LEVEL / std + 2 * np.abs(theirs).max() * 2.0 ** -11  # one grey level, plus float16's rounding
    worst = float(np.abs(out.numpy() - theirs).max())
    assert worst <= limit, f"{name}: up to {worst:.4f} off MMCls in normalised units (limit {limit:.4f})"


@pytest.mark.parametrize("name", _params(cases()["e2e"]["inputs"], XFAIL_E2E))
def test_the_test_pipeline_gives_mmcls_tensors_end_to_end(name):
    out = _pipeline(cases()["e2e"]["pipeline"])({"img_prefix": str(INPUTS), "img_info": {"filename": name}})
    _assert_e2e(out["img"], name)


def test_the_loader_normalising_the_batch_gives_mmcls_tensors(tmp_path):
    """Through a CustomDataset and build_dataloader with the normalisation fused into the batch: uint8
    images leave the loader, and prepare_images gives MMCls's per-image normalised tensors."""
    names = cases()["e2e"]["inputs"]
    for i, name in enumerate(names):
        (tmp_path / f"class_{i}").mkdir()
        shutil.copy(INPUTS / name, tmp_path / f"class_{i}" / name)
    dataset = build_dataset({"type": "CustomDataset", "data_prefix": str(tmp_path),
                             "pipeline": cases()["e2e"]["pipeline"]})
    loader = build_dataloader(dataset, samples_per_gpu=len(names), workers_per_gpu=0, shuffle=False,
                              fuse_normalize=True)
    batch = next(iter(loader))
    assert batch["img"].dtype == torch.uint8  # a quarter of float32's bytes from the loader workers
    images = prepare_images(batch)
    for i, name in enumerate(names):
        _assert_e2e(images[i], name)


# --------------------------------------------------------------------------------------- Pillow backend
@pytest.mark.parametrize("cfg", [
    {"type": "Resize", "size": [24, -1], "interpolation": "bicubic", "backend": "pillow"},
    {"type": "Resize", "size": [20, 30], "interpolation": "box", "backend": "pillow"},
    {"type": "Resize", "size": [20, 30], "interpolation": "hamming", "backend": "pillow"},
    {"type": "RandomResizedCrop", "size": 24, "backend": "pillow"},
    {"type": "CenterCrop", "crop_size": 24, "efficientnet_style": True, "backend": "pillow"},
], ids=lambda cfg: f"{cfg['type']}-{cfg.get('interpolation', 'bilinear')}")
def test_the_pillow_backend_stays_available(cfg):
    """``backend='pillow'`` gives Pillow's resampling: the right size and dtype and a picture close to
    OpenCV's (not equal to it, and not checked against MMCls)."""
    img = recorded("loading")["rgb_320x240.jpg|color"]
    _seed(0)
    pillow = as_array(_run([cfg], img))
    _seed(0)
    cv2_cfg = dict(cfg, backend="cv2", interpolation="bilinear") if cfg.get("interpolation") in ("box", "hamming") \
        else dict(cfg, backend="cv2")
    opencv = as_array(_run([cv2_cfg], img))
    assert pillow.dtype == np.uint8 and pillow.shape == opencv.shape
    assert pillow.shape[:2] == ((24, 32) if cfg["type"] == "Resize" and cfg["size"][1] == -1
                                else tuple(cfg["size"]) if cfg["type"] == "Resize" else (24, 24))
    mean_difference = float(np.abs(pillow.astype(np.float64) - opencv).mean())
    assert mean_difference < 12, f"Pillow's picture is {mean_difference:.1f} grey levels from OpenCV's on average"


@pytest.mark.parametrize("name", ["rgb_320x240.jpg", "rgb_45x31.png", "grey_29x41.png", "exif_rot6_40x24.jpg"])
def test_loading_with_pillow_stays_available(name):
    """``LoadImageFromFile(backend='pillow')`` decodes with Pillow: BGR, the same shape (EXIF orientation
    applied), a lossless PNG to the same values, a JPEG close to OpenCV's decode."""
    load = TRANSFORMS.build({"type": "LoadImageFromFile", "backend": "pillow"})
    img = load({"img_prefix": str(INPUTS), "img_info": {"filename": name}})["img"]
    opencv = recorded("loading")[f"{name}|color"]
    assert img.dtype == np.uint8 and img.shape == opencv.shape
    difference = np.abs(img.astype(np.int16) - opencv)
    if name.endswith(".png"):
        assert difference.max() == 0
    else:
        assert difference.mean() < 2, f"Pillow's decode is {difference.mean():.2f} grey levels from OpenCV's"
