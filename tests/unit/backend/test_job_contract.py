"""The job file the service writes is a ``jobspecs.contract.Job`` the workers read, and ``Job.to_json()`` writes
that same document back (so the service can write it from the contract without a worker noticing)."""
import json

import pytest

import jobspecs
from jobspecs.contract import Job, Resources
from workers.distributed.sweep import normalise

DEMO = "demo/resnet18-tiny_2xb32-6e_digits.py"
RESOURCES = {"num_workers": 2, "cpus_per_worker": 1, "gpus_per_worker": 0, "strategy": "ddp"}


@pytest.fixture
def storage_root(settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    (tmp_path / "datasets" / "team-a" / "digits").mkdir(parents=True)
    return tmp_path


def test_a_runs_job_file_is_a_job(cast, storage_root):
    from backend.experiments.jobfiles import write_run_job

    run = cast.make_run(resolved_spec=jobspecs.load_library(DEMO), resources=RESOURCES)
    document = json.loads((storage_root / write_run_job(run)).read_text())
    run.refresh_from_db()  # the spec as stored (JSON: lists, not tuples)

    job = Job.from_json(document)
    assert (job.run_id, job.run_folder, job.data_key, job.dataset_name) == (
        str(run.pk), f"runs/{run.pk}", "datasets/team-a/digits", "digits")
    assert job.resources == Resources(**RESOURCES) and job.spec == run.resolved_spec
    assert job.to_json() == {**document, "version": 1}


def test_a_sweeps_job_file_is_a_job(cast, storage_root):
    from backend.experiments.jobfiles import write_sweep_job

    spec = jobspecs.load_library("demo/resnet18-tiny_asha-sweep_digits.py")
    sweep = cast.make_sweep(resolved_spec=spec, config=normalise(spec["sweep"]), resources=RESOURCES)
    document = json.loads((storage_root / write_sweep_job(sweep)).read_text())

    job = Job.from_json(document)
    assert (job.run_id, job.sweep.id, job.sweep.key) == (None, str(sweep.pk), f"sweeps/{sweep.pk}")
    assert job.sweep.config == sweep.config and job.sweep.max_concurrent_trials >= 1
    assert job.to_json() == {**document, "version": 1}


def test_the_service_writes_the_contracts_document_itself(cast, storage_root):
    """The file is ``Job(...).to_json()``: versioned, and reading it back and writing it again changes nothing;
    the resources are those the run trains with, whole (the spec's completed by the run's)."""
    from backend.experiments.jobfiles import write_run_job
    from jobspecs.contract import JOB_VERSION

    spec = {**jobspecs.load_library(DEMO), "resources": {"num_workers": 2, "gpus_per_worker": 1}}
    run = cast.make_run(resolved_spec=spec, resources={"num_workers": 3})
    document = json.loads((storage_root / write_run_job(run)).read_text())

    assert document["version"] == JOB_VERSION
    assert Job.from_json(document).to_json() == document
    assert document["resources"] == {"num_workers": 3, "cpus_per_worker": 1, "gpus_per_worker": 1, "strategy": "ddp"}
