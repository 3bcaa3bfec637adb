"""``trainyard vis-pipeline SPEC``: pictures of a split's images as loaded, after the project's pipeline, both,
and after every step."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from workers.cli import main
from workers.tools.vis_pipeline import to_display


def run(tiny_run, out, *extra) -> int:
    return main(["vis-pipeline", str(tiny_run.spec_file), "--data-root", str(tiny_run.root), "--output-dir", str(out),
                 *extra])


def test_original_and_transformed_pictures(tiny_run, tmp_path, capsys):
    # the demo's train pipeline: load (8x8 digits written at 16x16), Resize 16, RandomCrop 16 with 2 px padding
    assert run(tiny_run, tmp_path / "o", "--mode", "original", "--number", "4") == 0
    originals = sorted((tmp_path / "o").iterdir())
    assert len(originals) == 4 and all(p.name.endswith("_original.png") for p in originals)
    source = sorted((tiny_run.root / "data" / "digits" / "train" / "0").iterdir())[0]
    assert np.array_equal(cv2.imread(str(originals[0])), cv2.imread(str(source)))
    assert capsys.readouterr().out.strip() == f"4 pictures (original) saved to {tmp_path / 'o'}"
    assert run(tiny_run, tmp_path / "t", "--mode", "transformed", "--number", "2") == 0
    assert all(cv2.imread(str(p)).shape == (16, 16, 3) for p in (tmp_path / "t").iterdir())


def test_concat_puts_both_side_by_side_with_titles(tiny_run, tmp_path):
    assert run(tiny_run, tmp_path, "--number", "1", "--adaptive", "--min-edge-length", "64") == 0  # concat: default
    (picture,) = tmp_path.iterdir()
    image = cv2.imread(str(picture))
    assert picture.name.endswith("_concat.png") and image.shape == (22 + 64, 64 + 6 + 64, 3)


def test_pipeline_mode_shows_every_step(tiny_run, tmp_path):
    assert run(tiny_run, tmp_path, "--mode", "pipeline", "--number", "1", "--phase", "val") == 0
    (picture,) = tmp_path.iterdir()
    # val's steps after the skipped ones: LoadImageFromFile and Resize: two 16x16 panels with a title bar each
    assert cv2.imread(str(picture)).shape == (22 + 16, 16 + 6 + 16, 3)
    assert run(tiny_run, tmp_path / "all", "--mode", "pipeline", "--number", "1", "--skip-type", "Collect") == 0
    (every,) = (tmp_path / "all").iterdir()
    # train, Collect skipped: load, Resize, RandomCrop, Normalize, ImageToTensor, ToTensor: 6 panels, 4 a row
    assert cv2.imread(str(every)).shape == (22 + 16 + 6 + 22 + 16, 4 * 16 + 3 * 6, 3)


def test_normalised_and_tensor_images_are_shown_in_range():
    chw = np.stack([np.linspace(-2, 2, 16).reshape(4, 4)] * 3).astype(np.float32)
    import torch

    shown = to_display(torch.from_numpy(chw))
    assert shown.shape == (4, 4, 3) and shown.dtype == np.uint8 and (shown.min(), shown.max()) == (0, 255)
    assert to_display(np.zeros((3,), np.float32)) is None


def test_it_explains_a_pipeline_it_cannot_show(tiny_run, tmp_path, capsys):
    assert run(tiny_run, tmp_path, "--skip-type", "LoadImageFromFile") == 1
    assert "this tool shows pipelines that start with LoadImageFromFile" in capsys.readouterr().err


def test_it_refuses_an_unknown_mode(tiny_run, tmp_path, capsys):
    with pytest.raises(SystemExit):
        run(tiny_run, tmp_path, "--mode", "sideways")
    assert "invalid choice: 'sideways'" in capsys.readouterr().err
