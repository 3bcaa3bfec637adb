"""``trainyard verify-dataset SPEC``: every image of a split decoded (in parallel), the broken ones listed in
``--out-path``; the web's dataset check runs the same ``check_image``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.datasets import bomb_png, png_with_bad_pixels
from workers.cli import main
from workers.data.transforms.loading import DEFAULT_MAX_IMAGE_PIXELS
from workers.tools import verify_dataset


@pytest.fixture
def damaged(tiny_run, tmp_path):
    """A copy of the tiny run's data with a truncated PNG, one with bad pixel data and a decompression bomb in
    val; returns ``(data root, the three broken paths in dataset order)``."""
    root = tmp_path / "root"
    shutil.copytree(tiny_run.root / "data", root / "data")
    val = root / "data" / "digits" / "val"
    first = sorted((val / "3").iterdir())[0]
    first.write_bytes(first.read_bytes()[:40])
    bad_pixels = sorted((val / "5").iterdir())[1]
    bad_pixels.write_bytes(png_with_bad_pixels())
    bomb = val / "7" / "9999.png"
    bomb.write_bytes(bomb_png(9000, 9000))
    return root, [str(first), str(bad_pixels), str(bomb)]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_it_lists_every_broken_image(tiny_run, damaged, tmp_path, processes, capsys):
    root, broken = damaged
    out = tmp_path / "broken.log"
    code = main(["verify-dataset", str(tiny_run.spec_file), "--data-root", str(root), "--phase", "val",
                 "--num-process", processes, "--out-path", str(out)])
    assert code == 1
    assert out.read_text().splitlines() == broken
    captured = capsys.readouterr()
    assert captured.out.strip() == f"3 broken files found, name list save in file:{out}"
    assert f"{broken[2]} cannot be read correctly (too_large: 9000x9000 = 81000000 pixels" in captured.err


def test_a_sound_split_leaves_no_list(tiny_run, damaged, tmp_path, capsys):
    root, _ = damaged
    out = tmp_path / "broken.log"
    out.write_text("stale\n")
    assert main(["verify-dataset", str(tiny_run.spec_file), "--data-root", str(root), "--out-path", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "There is no broken file found." and not out.exists()


def test_the_check_names_why_an_image_is_broken(damaged, tmp_path):
    _, (truncated, bad_pixels, bomb) = damaged
    assert verify_dataset.check_image(truncated).kind == "unreadable"
    assert verify_dataset.check_image(bad_pixels).kind == "unreadable"
    assert verify_dataset.check_image(bomb).size == (9000, 9000)
    assert verify_dataset.check_image(tmp_path / "gone.png").kind == "missing"
    assert verify_dataset.DEFAULT_MAX_IMAGE_PIXELS == DEFAULT_MAX_IMAGE_PIXELS


def test_the_web_check_uses_the_same_function(damaged, settings):
    """The backend's sample check (``_check_images``) reports what ``check_image`` finds, under the setting's
    limit."""
    from backend.experiments.datasets import _check_images

    _, (truncated, bad_pixels, bomb) = damaged
    paths = [Path(truncated), Path(bad_pixels), Path(bomb)]
    assert _check_images(paths) == ([paths[0].name, paths[1].name], ["9999.png (9000x9000)"])
    settings.TRAINYARD_MAX_IMAGE_PIXELS = 9000 * 9000
    assert _check_images([Path(bomb)]) == ([], [])  # at the limit: decoded, and sound


def test_it_refuses_a_missing_split(tiny_run, capsys):
    spec = str(tiny_run.spec_file)
    assert main(["verify-dataset", spec, "--cfg-options", "data.test=None", "--phase", "test"]) == 1
    assert "the spec has no data.test" in capsys.readouterr().err
