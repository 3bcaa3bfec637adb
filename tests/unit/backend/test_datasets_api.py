"""POST /api/datasets (a storage path or a zip upload) and POST /api/datasets/{id}/verify."""
import io

import pytest

from backend.experiments.models import Dataset
from tests.support.datasets import make_zip, png, write_folders


@pytest.fixture
def storage(settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    return tmp_path


def test_it_registers_a_folder_on_storage_and_verifies_it(cast, storage):
    write_folders(storage / "datasets" / "team-a" / "pets")
    r = cast.clients["member"].post("/api/datasets", {"name": "pets", "path": "datasets/team-a/pets"},
                                    format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["classes"] == ["cat", "dog"] and (body["num_train"], body["num_val"]) == (4, 4)
    v = body["verification"]
    assert v["layout"] == "folders" and v["ok"] and v["problems"] == []
    assert v["splits"]["train"]["per_class"] == {"cat": 2, "dog": 2}
    assert len(body["fingerprint"]) == 64 and body["team"] == "team-a"


def outside(path: str) -> str:
    return (f"A dataset must be a folder inside your team's area datasets/team-a/, named relative to the storage "
            f"root without '..' (got {path!r}). Upload a zip instead, or ask an operator to place the data there "
            "or to share its folder (TRAINYARD_SHARED_DATASETS).")


@pytest.mark.parametrize("path, message", [
    ("/etc", outside("/etc")),
    ("../outside", outside("../outside")),
    ("datasets/team-a/none", "No folder 'datasets/team-a/none' on the storage."),
])
def test_it_refuses_paths_off_the_storage(cast, storage, path, message):
    r = cast.clients["member"].post("/api/datasets", {"name": "x", "path": path}, format="json")
    assert r.status_code == 400 and r.json()["detail"] == message
    assert not Dataset.objects.filter(name="x").exists()


def test_it_registers_an_uploaded_zip_of_class_folders(cast, storage):
    upload = make_zip({f"pets/{s}/{c}/{i}.png": png() for s in ("train", "val") for c in ("cat", "dog")
                       for i in range(3)})
    r = cast.clients["owner"].post("/api/datasets", {"name": "pets", "file": upload}, format="multipart")
    assert r.status_code == 201, r.content
    ds = Dataset.objects.get(name="pets")
    assert ds.path == "datasets/team-a/pets" and (storage / ds.path / "train" / "cat" / "0.png").is_file()
    assert (ds.num_train, ds.num_val, ds.verification["ok"]) == (6, 6, True)


def test_it_reads_the_annotation_file_layout(cast, storage):
    files = {"meta/classes.txt": "cat\ndog\n", "meta/train.txt": "a.png 0\nb.png 1\nc.png 1\n",
             "meta/val.txt": "d.png 0\n"}
    files.update({f"train/{n}.png": png() for n in "abc"})
    files["val/d.png"] = png()
    r = cast.clients["owner"].post("/api/datasets", {"name": "ann", "file": make_zip(files)}, format="multipart")
    v = r.json()["verification"]
    assert v["layout"] == "ann-file" and v["ok"], v["problems"]
    assert v["splits"]["train"]["per_class"] == {"cat": 1, "dog": 2} and r.json()["classes"] == ["cat", "dog"]


def test_it_reports_missing_and_unreadable_images(cast, storage):
    files = {"meta/train.txt": "a.png 0\nb.png 1\ngone.png 1\n", "train/a.png": png(), "train/b.png": b"not a png"}
    r = cast.clients["owner"].post("/api/datasets", {"name": "bad", "file": make_zip(files)}, format="multipart")
    v = r.json()["verification"]
    assert not v["ok"]
    assert "train: 1 file(s) listed in meta/train.txt are missing." in v["problems"]
    assert "train: 1 image(s) cannot be read, e.g. b.png." in v["problems"]


@pytest.mark.parametrize("name", ["../evil.png", "/abs/evil.png", "train/../../evil.png", "C:/evil.png"])
def test_it_refuses_a_zip_with_unsafe_paths(cast, storage, name):
    r = cast.clients["owner"].post("/api/datasets", {"name": "evil", "file": make_zip({name: png()})},
                                   format="multipart")
    assert r.status_code == 400 and r.json()["detail"].startswith("The zip holds an unsafe path")
    assert not Dataset.objects.filter(name="evil").exists()
    assert not (storage / "datasets" / "team-a" / "evil").exists() and not (storage.parent / "evil.png").exists()


def test_it_refuses_a_zip_over_the_size_limit(cast, storage, settings):
    settings.TRAINYARD_DATASET_UPLOAD_MAX_BYTES = 1000
    r = cast.clients["owner"].post("/api/datasets", {"name": "big", "file": make_zip({"train/a/x.png": b"0" * 5000})},
                                   format="multipart")
    assert r.status_code == 400 and r.json()["detail"] == "The zip unpacks to more than 1000 bytes (the limit)."
    assert not (storage / "datasets" / "team-a" / "big").exists()


def test_it_refuses_a_file_that_is_not_a_zip(cast, storage):
    upload = io.BytesIO(b"hello")
    upload.name = "x.zip"
    r = cast.clients["owner"].post("/api/datasets", {"name": "nz", "file": upload}, format="multipart")
    assert r.status_code == 400 and r.json()["detail"] == "The upload is not a zip file."


def test_it_refuses_a_taken_name(cast, storage):
    write_folders(storage / "datasets" / "team-a" / "d")
    r = cast.clients["owner"].post("/api/datasets", {"name": "digits", "path": "datasets/team-a/d"}, format="json")
    assert r.status_code == 400 and r.json()["detail"] == "Team Team A already has a dataset named 'digits'."


@pytest.mark.parametrize("who, team, status", [("owner", None, 201), ("member", None, 201), ("viewer", None, 403),
                                               ("outsider", "team-a", 404)])
def test_it_lets_only_writers_register(cast, storage, who, team, status):
    write_folders(storage / "datasets" / "team-a" / "d")
    payload = {"name": "new", "path": "datasets/team-a/d", **({"team": team} if team else {})}
    assert cast.clients[who].post("/api/datasets", payload, format="json").status_code == status
    assert Dataset.objects.filter(team=cast.team, name="new").exists() == (status == 201)


@pytest.mark.parametrize("who, status", [("owner", 200), ("member", 200), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_writers_verify_again(cast, storage, who, status):
    write_folders(storage / "datasets" / "team-a" / "digits", classes=[str(i) for i in range(10)], per_class=1)
    r = cast.clients[who].post(f"/api/datasets/{cast.dataset.pk}/verify")
    assert r.status_code == status
    cast.dataset.refresh_from_db()
    assert bool(cast.dataset.fingerprint) == (status == 200)
    if status == 200:
        assert cast.dataset.verification["ok"] and cast.dataset.num_train == 10


def test_it_changes_the_fingerprint_when_a_file_changes(cast, storage):
    write_folders(storage / "datasets" / "team-a" / "digits", classes=["0"], per_class=1)
    first = cast.clients["owner"].post(f"/api/datasets/{cast.dataset.pk}/verify").json()["fingerprint"]
    (storage / "datasets" / "team-a" / "digits" / "train" / "0" / "1.png").write_bytes(png())
    second = cast.clients["owner"].post(f"/api/datasets/{cast.dataset.pk}/verify").json()["fingerprint"]
    assert first != second


def test_it_says_when_the_folder_is_gone(cast, storage):
    r = cast.clients["owner"].post(f"/api/datasets/{cast.dataset.pk}/verify")
    problems = r.json()["verification"]["problems"]
    assert problems == ["The folder datasets/team-a/digits is not on the storage any more."]


def test_it_keeps_the_folder_a_cifar_dataset_looks_for(cast, storage):
    """CIFAR reads ``<data_prefix>/cifar-10-batches-py/``: a zip of that folder alone keeps it."""
    zipped = make_zip({f"cifar-10-batches-py/{name}": b"x" for name in ("data_batch_1", "batches.meta")})
    r = cast.clients["owner"].post("/api/datasets", {"name": "cifar", "file": zipped}, format="multipart")
    assert r.status_code == 201, r.content
    assert (storage / "datasets" / "team-a" / "cifar" / "cifar-10-batches-py" / "data_batch_1").is_file()
