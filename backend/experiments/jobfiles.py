"""What a Ray job is given: its job file on the storage, its environment and its entrypoint.

The job names everything by key on the storage (no path or URI that could carry the storage's credentials):
the dataset, the run's (or sweep's) folder, and each checkpoint the spec names by id, resolved again here for
the submitter (``spec_paths.job_checkpoints``). The job file is the contract's ``Job`` (``jobspecs.contract``),
the document the workers read with ``Job.from_json``; it is written whole or not at all.
"""
import json
import shlex

from django.conf import settings

from jobspecs.contract import ContractError, Job, Resources, SweepPart
from workers.storage import strip_credentials

from . import spec_paths
from .datasets import stored_dataset_key
from .errors import DispatchRefused
from .models import Dataset, Run, Sweep
from .storage import run_key, storage, sweep_key


def job_storage_location() -> str:
    """``TRAINYARD_STORAGE`` as a Ray job gets it: without credentials (``s3://KEY:SECRET@...`` loses
    ``KEY:SECRET@``); the nodes open the store with their own (``AWS_*`` in their environment, a role)."""
    return strip_credentials(storage().location)


def job_for(spec: dict, dataset: Dataset, resources: dict, user, *, sweep_space: dict | None = None,
            **fields) -> Job:
    """The contract's ``Job`` of a run or sweep: spec, dataset, resources, checkpoints and network policy.

    ``resources`` complete the spec's own, as a worker reads them (``Job.from_json``): the job file carries
    the resources the run trains with, whole.

    Raises:
        DispatchRefused: the dataset lies outside its team's area (``stored_dataset_key`` checks it again), or
            the stored resources break the contract.
    """
    own = spec.get("resources") if isinstance(spec.get("resources"), dict) else {}
    try:
        merged = Resources.from_json({**own, **(resources or {})})
    except ContractError as err:
        raise DispatchRefused(f"The job's resources cannot be trained with: {err}") from None
    return Job(
        spec=spec, resources=merged,
        data_key=stored_dataset_key(dataset), dataset_name=dataset.name,
        checkpoints=spec_paths.job_checkpoints([spec], user, sweep_space),
        allowed_url_hosts=tuple(spec_paths.allowed_url_hosts()), **fields,
    )


def write_run_job(run: Run) -> str:
    """Write ``runs/<id>/job.json`` (``Job.to_json()``); returns its key."""
    key = run_key(run)
    job = job_for(run.resolved_spec, run.dataset, run.resources, run.created_by, run_id=str(run.pk),
                  name=run.name, run_key=key)
    storage().write_text(f"{key}/job.json", json.dumps(job.to_json(), indent=2))
    return f"{key}/job.json"


def write_sweep_job(sweep: Sweep) -> str:
    """Write ``sweeps/<id>/job.json`` (the base spec, the sweep section, the trials' limit); returns its key."""
    key = sweep_key(sweep)
    part = SweepPart(id=str(sweep.pk), config=sweep.config, key=key,
                     max_concurrent_trials=settings.TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS)
    job = job_for(sweep.resolved_spec, sweep.dataset, sweep.resources, sweep.created_by,
                  sweep_space=(sweep.config or {}).get("space"), name=sweep.name, sweep=part)
    storage().write_text(f"{key}/job.json", json.dumps(job.to_json(), indent=2))
    return f"{key}/job.json"


def _common_environment() -> dict[str, str]:
    return {
        "TRAINYARD_STORAGE": job_storage_location(),
        "TRAINYARD_MAX_IMAGE_PIXELS": str(settings.TRAINYARD_MAX_IMAGE_PIXELS),  # the workers' image loader
        # the engine imports a spec's custom_imports only from this list (workers.custom_imports)
        "TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST": ",".join(settings.TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST),
    }


def run_environment(run: Run, token: str) -> dict[str, str]:
    """A run's job environment: its id, its ingestion token and where to report."""
    return {
        "TRAINYARD_RUN_ID": str(run.pk),
        "TRAINYARD_RUN_TOKEN": token,
        "TRAINYARD_INGEST_URL": settings.TRAINYARD_PUBLIC_URL.rstrip("/") + f"/api/ingest/{run.pk}",
        **_common_environment(),
    }


def sweep_environment(sweep: Sweep, token: str) -> dict[str, str]:
    """A sweep driver's environment: its id, its token (registers trials, reports the sweep's status), the API."""
    return {
        "TRAINYARD_SWEEP_ID": str(sweep.pk),
        "TRAINYARD_SWEEP_TOKEN": token,
        "TRAINYARD_API_URL": settings.TRAINYARD_PUBLIC_URL.rstrip("/") + "/api",
        **_common_environment(),
    }


def entrypoint(module: str, job_file: str) -> str:
    """``<python> -m <module> <job file>``: the job file by its key on the storage (``TRAINYARD_STORAGE`` names
    the storage), quoted for the shell."""
    return f"{settings.TRAINYARD_JOB_PYTHON} -m {module} {shlex.quote(job_file)}"
