"""Datasets belong to teams: a folder registered by path lies in ``datasets/<team slug>/`` or a shared folder
(``TRAINYARD_SHARED_DATASETS``), links followed; dispatch and verification check a stored row again."""
import json
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from backend.experiments import lifecycle, ray_jobs, submit
from backend.experiments.models import Dataset, Run, RunStatus, Sweep
from backend.project.settings import _shared_dataset_keys
from tests.support.datasets import make_zip, png, write_folders

SWEEP_SPEC = "demo/resnet18-tiny_asha-sweep_digits.py"


def outside(path: str, shared: str = "") -> str:
    where = "inside your team's area datasets/team-a/" + (f" or inside a shared folder ({shared})" if shared else "")
    return (f"A dataset must be a folder {where}, named relative to the storage root without '..' (got {path!r}). "
            "Upload a zip instead, or ask an operator to place the data there or to share its folder "
            "(TRAINYARD_SHARED_DATASETS).")


@pytest.fixture
def storage(settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path / "storage"
    settings.TRAINYARD_SHARED_DATASETS = ()
    (tmp_path / "storage").mkdir()
    return tmp_path / "storage"


@pytest.fixture
def submitted(monkeypatch):
    calls = []
    monkeypatch.setattr(ray_jobs, "submit", lambda *args: calls.append(args) or True)
    return calls


def register(cast, path, who="member"):
    return cast.clients[who].post("/api/datasets", {"name": "x", "path": path}, format="json")


@pytest.mark.parametrize("path", ["datasets/team-b/secret", "datasets/team-b", "datasets", "datasets/team-a",
                                  "runs", ".", "./", "/etc", "../storage/datasets/team-b/secret",
                                  "datasets/team-a/../team-b/secret", "datasets/team-a/x/../../team-b/secret",
                                  "C:/datasets/team-a/x"])
def test_it_refuses_a_folder_outside_the_teams_area(cast, storage, path):
    write_folders(storage / "datasets" / "team-b" / "secret")
    (storage / "runs").mkdir()
    r = register(cast, path)
    assert r.status_code == 400 and r.json()["detail"] == outside(path)
    assert not Dataset.objects.filter(name="x").exists()


def test_it_answers_the_same_for_another_teams_folder_that_exists_and_one_that_does_not(cast, storage):
    write_folders(storage / "datasets" / "team-b" / "secret")
    there = register(cast, "datasets/team-b/secret").json()["detail"]
    not_there = register(cast, "datasets/team-b/nothing").json()["detail"]
    assert there.replace("secret", "?") == not_there.replace("nothing", "?")


def test_it_says_a_missing_folder_is_missing_only_inside_the_area(cast, storage):
    r = register(cast, "datasets/team-a/nothing")
    assert r.status_code == 400 and r.json()["detail"] == "No folder 'datasets/team-a/nothing' on the storage."


def test_it_refuses_a_link_in_the_area_that_leads_out_of_it(cast, storage):
    write_folders(storage / "datasets" / "team-b" / "secret")
    (storage / "datasets" / "team-a").mkdir(parents=True)
    os.symlink("../team-b/secret", storage / "datasets" / "team-a" / "alias")
    os.symlink("../team-b/nothing", storage / "datasets" / "team-a" / "dangling")
    assert register(cast, "datasets/team-a/alias").json()["detail"] == outside("datasets/team-a/alias")
    assert register(cast, "datasets/team-a/dangling").json()["detail"] == outside("datasets/team-a/dangling")
    assert not Dataset.objects.filter(name="x").exists()


def test_it_follows_a_link_that_stays_in_the_area(cast, storage):
    write_folders(storage / "datasets" / "team-a" / "pets")
    os.symlink("pets", storage / "datasets" / "team-a" / "alias")
    r = register(cast, "datasets/team-a/alias")
    assert r.status_code == 201, r.content
    assert Dataset.objects.get(name="x").path == "datasets/team-a/alias"


def test_every_team_registers_a_shared_folder(cast, storage, settings):
    settings.TRAINYARD_SHARED_DATASETS = ("shared/imagenet",)
    write_folders(storage / "shared" / "imagenet")
    assert register(cast, "shared/imagenet").status_code == 201
    assert register(cast, "shared/imagenet", who="outsider").status_code == 201
    assert Dataset.objects.filter(name="x", path="shared/imagenet").count() == 2


def test_a_refusal_names_the_shared_folders(cast, storage, settings):
    settings.TRAINYARD_SHARED_DATASETS = ("shared/imagenet",)
    write_folders(storage / "shared" / "other")
    assert register(cast, "shared/other").json()["detail"] == outside("shared/other", "shared/imagenet/")


def test_a_shared_folder_may_be_an_operators_link_out_of_the_storage(cast, storage, settings, tmp_path):
    settings.TRAINYARD_SHARED_DATASETS = ("shared/big",)
    write_folders(tmp_path / "mnt" / "big")
    (storage / "shared").mkdir()
    os.symlink(tmp_path / "mnt" / "big", storage / "shared" / "big")
    r = register(cast, "shared/big")
    assert r.status_code == 201, r.content
    assert r.json()["num_train"] == 4


def test_no_upload_lands_in_a_shared_folder(cast, storage, settings):
    settings.TRAINYARD_SHARED_DATASETS = ("datasets/team-a/common",)
    upload = make_zip({"train/cat/a.png": png()})
    r = cast.clients["owner"].post("/api/datasets", {"name": "common", "file": upload}, format="multipart")
    assert r.status_code == 400 and r.json()["detail"].startswith("datasets/team-a/common lies in the shared folder")
    assert not (storage / "datasets" / "team-a" / "common").exists()


@pytest.mark.parametrize("value", [".", "/srv/data", "../x", "runs", "sweeps/1", "datasets", "datasets/"])
def test_the_operator_cannot_share_the_root_or_the_services_folders(value):
    with pytest.raises(ImproperlyConfigured, match="TRAINYARD_SHARED_DATASETS"):
        _shared_dataset_keys(value)


def test_shared_folders_are_read_as_keys():
    assert _shared_dataset_keys(" shared/imagenet/ , ,datasets/common") == ("shared/imagenet", "datasets/common")


# --- a stored row is checked again --------------------------------------------------------------


@pytest.mark.parametrize("path", ["datasets/digits", "datasets/team-b/secret", "/srv/nfs/digits", "../digits"])
def test_a_run_whose_dataset_lies_outside_its_teams_area_fails_at_dispatch(cast, storage, submitted, path):
    Dataset.objects.filter(pk=cast.dataset.pk).update(path=path)  # a row from before team areas, or the admin
    run = cast.make_run()
    assert lifecycle.dispatch(Run, str(run.pk)) == "refused"
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and submitted == []
    assert run.status_reason == (
        f"not dispatched: Dataset 'digits' is at {path!r}, outside team team-a's area datasets/team-a/ and the "
        "shared folders, so no run may read it. Register it again from inside the area (or upload it as a zip).")
    assert not (storage / "runs" / str(run.pk) / "job.json").exists()


def test_a_run_whose_dataset_became_a_link_out_fails_at_dispatch(cast, storage, submitted):
    write_folders(storage / "datasets" / "team-b" / "secret")
    (storage / "datasets" / "team-a").mkdir(parents=True)
    os.symlink("../team-b/secret", storage / "datasets" / "team-a" / "digits")
    run = cast.make_run()
    assert lifecycle.dispatch(Run, str(run.pk)) == "refused"
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and submitted == []


def test_a_sweep_whose_dataset_lies_outside_its_teams_area_fails_at_dispatch(cast, storage, submitted):
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    Dataset.objects.filter(pk=cast.dataset.pk).update(path="datasets/digits")
    assert lifecycle.dispatch(Sweep, str(sweep.pk)) == "refused"
    sweep.refresh_from_db()
    assert sweep.status == RunStatus.FAILED and "outside team team-a's area" in sweep.status_reason
    assert submitted == []


def test_a_run_in_its_teams_area_is_dispatched_by_key(cast, storage, submitted):
    run = cast.make_run()
    assert lifecycle.dispatch(Run, str(run.pk)) == "submitted"
    job = json.loads((storage / "runs" / str(run.pk) / "job.json").read_text())
    assert job["data_key"] == "datasets/team-a/digits"


def test_verification_does_not_look_outside_the_area(cast, storage):
    write_folders(storage / "datasets" / "team-b" / "secret")
    Dataset.objects.filter(pk=cast.dataset.pk).update(path="datasets/team-b/secret")
    r = cast.clients["owner"].post(f"/api/datasets/{cast.dataset.pk}/verify")
    v = r.json()["verification"]
    assert r.status_code == 200 and not v["ok"] and v["splits"] == {} and r.json()["classes"] != ["cat", "dog"]
    assert v["problems"][0].startswith("Dataset 'digits' is at 'datasets/team-b/secret', outside team team-a's area")
