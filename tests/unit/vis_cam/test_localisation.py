"""The maps point at what the model looks at: on a model that tells classes apart by where a bright square
lies, each category's map is hottest in that category's corner."""

from __future__ import annotations

import numpy as np
import pytest

from workers.apis import init_model
from workers.tools.vis_cam import compute_cam

CLASS_METHODS = ["GradCAM", "GradCAM++", "XGradCAM", "EigenGradCAM", "LayerCAM"]


def _quadrants(cam: np.ndarray) -> tuple[float, float]:
    half = cam.shape[0] // 2
    return float(cam[:half, :half].mean()), float(cam[half:, half:].mean())


@pytest.mark.parametrize("method", CLASS_METHODS)
def test_each_categorys_map_is_hottest_in_its_corner(corner_run, both_corners, method):
    spec_file, checkpoint = corner_run
    model = init_model(str(spec_file), checkpoint)

    result = compute_cam(model, str(both_corners), method=method, target_category=[0, 1])

    assert result.categories == [0, 1]
    top_left_map, bottom_right_map = result.cams
    assert result.image.shape == (32, 32, 3) and top_left_map.shape == (32, 32)
    tl, br = _quadrants(top_left_map)
    assert tl > 2 * br, f"{method}, class 0: top-left {tl:.2f}, bottom-right {br:.2f}"
    tl, br = _quadrants(bottom_right_map)
    assert br > 2 * tl, f"{method}, class 1: top-left {tl:.2f}, bottom-right {br:.2f}"


@pytest.mark.parametrize("smooth", [{"aug_smooth": True}, {"eigen_smooth": True}], ids=["aug", "eigen"])
def test_the_predicted_categorys_map_still_points_at_the_square_when_smoothed(corner_run, top_left, smooth):
    spec_file, checkpoint = corner_run
    model = init_model(str(spec_file), checkpoint)

    result = compute_cam(model, str(top_left), method="GradCAM", **smooth)

    assert result.categories == [0]  # predicted
    y, x = np.unravel_index(result.cams[0].argmax(), result.cams[0].shape)
    assert y < 16 and x < 16, f"the peak is at {(y, x)}"


def test_eigencam_follows_the_square_without_a_class(corner_run, top_left):
    spec_file, checkpoint = corner_run
    model = init_model(str(spec_file), checkpoint)

    cam = compute_cam(model, str(top_left), method="EigenCAM").cams[0]

    tl, br = _quadrants(cam)
    assert tl > br, f"top-left {tl:.2f}, bottom-right {br:.2f}"


def test_an_image_array_gives_the_same_map_as_its_file(corner_run, both_corners):
    import cv2

    spec_file, checkpoint = corner_run
    model = init_model(str(spec_file), checkpoint)

    from_file = compute_cam(model, str(both_corners), target_category=[1])
    from_array = compute_cam(model, cv2.imread(str(both_corners)), target_category=[1])

    assert (from_array.image == from_file.image).all()
    np.testing.assert_allclose(from_array.cams, from_file.cams, atol=1e-5)
