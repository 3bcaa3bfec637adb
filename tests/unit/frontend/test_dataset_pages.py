"""The datasets pages: list, register (path or zip), detail with the verification, verify again."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from backend.experiments.models import Dataset
from tests.support.datasets import make_zip, png, write_folders


def login(who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


@pytest.fixture
def storage(settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    return tmp_path


def test_it_lists_only_the_teams_datasets(cast):
    page = login("viewer").get("/datasets").content.decode()
    assert "digits" in page and "secret" not in page
    assert 'id="dataset-form"' not in page  # a viewer cannot register


def test_it_registers_a_path_and_shows_the_verification(cast, storage):
    write_folders(storage / "datasets" / "team-a" / "pets")
    r = login("member").post("/datasets", {"name": "pets", "path": "datasets/team-a/pets"}, follow=True)
    page = r.content.decode()
    ds = Dataset.objects.get(name="pets")
    assert r.redirect_chain[-1][0] == f"/datasets/{ds.pk}"
    assert "folders" in page and ds.fingerprint in page and "cat: 2, dog: 2" in page and "verified" in page


def test_it_registers_an_uploaded_zip(cast, storage):
    upload = SimpleUploadedFile("pets.zip", make_zip({"train/cat/a.png": png(), "train/dog/b.png": png()}).read())
    login("owner").post("/datasets", {"name": "pets", "file": upload})
    assert Dataset.objects.get(name="pets").verification["ok"]


def test_it_shows_a_registration_error(cast, storage):
    r = login("member").post("/datasets", {"name": "x", "path": "../etc"})
    assert r.status_code == 400 and "inside your team&#x27;s area datasets/team-a/" in r.content.decode()


def test_it_lists_the_problems_found(cast, storage):
    upload = SimpleUploadedFile("bad.zip", make_zip({"meta/train.txt": "gone.png 0\n", "x.txt": "x"}).read())
    r = login("member").post("/datasets", {"name": "bad", "file": upload}, follow=True)
    assert 'id="verification-problems"' in r.content.decode() and "are missing" in r.content.decode()


@pytest.mark.parametrize("who, status", [("owner", 302), ("member", 302), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_writers_verify_again(cast, storage, who, status):
    write_folders(storage / "datasets" / "team-a" / "digits", classes=["0"], per_class=1)
    assert login(who).post(f"/datasets/{cast.dataset.pk}/verify").status_code == status
    cast.dataset.refresh_from_db()
    assert bool(cast.dataset.verification) == (status == 302)


@pytest.mark.parametrize("who, status", [("owner", 200), ("viewer", 200), ("outsider", 404)])
def test_it_shows_a_dataset_only_to_its_team(cast, who, status):
    assert login(who).get(f"/datasets/{cast.dataset.pk}").status_code == status


def test_it_refuses_registration_by_a_viewer(cast, storage):
    write_folders(storage / "datasets" / "team-a" / "d")
    assert login("viewer").post("/datasets", {"name": "v", "path": "datasets/team-a/d"}).status_code == 403
    assert not Dataset.objects.filter(name="v").exists()
