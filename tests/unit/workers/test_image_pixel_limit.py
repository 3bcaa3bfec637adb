"""The image loader refuses an image over ``TRAINYARD_MAX_IMAGE_PIXELS`` before decoding it: a PNG of a few
KiB that decodes to gigabytes (a decompression bomb) costs no memory."""
import json
import subprocess
import sys

import pytest
from PIL import Image

from tests.support.datasets import bomb_png
from workers.data.transforms.loading import DEFAULT_MAX_IMAGE_PIXELS, ImageTooLarge, imread

# Runs in a fresh interpreter: the peak of its resident memory (Linux's VmHWM, reset before each read) tells
# whether a read decoded the pixels.
PROBE = """
import json, sys
from workers.data.transforms.loading import imread

def peak_mib(reset=False):
    if reset:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak starts again from the current resident size
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM:"))

out = {}
for name in sys.argv[1:]:
    start = peak_mib(reset=True)
    try:
        imread(name)
        outcome = "decoded"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    out[name] = {"outcome": outcome, "grew_mib": peak_mib() - start}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    files = {"pillow_bomb": (20000, 20000), "our_bomb": (9000, 9000), "honest": (4000, 4000)}
    for name, size in files.items():
        (folder / f"{name}.png").write_bytes(bomb_png(*size))
    names = [str(folder / f"{name}.png") for name in files]
    done = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: result[str(folder / f"{name}.png")] | {"path": str(folder / f"{name}.png")} for name in files}


def test_the_bombs_are_small_files(probe):
    from pathlib import Path

    assert Path(probe["pillow_bomb"]["path"]).stat().st_size < 64 * 1024  # 400 Mpx: 1.2 GB as RGB
    assert Path(probe["our_bomb"]["path"]).stat().st_size < 16 * 1024  # 81 Mpx: 243 MB as RGB


def test_it_refuses_an_image_over_the_limit_without_decoding_it(probe):
    bomb = probe["our_bomb"]
    assert bomb["outcome"] == (
        f"ImageTooLarge: {bomb['path']}: 9000x9000 = 81000000 pixels, over the limit of {DEFAULT_MAX_IMAGE_PIXELS} "
        "(TRAINYARD_MAX_IMAGE_PIXELS); the image was not decoded.")
    assert bomb["grew_mib"] < 32


def test_it_refuses_an_image_over_pillows_own_limit_without_decoding_it(probe):
    bomb = probe["pillow_bomb"]
    assert bomb["outcome"].startswith(f"ImageTooLarge: {bomb['path']}: Image size (400000000 pixels) exceeds limit")
    assert f"over the limit of {DEFAULT_MAX_IMAGE_PIXELS} pixels (TRAINYARD_MAX_IMAGE_PIXELS)" in bomb["outcome"]
    assert bomb["grew_mib"] < 32


def test_the_probe_sees_a_decoded_image(probe):
    # 16 Mpx decoded to RGB: the measurement above would have seen a decode
    assert probe["honest"]["outcome"] == "decoded" and probe["honest"]["grew_mib"] >= 48


def test_the_limit_comes_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.new("RGB", (20, 10)).save(path)
    monkeypatch.setenv("TRAINYARD_MAX_IMAGE_PIXELS", "199")
    with pytest.raises(ImageTooLarge, match=r"20x10 = 200 pixels, over the limit of 199 \(TRAINYARD_MAX_IMAGE_PIXELS\)"):
        imread(str(path))
    monkeypatch.setenv("TRAINYARD_MAX_IMAGE_PIXELS", "200")
    assert imread(str(path)).shape == (10, 20, 3)


def test_a_limit_that_is_not_a_number_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.new("RGB", (2, 2)).save(path)
    monkeypatch.setenv("TRAINYARD_MAX_IMAGE_PIXELS", "64M")
    with pytest.raises(ValueError, match="TRAINYARD_MAX_IMAGE_PIXELS must be a whole number of pixels, not '64M'"):
        imread(str(path))
