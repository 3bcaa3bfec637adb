"""Entrypoint of a run's Ray Job: ``python -m workers.distributed.launch JOB.json``.

The backend writes ``JOB.json`` (a ``jobspecs.contract.Job``: resolved spec, dataset key, resources,
checkpoint keys) on shared storage and passes the ingestion URL and token in the environment. This
driver builds a Ray Train ``TorchTrainer`` whose workers each call the engine's ``train``; Ray Train
sets up the process group (gloo on CPU, NCCL on GPU) and the engine wraps the model in DDP when it
finds one.

What each worker gets (``job_config``) is the ``Job`` itself plus this run's folders on the storage and,
added by the driver, where and how to report (``ingest_url``, ``token``, ``seed``; a sweep's trial adds
``report_to_tune``, ``hparams_from_spec``, ``tune_acks``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path

from jobspecs import paths as path_policy
from jobspecs.contract import Job, ReportEndpoint
from jobspecs.version import code_version
from workers.storage import Storage, open_storage, pull_work_dir, push_work_dir


class CodeVersionMismatch(RuntimeError):
    """This node runs another commit of Trainyard than the service that wrote the job."""


def check_code_version(job: Job, node_version: str | None = None) -> None:
    """Refuse a job that another version of the code wrote: a node left on an older commit (a ``ray up`` whose
    setup did not run, an old image) would train the spec with other code than the service checked it against.

    Args:
        job: The job as read from its file; its ``code_version`` is the service's commit (``""``: a job file of
            a service before versions, or one that could not tell its own: not checked).
        node_version: This node's version; ``jobspecs.version.code_version()`` when None.

    Raises:
        CodeVersionMismatch: the versions differ, or this node cannot tell its own.
    """
    wanted = job.code_version
    if not wanted:
        return
    here = code_version() if node_version is None else node_version
    if here == wanted:
        return
    import socket

    running = f"commit {here}" if here else "an unknown version (no TRAINYARD_COMMIT, no git checkout)"
    raise CodeVersionMismatch(
        f"refused: this Ray node ({socket.gethostname()}) runs Trainyard {running}, but the job was written by "
        f"the service at commit {wanted}. Every Ray node must run the service's commit: re-run `ray up` with "
        f"the cluster file rendered for that commit (make ray-cluster), or roll out the image tagged with it.")


def service_spec(cfg: dict, storage: Storage | None = None) -> dict:
    """The spec a service worker trains (``Job.worker_spec``): the run's resources, and every path field moved
    into its area and checked there: data into the run's dataset, outputs into the run's own folder,
    checkpoint references onto the files the server resolved, as this node sees them. Nothing is opened
    before this passed; the driver calls it too, to refuse a job before any worker starts.

    Raises:
        jobspecs.paths.PathPolicyError: a path that leaves its area (a job not written by the service, or a
            dataset changed since submit).
    """
    storage = storage or _storage(cfg)
    job: Job = cfg["job"]
    checkpoints = {ref: str(storage.local(key)) for ref, key in job.checkpoints.items()}
    return job.worker_spec(data_root=_data_root(job, storage), run_root=cfg["run_dir"], checkpoints=checkpoints)


def _data_root(job: Job, storage: Storage) -> Path | None:
    """The run's dataset on this node: the storage's folder, or on an object store the node's copy of it."""
    return storage.local(job.data_key) if job.data_key else None


def confine_worker(cfg: dict) -> None:
    """This worker process reads data only inside the run's dataset and fetches only what the operator allows:
    image names in annotation files are checked against the dataset's folder, URLs against the allowlist,
    into the run's own cache (``workers.fetch``)."""
    from workers import fetch
    from workers.data.datasets.base_dataset import confine_data

    storage = _storage(cfg)
    confine_data(_data_root(cfg["job"], storage))
    fetch.configure(allowed_hosts=list(cfg["job"].allowed_url_hosts),
                    cache_dir=Path(cfg["run_dir"]) / "cache", own_storage=storage.location)


def make_reporter(cfg: dict):
    from workers.distributed.reporter import HttpReporter

    if not cfg.get("ingest_url"):
        return None
    return HttpReporter(cfg["ingest_url"], cfg["token"], Path(cfg["run_dir"]) / "spool",
                        storage_root=cfg.get("storage_root"))


def train_loop_per_worker(cfg: dict) -> None:
    """What each Ray Train worker runs: the engine, with a reporter on rank 0.

    On an object store (``TRAINYARD_STORAGE=s3://...``) the worker trains in its node's scratch folder:
    before training, each node's first worker pulls the dataset and the run's stored checkpoints (a
    restarted group may land on a fresh node), and after each checkpoint the new files go back up.
    """
    import ray.train
    import torch

    from workers.engine import train

    check_code_version(cfg["job"])  # this worker's node may run another commit than the driver's
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    resources = cfg["job"].resources
    torch.set_num_threads(resources.threads_per_worker)
    cfg = prepare_node(cfg, rank)
    _record_placement(cfg, rank, ctx)
    reporter = make_reporter(cfg) if rank == 0 else None
    try:
        spec = service_spec(cfg)
        confine_worker(cfg)
    except path_policy.PathPolicyError as exc:
        if reporter is not None:
            reporter.log(f"[trainyard] refused by the path policy: {exc}")
            reporter.close(timeout=30)
        raise
    if reporter is not None and cfg.get("pulled"):
        reporter.log(f"[trainyard] pulled {cfg['pulled']} file(s) of the work dir and dataset from the storage")
    on_evaluate = None
    storage = _storage(cfg)
    if cfg.get("report_to_tune"):  # a sweep trial: each evaluation goes to Ray Tune's scheduler
        def on_evaluate(metrics: dict) -> None:
            out = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if metrics.get("checkpoint"):  # rank 0's checkpoint of this epoch: a PBT trial hands it to Tune
                out["checkpoint"] = str(metrics["checkpoint"])
                key = storage.relative(metrics["checkpoint"]) if storage is not None else None
                if key is not None and not storage.is_local:  # the trial function may run on another node
                    out["checkpoint_key"] = key
            ray.train.report(out)
            acks = cfg.get("tune_acks")
            if acks is not None and rank == 0:  # until Tune has decided; the other ranks wait in DDP
                acks.get()
    pusher = None
    if storage is not None and not storage.is_local:
        def pusher(folder: Path) -> None:
            """Rank 0 sends the work dir; another rank only DeepSpeed's partitions (complete on every rank
            once DeepSpeed's save returns), never a file rank 0 may be writing beside it."""
            key = storage.relative(folder)
            if key is None:  # a checkpoint_config.out_dir outside the storage stays where it is
                return
            if rank == 0:
                push_work_dir(storage, Path(folder), key, authority=True)
            elif (Path(folder) / "deepspeed").is_dir():
                push_work_dir(storage, Path(folder) / "deepspeed", f"{key}/deepspeed", authority=False)
    try:
        train(spec, cfg["work_dir"], reporter=reporter, device=resources.device,
              resume_from="auto", seed=cfg.get("seed"), on_evaluate=on_evaluate,
              hparams_from_spec=bool(cfg.get("hparams_from_spec")), on_checkpoint=pusher)
    finally:
        if pusher is not None:  # the logs, and whatever the last step wrote
            try:
                pusher(Path(cfg["work_dir"]))
            except Exception as exc:  # noqa: BLE001 - never hide the training's own outcome
                print(f"[trainyard] could not copy the work dir to {storage.display}: {exc}", file=sys.stderr)
        if reporter is not None:
            reporter.close(timeout=60)


def _storage(cfg: dict):
    return open_storage(cfg["storage"]) if cfg.get("storage") else None


def prepare_node(cfg: dict, rank: int) -> dict:
    """This worker's view of the run: on an object store, its node's scratch paths, with the dataset and the
    stored checkpoints pulled there. Every worker pulls, one at a time per scratch folder (a file lock): the
    first fetches, the others find it there (Ray's local ranks follow IP addresses, which two nodes may share)."""
    import fcntl

    storage = _storage(cfg)
    if storage is None or storage.is_local:
        return cfg
    import torch.distributed as dist

    cfg = dict(cfg)
    cfg["work_dir"] = str(storage.local(cfg["work_key"]))
    cfg["run_dir"] = str(storage.local(cfg["run_key"]))
    cfg["storage_root"] = str(storage.scratch)
    started = time.monotonic()
    storage.scratch.mkdir(parents=True, exist_ok=True)
    with open(storage.scratch / ".pull.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fetched = pull_work_dir(storage, Path(cfg["work_dir"]), cfg["work_key"])
        if cfg["job"].data_key:
            fetched += storage.pull_tree(cfg["job"].data_key)
        for key in cfg["job"].checkpoints.values():  # another run's checkpoint, named by the server
            if not storage.local(key).is_file():
                storage.download(key, storage.local(key))
                fetched.append(key)
    cfg["pulled"] = len(fetched)
    if fetched:
        print(f"[trainyard] rank {rank}: pulled {len(fetched)} file(s) from {storage.display} "
              f"in {time.monotonic() - started:.1f}s", file=sys.stderr)
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    return cfg


def _record_placement(cfg: dict, rank: int, ctx) -> None:
    """Note where this worker runs (node, host, pid) in ``<run dir>/workers/rank<N>.json`` on the storage.

    The run page and the multi-node test read it: the workers of one run may span nodes.
    """
    import socket

    import ray

    info = {"rank": rank, "world_size": ctx.get_world_size(), "node_rank": ctx.get_node_rank(),
            "node_id": ray.get_runtime_context().get_node_id(), "hostname": socket.gethostname(),
            "pid": os.getpid()}
    storage = _storage(cfg)
    if storage is not None and cfg.get("run_key"):
        storage.write_text(f"{cfg['run_key']}/workers/rank{rank}.json", json.dumps(info))
        return
    folder = Path(cfg["run_dir"]) / "workers"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank{rank}.json").write_text(json.dumps(info))


def pick_seed(job: Job, spec: dict) -> int:
    """The run's seed: the request's, else the spec's, else a fresh one; chosen here so it is recorded."""
    import random

    for seed in (job.seed, spec.get("seed")):
        if isinstance(seed, int) and not isinstance(seed, bool):
            return seed
    return random.SystemRandom().randrange(2**31)


def environment_facts(seed: int) -> dict:
    """What the run page's reproducibility block shows: code version, package versions, seed."""
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("trainyard", "torch", "torchvision", "timm", "ray", "deepspeed", "numpy"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    code = packages.get("trainyard", "unknown")
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            code = f"{code} ({out.stdout.strip()})"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"code_version": code, "packages": packages, "python": platform.python_version(), "seed": seed}


def build_trainer(run_id: str, cfg: dict, callbacks: list | None = None):
    """The ``TorchTrainer`` of run ``run_id`` (a run's, or a sweep trial's): scaled by the job's resources,
    each worker running ``train_loop_per_worker(cfg)``."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    res = cfg["job"].resources
    gpus = float(res.gpus_per_worker)
    per_worker = {"CPU": float(res.cpus_per_worker or 1)}
    if gpus:
        per_worker["GPU"] = gpus
    scaling = ScalingConfig(num_workers=res.num_workers, use_gpu=bool(gpus), resources_per_worker=per_worker)
    if cfg.get("storage"):
        storage_path, filesystem = open_storage(cfg["storage"]).ray_storage("ray_results")
    else:
        storage_path, filesystem = str(Path(cfg["storage_root"]) / "ray_results"), None
    run_config = RunConfig(
        name=f"run-{run_id}",
        storage_path=storage_path,
        storage_filesystem=filesystem,
        failure_config=FailureConfig(max_failures=res.max_failures or 0),
        callbacks=list(callbacks) if callbacks else None,
    )
    return TorchTrainer(train_loop_per_worker, train_loop_config=cfg, scaling_config=scaling,
                        run_config=run_config, torch_config=TorchConfig(backend="nccl" if gpus else "gloo"))


def read_job(job_file: str) -> tuple[Storage, Job]:
    """The storage (``$TRAINYARD_STORAGE``, else the folder two levels above a job file's folder) and the job
    the backend wrote there, named by its key on the storage (what the service passes), a path or a URI.

    Raises:
        jobspecs.contract.ContractError: a job file that is not a ``Job`` (another release wrote it, or not
            the service).
    """
    location = os.environ.get("TRAINYARD_STORAGE") or str(Path(job_file).resolve().parents[2])
    storage = open_storage(location)
    if not os.path.isabs(job_file) and "://" not in job_file and os.environ.get("TRAINYARD_STORAGE"):
        text = storage.read_text(storage.key(job_file))
    else:
        key = storage.relative(job_file)
        text = storage.read_text(key) if key is not None else Path(job_file).read_text()
    return storage, dataclasses.replace(Job.from_json(json.loads(text)), storage=storage.location)


def job_config(storage: Storage, job: Job, run_key: str) -> dict:
    """What every worker of one run needs (``train_loop_per_worker``'s config): the job (spec as stored,
    resources, dataset and checkpoint keys, URL allowlist) and the run's folders on ``storage``."""
    return {
        "job": job,
        "work_dir": str(storage.local(f"{run_key}/work")),
        "run_dir": str(storage.local(run_key)),
        "storage_root": str(storage.scratch),
        "storage": storage.location,
        "run_key": run_key,
        "work_key": f"{run_key}/work",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one Trainyard run on the Ray cluster (a Ray Job entrypoint).")
    parser.add_argument("job_file", help="JOB.json written by the backend (its key on the storage, a path or a URI)")
    args = parser.parse_args(argv)
    storage, job = read_job(args.job_file)
    if os.environ.get("TRAINYARD_INGEST_URL"):
        job = dataclasses.replace(job, report=ReportEndpoint(os.environ["TRAINYARD_INGEST_URL"],
                                                             os.environ.get("TRAINYARD_RUN_TOKEN", "")))
    cfg = job_config(storage, job, job.run_folder)
    cfg.update(ingest_url=job.report.url if job.report else None, token=job.report.token if job.report else "",
               seed=pick_seed(job, job.spec))
    status = make_reporter(cfg)
    if status:
        status.event(None, environment=environment_facts(cfg["seed"]))
        status.event("running", "the Ray job started")
        status.log(f"[trainyard] run {job.run_id} started on Ray; {job.resources.num_workers} worker(s)")
    try:
        check_code_version(job)  # before anything of the job runs on this node
        service_spec(cfg, storage)  # refuse a path that leaves its area before any worker starts
        build_trainer(job.run_id, cfg).fit()
    except BaseException as exc:  # report why, then let Ray mark the job failed
        reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(traceback.format_exc(), file=sys.stderr)
        if status:
            status.log(f"[trainyard] run failed: {reason}")
            status.event("failed", reason[-4000:])
            status.close(timeout=30)
        return 1
    if status:
        status.log("[trainyard] run finished")
        status.event("succeeded")
        status.close(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
