"""Datasets belong to teams, on the real stack (PostgreSQL, Redis, Ray): a member of a second team tries to
register the demo team's dataset folder (or anything else outside ``datasets/intruders/``) by path, to train
on the demo team's dataset, and to upload zip bombs, ``.link`` names and an image bomb."""
import io
import zipfile

import pytest

from tests.support.datasets import bomb_png, make_zip, png

pytestmark = pytest.mark.integration


def outside(path: str) -> str:
    return (f"A dataset must be a folder inside your team's area datasets/intruders/, named relative to the storage "
            f"root without '..' (got {path!r}). Upload a zip instead, or ask an operator to place the data there "
            "or to share its folder (TRAINYARD_SHARED_DATASETS).")


@pytest.fixture(scope="module")
def attacker(attack_stack):
    """A member of the second team of its own: registrations are rate-limited per user, and other attack
    files register datasets as ``attack_stack.attacker``."""
    return attack_stack.client_for("mallet", "intruders", role="member")


def dataset_names(client) -> set[str]:
    r = client.api("GET", "/api/datasets", params={"limit": 500})
    assert r.status_code == 200, r.text
    body = r.json()
    return {d["name"] for d in (body["results"] if isinstance(body, dict) else body)}


def upload(client, name: str, zipped: io.BytesIO):
    return client.api("POST", "/api/datasets", data={"name": name}, files={"file": ("data.zip", zipped)})


def test_it_registers_no_folder_outside_the_attackers_area(attack_stack, attacker):
    storage = attack_stack.stack.var_dir / "storage"
    assert (storage / "datasets" / "demo" / "digits" / "train").is_dir(), "seed_demo wrote no datasets/demo/digits"
    before = dataset_names(attacker)
    paths = ["datasets/demo/digits", "datasets/demo/digits/train", "datasets/demo", "datasets", "runs", ".",
             "datasets/intruders/../demo/digits", "datasets/intruders/x/../../demo/digits",
             "../storage/datasets/demo/digits", "/etc", str(storage / "datasets" / "demo" / "digits"),
             "datasets/demo/no-such-folder"]
    for i, path in enumerate(paths):
        r = attacker.api("POST", "/api/datasets", json={"name": f"steal-{i}", "path": path})
        assert (r.status_code, r.json().get("detail")) == (400, outside(path)), path
    assert dataset_names(attacker) == before


def test_a_run_of_the_attacker_cannot_name_the_demo_teams_dataset(attack_stack, attacker):
    assert "digits" not in dataset_names(attacker)
    body = attack_stack.api("GET", "/api/datasets", params={"limit": 500}).json()
    [demo_digits] = [d for d in (body["results"] if isinstance(body, dict) else body) if d["name"] == "digits"]
    assert demo_digits["path"] == "datasets/demo/digits"
    for dataset in ("digits", demo_digits["id"]):
        r = attacker.api("POST", "/api/runs", json={"spec_name": "demo/resnet18-tiny_2xb32-6e_digits.py",
                                                    "dataset": dataset})
        assert r.status_code == 400, r.text
        assert r.json()["detail"].startswith(f"No dataset '{dataset}' in team intruders")


def test_a_zip_bomb_by_ratio_is_refused(attack_stack, attacker):
    zipped = make_zip({"train/cat/a.png": png(), "train/cat/b.bmp": bytes(64 * 1024 ** 2)}, zipfile.ZIP_DEFLATED)
    r = upload(attacker, "bomb", zipped)
    assert r.status_code == 400 and r.json()["detail"].startswith(
        f"The zip member 'train/cat/b.bmp' unpacks to {64 * 1024 ** 2} bytes from "), r.text
    assert "bomb" not in dataset_names(attacker)
    assert not (attack_stack.stack.var_dir / "storage" / "datasets" / "intruders" / "bomb").exists()


def test_a_zip_with_link_names_is_refused(attack_stack, attacker):
    r = upload(attacker, "links", make_zip({"train/cat/a.png": png(), "train/etc.link": b"/etc"}))
    assert r.status_code == 400 and r.json()["detail"] == (
        "The zip holds 'train/etc.link': names ending in '.link' are refused (the storage keeps its links under "
        "such names). Rename the file."), r.text
    assert "links" not in dataset_names(attacker)
    assert not (attack_stack.stack.var_dir / "storage" / "datasets" / "intruders" / "links").exists()


def test_an_image_bomb_in_an_upload_is_reported_by_verification(attacker):
    r = upload(attacker, "pixels", make_zip({"train/cat/a.png": png(), "train/cat/bomb.png": bomb_png(9000, 9000)}))
    assert r.status_code == 201, r.text
    v = r.json()["verification"]
    assert not v["ok"] and v["splits"]["train"]["too_large"] == ["bomb.png (9000x9000)"]
    assert any("bomb.png (9000x9000); training refuses them." in p for p in v["problems"])
