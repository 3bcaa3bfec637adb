"""The backend on an object store: ``TRAINYARD_STORAGE=s3://...`` against a real S3 endpoint (moto's server).

Job files, datasets and checkpoints are read and written in the bucket; nothing is mocked but the Ray
job submission (``ray_jobs.submit``, the backend's only call into Ray), which the tests observe.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from backend.experiments import lifecycle, ray_jobs, run_actions, submit
from backend.experiments.models import Checkpoint, Dataset, Run, RunStatus, Sweep
from backend.experiments.storage import storage
from tests.support.datasets import make_zip, png

SWEEP_SPEC = "demo/resnet18-tiny_asha-sweep_digits.py"


class Bucket:
    """The test's bucket seen from outside the code under test: pyarrow's S3 client on the same endpoint."""

    def __init__(self, server, uri: str):
        import pyarrow.fs as pafs

        parts = urlsplit(uri)
        self.uri = uri
        self.base = f"{parts.netloc}{parts.path}"  # bucket/prefix
        self.query = parts.query
        self.fs = pafs.S3FileSystem(endpoint_override=server.endpoint, scheme="http", region="us-east-1",
                                    access_key="testing", secret_key="testing")

    def object_uri(self, key: str) -> str:
        return f"s3://{self.base}/{key}?{self.query}"

    def put(self, key: str, data: bytes) -> None:
        with self.fs.open_output_stream(f"{self.base}/{key}") as f:
            f.write(data)

    def get(self, key: str) -> bytes:
        with self.fs.open_input_stream(f"{self.base}/{key}") as f:
            return f.read()

    def keys(self, under: str = "") -> list[str]:
        import pyarrow.fs as pafs

        base = f"{self.base}/{under}".rstrip("/")
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return sorted(i.path[len(self.base) + 1:] for i in infos if i.type == pafs.FileType.File)


@pytest.fixture
def bucket(settings, s3_server, s3_uri):  # noqa: F811 - fixtures
    settings.TRAINYARD_STORAGE = s3_uri
    return Bucket(s3_server, s3_uri)


@pytest.fixture
def submitted(monkeypatch):
    """What the backend hands Ray: one ``(submission_id, entrypoint, env)`` per submission."""
    calls = []

    def submit(submission_id, entrypoint, env_vars):
        calls.append((submission_id, entrypoint, env_vars))
        return True

    monkeypatch.setattr(ray_jobs, "submit", submit)
    return calls


def write_dataset(bucket: Bucket, key: str, classes=("cat", "dog"), per_class=2):
    for split in ("train", "val"):
        for cls in classes:
            for i in range(per_class):
                bucket.put(f"{key}/{split}/{cls}/{i}.png", png())


# --- dispatch -------------------------------------------------------------------------------------


def test_a_run_dispatched_on_s3_has_its_job_file_in_the_bucket(cast, bucket, submitted):
    run = cast.make_run()
    assert lifecycle.dispatch(Run, str(run.pk)) == "submitted"
    job = json.loads(bucket.get(f"runs/{run.pk}/job.json"))
    assert job["run_id"] == str(run.pk) and job["run_key"] == f"runs/{run.pk}"
    assert job["data_key"] == "datasets/team-a/digits" and "data_root" not in job
    assert job["spec"] == {"x": 1} and job["dataset_name"] == "digits"
    assert "work_dir" not in job and bucket.uri not in json.dumps(job)  # keys only: no URI, no credentials
    [(submission_id, entrypoint, env)] = submitted
    assert submission_id == str(run.pk) and env["TRAINYARD_STORAGE"] == bucket.uri
    assert shlex.split(entrypoint)[-3:] == ["-m", "workers.distributed.launch", f"runs/{run.pk}/job.json"]
    assert Run.objects.get(pk=run.pk).status == RunStatus.DISPATCHING


def test_a_run_dispatched_on_a_path_names_its_files_by_key(cast, settings, tmp_path, submitted):
    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run()
    lifecycle.dispatch(Run, str(run.pk))
    job_file = tmp_path / "runs" / str(run.pk) / "job.json"
    job = json.loads(job_file.read_text())
    assert job["data_key"] == "datasets/team-a/digits" and "data_root" not in job
    assert job["run_key"] == f"runs/{run.pk}" and str(tmp_path) not in json.dumps(job)
    [(_, entrypoint, env)] = submitted
    assert shlex.split(entrypoint)[-1] == f"runs/{run.pk}/job.json" and env["TRAINYARD_STORAGE"] == str(tmp_path)


def test_a_sweep_dispatched_on_s3_has_its_job_file_in_the_bucket(cast, bucket, submitted):
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    assert lifecycle.dispatch(Sweep, str(sweep.pk)) == "submitted"
    job = json.loads(bucket.get(f"sweeps/{sweep.pk}/job.json"))
    assert job["sweep_id"] == str(sweep.pk) and job["sweep_key"] == f"sweeps/{sweep.pk}"
    assert job["data_key"] == "datasets/team-a/digits" and "data_root" not in job
    assert job["sweep"] == sweep.config
    [(submission_id, entrypoint, env)] = submitted
    assert submission_id == f"sweep-{sweep.pk}" and env["TRAINYARD_STORAGE"] == bucket.uri
    assert shlex.split(entrypoint)[-1] == f"sweeps/{sweep.pk}/job.json"
    assert shlex.split(entrypoint)[-2] == "workers.distributed.sweep"


# --- checkpoints ----------------------------------------------------------------------------------


def test_a_checkpoint_downloads_from_the_bucket(cast, bucket):
    run = cast.make_run(status=RunStatus.SUCCEEDED)
    weights = os.urandom(3 * 1024 * 1024 + 17)  # more than one chunk of the response
    bucket.put(f"runs/{run.pk}/work/epoch_3.pth", weights)
    ckpt = Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/work/epoch_3.pth", epoch=3, iteration=30)
    r = cast.clients["viewer"].get(f"/api/runs/{run.pk}/checkpoints/{ckpt.pk}/download")
    assert r.status_code == 200
    assert 'filename="epoch_3.pth"' in r["Content-Disposition"]
    assert b"".join(r.streaming_content) == weights
    listed = cast.clients["viewer"].get(f"/api/runs/{run.pk}/checkpoints").json()
    assert [c["available"] for c in listed] == [True]


@pytest.mark.parametrize("path", ["runs/{id}/work/epoch_9.pth", "../other/epoch_1.pth", "runs/../../x/epoch_1.pth",
                                  "/etc/passwd", "runs/{id}/work", ""])
def test_a_checkpoint_not_in_the_bucket_is_a_404(cast, bucket, path):
    run = cast.make_run(status=RunStatus.SUCCEEDED)
    bucket.put(f"runs/{run.pk}/work/epoch_1.pth", b"weights")
    ckpt = Checkpoint.objects.create(run=run, path=path.format(id=run.pk), epoch=1, iteration=1)
    r = cast.clients["owner"].get(f"/api/runs/{run.pk}/checkpoints/{ckpt.pk}/download")
    assert r.status_code == 404
    listed = cast.clients["owner"].get(f"/api/runs/{run.pk}/checkpoints").json()
    assert [c["available"] for c in listed] == [False]


def test_a_fork_from_a_checkpoint_names_it_by_id_and_the_job_loads_that_object(cast, bucket, submitted):
    run = cast.make_run(status=RunStatus.SUCCEEDED, spec_name="demo/resnet18-tiny_2xb32-6e_digits.py")
    bucket.put(f"runs/{run.pk}/work/epoch_2.pth", b"weights")
    ckpt = Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/work/epoch_2.pth", epoch=2, iteration=20)
    form = run_actions.fork_run(run, ckpt)
    assert f"load_from=checkpoint:{ckpt.pk}" in form["cfg_options"]
    # submitted as the form sends it, the new run loads exactly that object
    r = cast.clients["member"].post("/api/runs", {"spec_name": form["spec_name"], "dataset": "digits",
                                                  "cfg_options": form["cfg_options"]}, format="json")
    assert r.status_code == 201, r.content
    fork = Run.objects.get(pk=r.json()["id"])
    assert fork.resolved_spec["load_from"] == f"checkpoint:{ckpt.pk}"
    lifecycle.dispatch(Run, str(fork.pk))
    job = json.loads(bucket.get(f"runs/{fork.pk}/job.json"))
    assert job["checkpoints"] == {f"checkpoint:{ckpt.pk}": f"runs/{run.pk}/work/epoch_2.pth"}


# --- datasets -------------------------------------------------------------------------------------


def test_an_uploaded_zip_lands_in_the_bucket_and_verifies_there(cast, bucket):
    upload = make_zip({f"pets/{s}/{c}/{i}.png": png() for s in ("train", "val") for c in ("cat", "dog")
                       for i in range(3)})
    r = cast.clients["owner"].post("/api/datasets", {"name": "pets", "file": upload}, format="multipart")
    assert r.status_code == 201, r.content
    ds = Dataset.objects.get(name="pets")
    assert ds.path == "datasets/team-a/pets"
    assert bucket.keys("datasets/team-a/pets") == sorted(
        f"datasets/team-a/pets/{s}/{c}/{i}.png" for s in ("train", "val") for c in ("cat", "dog") for i in range(3))
    assert (ds.num_train, ds.num_val, ds.verification["ok"]) == (6, 6, True)
    # verifying again reads the bucket: a file removed there is seen
    bucket.fs.delete_file(f"{bucket.base}/datasets/team-a/pets/train/cat/0.png")
    r = cast.clients["owner"].post(f"/api/datasets/{ds.pk}/verify")
    assert r.status_code == 200 and r.json()["num_train"] == 5
    assert r.json()["verification"]["splits"]["train"]["per_class"] == {"cat": 2, "dog": 3}
    bucket.fs.delete_dir(f"{bucket.base}/datasets/team-a/pets")
    v = cast.clients["owner"].post(f"/api/datasets/{ds.pk}/verify").json()["verification"]
    assert v["problems"] == ["The folder datasets/team-a/pets is not on the storage any more."] and not v["ok"]


def test_a_zip_upload_that_fails_leaves_nothing_stored(cast, bucket, monkeypatch):
    st = storage()
    real_upload, sent = st.upload, []

    def failing_upload(source, key, **options):
        if sent:
            raise OSError("the store went away")
        sent.append(key)
        return real_upload(source, key, **options)

    monkeypatch.setattr(st, "upload", failing_upload)
    upload = make_zip({f"train/{c}/{i}.png": png() for c in ("cat", "dog") for i in range(2)})
    with pytest.raises(OSError, match="the store went away"):
        cast.clients["owner"].post("/api/datasets", {"name": "pets", "file": upload}, format="multipart")
    assert len(sent) == 1  # one file had reached the bucket before the failure ...
    assert bucket.keys() == [] and not st.local("datasets/team-a/pets").exists()  # ... and is gone again
    assert not Dataset.objects.filter(name="pets").exists()


def test_a_name_already_in_the_bucket_is_refused(cast, bucket):
    bucket.put("datasets/team-a/pets/train/cat/0.png", b"someone else's")
    upload = make_zip({"train/cat/a.png": png()})
    r = cast.clients["owner"].post("/api/datasets", {"name": "pets", "file": upload}, format="multipart")
    assert r.status_code == 400 and "already holds datasets/team-a/pets" in r.json()["detail"]
    assert bucket.get("datasets/team-a/pets/train/cat/0.png") == b"someone else's"


def test_a_shared_folder_in_the_bucket_registers_by_its_path(cast, bucket, settings):
    settings.TRAINYARD_SHARED_DATASETS = ("shared",)
    write_dataset(bucket, "shared/pets")
    r = cast.clients["member"].post("/api/datasets", {"name": "pets", "path": "shared/./pets/"}, format="json")
    assert r.status_code == 201, r.content
    ds = Dataset.objects.get(name="pets")
    assert ds.path == "shared/pets" and (ds.num_train, ds.num_val) == (4, 4) and ds.verification["ok"]


OUTSIDE = ("A dataset must be a folder inside your team's area datasets/team-a/, named relative to the storage "
           "root without '..' (got {!r}). Upload a zip instead, or ask an operator to place the data there or to "
           "share its folder (TRAINYARD_SHARED_DATASETS).")


@pytest.mark.parametrize("path, message", [
    ("datasets/team-a/none", "No folder 'datasets/team-a/none' on the storage."),
    ("../outside", OUTSIDE.format("../outside")),
    ("/etc", OUTSIDE.format("/etc")),
])
def test_a_folder_not_in_the_bucket_is_refused(cast, bucket, path, message):
    r = cast.clients["member"].post("/api/datasets", {"name": "x", "path": path}, format="json")
    assert r.status_code == 400 and r.json()["detail"] == message
    assert not Dataset.objects.filter(name="x").exists() and bucket.keys() == []


def test_seed_demo_puts_the_digits_in_the_bucket(db, bucket, monkeypatch):
    import sklearn.datasets

    real = sklearn.datasets.load_digits

    def first_digits():  # all 1797 take a minute to upload to moto one by one: the same writer, fewer digits
        digits = real()
        digits.images, digits.target = digits.images[:60], digits.target[:60]
        return digits

    monkeypatch.setattr(sklearn.datasets, "load_digits", first_digits)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    ds = Dataset.objects.get(name="digits", team__slug="demo")
    keys = bucket.keys("datasets/demo/digits")
    assert ds.path == "datasets/demo/digits" and ds.num_train > 0 and ds.num_val > 0
    assert sum(k.startswith("datasets/demo/digits/train/") for k in keys) == ds.num_train
    assert sum(k.startswith("datasets/demo/digits/val/") for k in keys) == ds.num_val
    assert {k.split("/")[4] for k in keys} == {str(i) for i in range(10)}


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("s3://runs/trainyard?endpoint_override=minio:9000&scheme=http",
     "'s3://runs/trainyard?endpoint_override=minio:9000&scheme=http'"),
    ("/srv/trainyard/../trainyard", "PosixPath('/srv/trainyard')"),
])
def test_settings_keep_a_uri_as_given_and_resolve_a_path(value, expected):
    code = "import backend.project.settings as s; print(repr(s.TRAINYARD_STORAGE))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TRAINYARD_STORAGE": value},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
