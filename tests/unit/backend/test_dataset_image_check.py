"""Verification decodes a sample of a dataset's images, and names an image over ``TRAINYARD_MAX_IMAGE_PIXELS``
(a decompression bomb) as a problem without decoding it."""
import json
import os
import subprocess
import sys

import pytest

from tests.support.datasets import bomb_png, make_zip, png, png_with_bad_pixels


@pytest.fixture
def storage(settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    return tmp_path


def verification(cast, files: dict) -> dict:
    r = cast.clients["owner"].post("/api/datasets", {"name": "up", "file": make_zip(files)}, format="multipart")
    assert r.status_code == 201, r.content
    return r.json()["verification"]


def test_it_reports_an_image_over_the_pixel_limit(cast, storage):
    v = verification(cast, {"train/cat/a.png": png(), "train/cat/bomb.png": bomb_png(9000, 9000)})
    assert not v["ok"] and v["splits"]["train"]["too_large"] == ["bomb.png (9000x9000)"]
    assert v["problems"] == [f"train: 1 image(s) have more than {64 * 1024 ** 2} pixels (TRAINYARD_MAX_IMAGE_PIXELS), "
                             "e.g. bomb.png (9000x9000); training refuses them."]


def test_it_reports_an_image_over_pillows_own_limit(cast, storage):
    v = verification(cast, {"train/cat/a.png": png(), "train/cat/bomb.png": bomb_png(20000, 20000)})
    assert v["splits"]["train"]["too_large"] == ["bomb.png"] and v["splits"]["train"]["unreadable"] == []


def test_the_pixel_limit_is_a_setting(cast, storage, settings):
    settings.TRAINYARD_MAX_IMAGE_PIXELS = 15
    v = verification(cast, {"train/cat/a.png": png((4, 4))})
    assert v["splits"]["train"]["too_large"] == ["a.png (4x4)"] and not v["ok"]


def test_it_decodes_the_images_it_checks(cast, storage):
    # Image.verify() alone passes this file: only decoding finds the broken pixel data
    v = verification(cast, {"train/cat/a.png": png(), "train/cat/b.png": png_with_bad_pixels()})
    assert v["splits"]["train"]["unreadable"] == ["b.png"]
    assert "train: 1 image(s) cannot be read, e.g. b.png." in v["problems"]


# The peak of the process's resident memory (Linux's VmHWM, reset first) tells whether the check decoded pixels.
PROBE = """
import json, sys
import django
django.setup()
from pathlib import Path
from backend.experiments.datasets import _check_images

def peak_mib(reset=False):
    if reset:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM:"))

start = peak_mib(reset=True)
result = _check_images([Path(sys.argv[1])])
print(json.dumps({"result": result, "grew_mib": peak_mib() - start}))
"""


def test_it_checks_a_bomb_without_decoding_it(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png(9000, 9000))  # 10 KiB; 81 MB decoded as it is, 243 MB as RGB
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.project.settings_test"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(bomb)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["result"] == [[], ["bomb.png (9000x9000)"]] and out["grew_mib"] < 32
