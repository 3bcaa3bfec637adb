"""Entrypoint of a run's Ray Job: ``python -m workers.distributed.launch JOB.json``.

The backend writes ``JOB.json`` (resolved spec, dataset root, resources, work dir) on shared
storage and passes the ingestion URL and token in the environment. This driver builds a Ray Train
``TorchTrainer`` whose workers each call the engine's ``train``; Ray Train sets up the process
group (gloo on CPU, NCCL on GPU) and the engine wraps the model in DDP when it finds one.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import traceback
from pathlib import Path

# Keys of a dataset config whose relative paths point into the dataset.
_PATH_KEYS = ("data_prefix", "ann_file", "classes")


def rebase_data_paths(spec: dict, data_root: str | Path) -> dict:
    """Point a spec's dataset paths at a registered dataset's folder.

    MMClassification specs read ``data/<name>/...`` relative to the project (``data`` being a
    link to the datasets). Here ``data/<name>/rest`` becomes ``<data_root>/rest``, and any other
    relative path is taken relative to ``data_root``. Absolute paths are left alone.
    """
    root = Path(data_root)
    spec = copy.deepcopy(spec)

    def fix(value: str) -> str:
        p = Path(value)
        if p.is_absolute():
            return value
        parts = p.parts
        if len(parts) >= 2 and parts[0] == "data":
            return str(root.joinpath(*parts[2:]))
        return str(root / p)

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _PATH_KEYS and isinstance(value, str) and value:
                    if key == "classes" and not value.endswith((".txt", ".csv")):
                        continue
                    node[key] = fix(value)
                elif key != "pipeline":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec.get("data", {}))
    return spec


def make_reporter(cfg: dict):
    from workers.distributed.reporter import HttpReporter

    if not cfg.get("ingest_url"):
        return None
    return HttpReporter(cfg["ingest_url"], cfg["token"], Path(cfg["run_dir"]) / "spool",
                        storage_root=cfg.get("storage_root"))


def train_loop_per_worker(cfg: dict) -> None:
    """What each Ray Train worker runs: the engine, with a reporter on rank 0."""
    import ray.train
    import torch

    from workers.engine import train

    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    torch.set_num_threads(max(1, int(cfg.get("threads_per_worker", 1))))
    _record_placement(cfg["run_dir"], rank, ctx)
    reporter = make_reporter(cfg) if rank == 0 else None
    on_evaluate = None
    if cfg.get("report_to_tune"):  # a sweep trial: each evaluation goes to Ray Tune's scheduler
        def on_evaluate(metrics: dict) -> None:
            out = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if metrics.get("checkpoint"):  # rank 0's checkpoint of this epoch: a PBT trial hands it to Tune
                out["checkpoint"] = str(metrics["checkpoint"])
            ray.train.report(out)
            acks = cfg.get("tune_acks")
            if acks is not None and rank == 0:  # until Tune has decided; the other ranks wait in DDP
                acks.get()
    try:
        train(cfg["spec"], cfg["work_dir"], reporter=reporter, device=cfg.get("device", "cpu"),
              resume_from="auto", seed=cfg.get("seed"), on_evaluate=on_evaluate,
              hparams_from_spec=bool(cfg.get("hparams_from_spec")))
    finally:
        if reporter is not None:
            reporter.close(timeout=60)


def _record_placement(run_dir: str, rank: int, ctx) -> None:
    """Note where this worker runs (node, host, pid) in ``<run dir>/workers/rank<N>.json``.

    The run page and the multi-node test read it: the workers of one run may span nodes.
    """
    import socket

    import ray

    info = {"rank": rank, "world_size": ctx.get_world_size(), "node_rank": ctx.get_node_rank(),
            "node_id": ray.get_runtime_context().get_node_id(), "hostname": socket.gethostname(),
            "pid": os.getpid()}
    folder = Path(run_dir) / "workers"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank{rank}.json").write_text(json.dumps(info))


def pick_seed(job: dict, spec: dict) -> int:
    """The run's seed: the request's, else the spec's, else a fresh one; chosen here so it is recorded."""
    import random

    for seed in (job.get("seed"), spec.get("seed")):
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


def build_trainer(job: dict, cfg: dict, callbacks: list | None = None):
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    res = job.get("resources") or {}
    gpus = float(res.get("gpus_per_worker", 0) or 0)
    per_worker = {"CPU": float(res.get("cpus_per_worker", 1) or 1)}
    if gpus:
        per_worker["GPU"] = gpus
    scaling = ScalingConfig(num_workers=int(res.get("num_workers", 1)), use_gpu=bool(gpus),
                            resources_per_worker=per_worker)
    run_config = RunConfig(
        name=f"run-{job['run_id']}",
        storage_path=str(Path(cfg["storage_root"]) / "ray_results"),
        failure_config=FailureConfig(max_failures=int(res.get("max_failures", 0) or 0)),
        callbacks=list(callbacks) if callbacks else None,
    )
    return TorchTrainer(train_loop_per_worker, train_loop_config=cfg, scaling_config=scaling,
                        run_config=run_config, torch_config=TorchConfig(backend="nccl" if gpus else "gloo"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one Trainyard run on the Ray cluster (a Ray Job entrypoint).")
    parser.add_argument("job_file", help="JOB.json written by the backend")
    args = parser.parse_args(argv)
    job = json.loads(Path(args.job_file).read_text())
    storage_root = os.environ.get("TRAINYARD_STORAGE") or str(Path(args.job_file).resolve().parents[2])
    run_dir = Path(args.job_file).resolve().parent
    spec = rebase_data_paths(job["spec"], job["data_root"])
    # The run's resources (spec merged with the request) decide the strategy the engine uses.
    spec["resources"] = {**(spec.get("resources") or {}), **(job.get("resources") or {})}
    cfg = {
        "spec": spec,
        "work_dir": job["work_dir"],
        "run_dir": str(run_dir),
        "storage_root": storage_root,
        "ingest_url": os.environ.get("TRAINYARD_INGEST_URL"),
        "token": os.environ.get("TRAINYARD_RUN_TOKEN", ""),
        "device": "cuda" if float((job.get("resources") or {}).get("gpus_per_worker", 0) or 0) else "cpu",
        "threads_per_worker": int((job.get("resources") or {}).get("cpus_per_worker", 1) or 1),
        "seed": pick_seed(job, spec),
    }
    status = make_reporter(cfg)
    if status:
        status.event(None, environment=environment_facts(cfg["seed"]))
        status.event("running", "the Ray job started")
        status.log(f"[trainyard] run {job['run_id']} started on Ray; "
                   f"{job.get('resources', {}).get('num_workers', 1)} worker(s)")
    try:
        build_trainer(job, cfg).fit()
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
