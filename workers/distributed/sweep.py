"""Entrypoint of a sweep's Ray Job: ``python -m workers.distributed.sweep JOB.json``.

A sweep is a Ray Tune ``Tuner`` whose function trainable starts one Ray Train ``TorchTrainer`` per
trial (the Ray Train V2 pattern: the trial function is a light driver; the training runs on the
trainer's workers, which report each evaluation back to Tune through ``TuneReportCallback`` so
that a scheduler such as ASHA can stop a trial early).

Each trial is a run of its own in the backend: the trial function registers it (``POST
/api/ingest/sweeps/<id>/trials`` with the sweep's token; idempotent on Tune's trial id), receives
the run's id and ingestion token, and reports logs, metric points and checkpoints like any run.
A trial the scheduler stops never gets to say so itself (Tune ends its actor), and a finished
trial's last report may not get out before Tune tears it down, so the driver's ``TrialReporter``
callback closes every trial (marked early-stopped where it ran fewer evaluations than its schedule)
before the driver reports the sweep's end.

Small clusters (ray-project/ray#54305): a trial function that holds a CPU while its trainer's
workers wait for CPUs can deadlock the cluster. The trial function asks for a sliver of a CPU, and the
number of concurrent trials defaults to what the cluster can actually run side by side.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import requests

from jobspecs.contract import Job, ReportEndpoint
from workers.distributed.launch import (
    build_trainer,
    check_code_version,
    environment_facts,
    job_config,
    make_reporter,
    pick_seed,
    read_job,
)
from workers.storage import open_storage, push_work_dir

# Domains that enumerate their values: the only ones a grid search can take.
DISCRETE = ("choice", "grid_search")
SEARCH_ALGS = ("random", "grid", "optuna", "hyperopt")
SCHEDULERS = ("fifo", "asha", "hyperband", "pbt")


# --- the search space ----------------------------------------------------------------------------


def normalise(sweep: dict) -> dict:
    """The sweep section with defaults filled in (what the backend stores and the driver runs).

    Raises ``ValueError`` with a message for a user when the parts do not fit together.
    """
    cfg = copy.deepcopy(sweep)
    alg = _kind(cfg.get("search_alg") or "random")
    sched = _kind(cfg.get("scheduler") or "fifo")
    if alg not in SEARCH_ALGS:
        raise ValueError(f"sweep.search_alg {alg!r} is not supported; use one of {', '.join(SEARCH_ALGS)}")
    if sched not in SCHEDULERS:
        raise ValueError(f"sweep.scheduler {sched!r} is not supported; use one of {', '.join(SCHEDULERS)}")
    space = cfg["space"]
    grids = [k for k, d in space.items() if d["type"] == "grid_search"]
    if alg == "grid":
        continuous = [k for k, d in space.items() if d["type"] not in DISCRETE]
        if continuous:
            raise ValueError(f"a grid search needs values to enumerate; {continuous[0]!r} is "
                             f"{space[continuous[0]]['type']!r} (use choice or grid_search)")
    elif alg in ("optuna", "hyperopt") and grids:
        raise ValueError(f"search_alg {alg!r} cannot take grid_search domains ({grids[0]!r}); use choice")
    if sched == "pbt" and alg != "random":
        raise ValueError("scheduler 'pbt' mutates the population itself; use search_alg 'random'")
    if sched == "pbt" and not any(d["type"] != "grid_search" for d in space.values()):
        raise ValueError("scheduler 'pbt' needs a space key it can mutate (a grid_search key is only a start)")
    cfg.setdefault("search_alg", "random")
    cfg.setdefault("scheduler", "fifo")
    cfg.setdefault("num_samples", 1 if alg == "grid" or grids else 4)
    cfg.setdefault("max_concurrent_trials", None)
    return cfg


def _kind(option) -> str:
    return str(option.get("type") if isinstance(option, dict) else option).lower()


def _options(option) -> dict:
    return {k: v for k, v in option.items() if k != "type"} if isinstance(option, dict) else {}


def num_trials(cfg: dict) -> int:
    """How many trials the sweep runs: ``num_samples`` times the grid's size."""
    size = 1
    for domain in cfg["space"].values():
        if domain["type"] == "grid_search" or (_kind(cfg["search_alg"]) == "grid" and domain["type"] == "choice"):
            size *= len(domain["values"])
    return int(cfg.get("num_samples") or 1) * size


def probe_params(space: dict) -> dict:
    """One value per key that every domain can produce (for checking the spec a trial would get)."""
    out = {}
    for key, d in space.items():
        kind = d["type"]
        if kind in DISCRETE:
            out[key] = d["values"][0]
        elif kind in ("randn", "qrandn"):
            out[key] = d["mean"]
        elif "randint" in kind:
            out[key] = int(d["lower"])
        else:
            out[key] = d["lower"]
    return out


def apply_params(spec: dict, params: dict) -> dict:
    """The spec a trial trains: ``spec`` with each dotted key set (lists indexed by number); no ``sweep``."""
    out = copy.deepcopy(spec)
    out.pop("sweep", None)
    for key, value in params.items():
        *parents, leaf = key.split(".")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return out


def tune_domain(domain: dict, grid: bool = False):
    """A Ray Tune search domain for one ``dict(type=..., ...)`` of ``sweep.space``."""
    from ray import tune

    kind = domain["type"]
    if kind == "grid_search" or (grid and kind == "choice"):
        return tune.grid_search(list(domain["values"]))
    if kind == "choice":
        return tune.choice(list(domain["values"]))
    if kind in ("randn", "qrandn"):
        args = (domain["mean"], domain["sd"]) + ((domain["q"],) if kind == "qrandn" else ())
        return getattr(tune, kind)(*args)
    args = (domain["lower"], domain["upper"]) + ((domain["q"],) if kind.startswith("q") else ())
    return getattr(tune, kind)(*args)


def param_space(cfg: dict) -> dict:
    grid = _kind(cfg["search_alg"]) == "grid"
    return {key: tune_domain(domain, grid) for key, domain in cfg["space"].items()}


def build_search_alg(cfg: dict):
    """``None`` (Tune's random/grid variant generator), or an Optuna / HyperOpt searcher."""
    kind, opts = _kind(cfg["search_alg"]), _options(cfg["search_alg"])
    if kind in ("random", "grid"):
        return None
    if kind == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(metric=cfg["metric"], mode=cfg["mode"], **opts)
    if kind == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(metric=cfg["metric"], mode=cfg["mode"], **opts)
    raise ValueError(f"search_alg {kind!r} is not supported; use one of {', '.join(SEARCH_ALGS)}")


def build_scheduler(cfg: dict, max_t: int):
    """The trial scheduler. Time is counted in epochs (or iterations for an iteration-based runner)."""
    from ray.tune.schedulers import (
        ASHAScheduler,
        FIFOScheduler,
        HyperBandScheduler,
        PopulationBasedTraining,
    )

    kind, opts = _kind(cfg["scheduler"]), _options(cfg["scheduler"])
    time_attr = opts.pop("time_attr", "training_iteration")
    if kind == "fifo":
        return FIFOScheduler()
    if kind == "asha":
        opts.setdefault("grace_period", 1)
        opts.setdefault("reduction_factor", 3)
        return ASHAScheduler(time_attr=time_attr, max_t=max_t, **opts)
    if kind == "hyperband":
        return HyperBandScheduler(time_attr=time_attr, max_t=max_t, **opts)
    if kind == "pbt":
        # every key but a grid's may be resampled; a trial's checkpoint at each evaluation lets PBT clone it
        mutations = {key: tune_domain(d) for key, d in cfg["space"].items() if d["type"] != "grid_search"}
        opts.setdefault("perturbation_interval", 1)
        return PopulationBasedTraining(time_attr=time_attr, hyperparam_mutations=mutations, **opts)
    raise ValueError(f"scheduler {kind!r} is not supported; use one of {', '.join(SCHEDULERS)}")


def evaluations(spec: dict) -> int:
    """How many evaluations a full trial makes (the ``max_t`` of ASHA / HyperBand): the spec's facts, as the
    service stored them at submit (legacy ``total_epochs`` included), at least 1."""
    from jobspecs.contract import spec_facts

    return max(1, spec_facts(spec).evaluations)


def trial_concurrency(cfg: dict, resources: dict, cluster_cpus: float, most: int | None = None) -> int:
    """Trials side by side: the sweep's ``max_concurrent_trials``, else as many as fit the cluster, never more
    than the operator's bound ``most`` (``TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS``, carried by the job file)."""
    concurrency = cfg.get("max_concurrent_trials") or default_concurrency(resources, cluster_cpus)
    return min(concurrency, int(most)) if most else concurrency


def default_concurrency(resources: dict, cluster_cpus: float) -> int:
    """Trials that fit side by side: each needs ``num_workers * cpus_per_worker`` CPUs."""
    per_trial = int(resources.get("num_workers", 1) or 1) * float(resources.get("cpus_per_worker", 1) or 1)
    return max(1, math.floor(cluster_cpus / max(per_trial, 1e-9)))


# --- talking to the backend ----------------------------------------------------------------------


class SweepClient:
    """The sweep's side of ingestion: register trials and close them."""

    def __init__(self, api_url: str, sweep_id: str, token: str, timeout: float = 10.0):
        self.base = f"{api_url.rstrip('/')}/ingest/sweeps/{sweep_id}"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def register(self, trial_id: str, params: dict, attempts: int = 30) -> dict:
        """The trial's run (``run_id``, ``token``, ``ingest_url``); retried while the backend is away."""
        body = {"trial_id": trial_id, "params": params}
        for attempt in range(attempts):
            try:
                r = self.http.post(f"{self.base}/trials", json=body, timeout=self.timeout)
                if r.status_code < 500:
                    r.raise_for_status()
                    return r.json()
            except requests.ConnectionError:
                pass
            time.sleep(min(10.0, 0.5 * 2 ** attempt))
        raise RuntimeError(f"the backend did not register trial {trial_id}")

    def event(self, status: str, reason: str = "") -> None:
        try:
            self.http.post(self.base, json={"events": [{"status": status, "reason": reason[:4000]}]},
                           timeout=self.timeout)
        except requests.RequestException:
            pass  # reconcile maps the Ray job's state onto the sweep anyway


# --- what runs on Ray ----------------------------------------------------------------------------


def run_trial(config: dict, job: Job) -> None:
    """Tune's function trainable: register the trial, then train it with a ``TorchTrainer``.

    The trainer's workers report each evaluation to the trainer's controller; ``_ForwardReports``
    passes them on to this function, which reports them to Tune (from here, not from the controller:
    only the trial function can hand Tune a checkpoint). Under PBT each report carries the checkpoint
    of the epoch just evaluated, and a trial PBT restarts on a better trial's checkpoint
    (``tune.get_checkpoint()``) continues from those weights with its mutated hyperparameters.
    """
    import threading

    from ray import tune
    from ray.util.queue import Queue

    trial_id = tune.get_context().get_trial_id()
    params = {key: config[key] for key in job.sweep.space}
    pbt = _kind(job.sweep.config.get("scheduler") or "fifo") == "pbt"
    client = SweepClient(job.report.url, job.sweep.id, job.report.token)
    trial = client.register(trial_id, params)
    storage = open_storage(job.storage)
    run_key = f"runs/{trial['run_id']}"
    run_dir = storage.local(run_key)
    spec = apply_params(job.spec, params)
    if pbt:
        spec = pbt_spec(spec)
    cfg = job_config(storage, dataclasses.replace(job, spec=spec), run_key)  # the paths are rebased on each worker
    cfg.update(ingest_url=trial["ingest_url"], token=trial["token"], seed=pick_seed(job, spec),
               report_to_tune=True, hparams_from_spec=pbt)
    status = make_reporter(cfg)
    status.event(None, environment=environment_facts(cfg["seed"]))
    status.event("running", f"trial {trial_id} started")
    clone = tune.get_checkpoint()
    if clone is not None:
        with clone.as_directory() as folder:
            source = adopt_checkpoint(Path(folder), Path(cfg["work_dir"]))
        # on an object store the trainer's workers may be elsewhere: they pull the work dir as stored
        push_work_dir(storage, Path(cfg["work_dir"]), cfg["work_key"], authority=True)
        status.log(f"[trainyard] PBT: continuing from trial {source.get('trial_id')}'s checkpoint at "
                   f"{source.get('unit', 'epoch')} {source.get('done')}")
    status.log(f"[trainyard] trial {trial_id} of sweep {job.sweep.id}: "
               + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    reports = Queue(actor_options={"num_cpus": 0})
    # Rank 0 waits after each report until Tune has taken it: a trial the scheduler stops there trains
    # no further epoch (without it the workers ran on, and a stopped trial stored one evaluation more).
    cfg["tune_acks"] = acks = Queue(actor_options={"num_cpus": 0})
    trainer = build_trainer(trial["run_id"], cfg,
                            callbacks=[_forward_reports_class()(reports)])
    outcome: dict = {}

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the trial function below
            outcome["error"] = exc
        finally:
            reports.put(None)

    fitting = threading.Thread(target=fit, name=f"trainer-{trial_id}", daemon=True)
    fitting.start()
    handoff = run_dir / "pbt-handoff"
    while (item := reports.get()) is not None:
        metrics = {k: v for k, v in item.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if pbt and item.get("checkpoint"):
            checkpoint = Path(item["checkpoint"])
            if item.get("checkpoint_key"):  # rank 0 may be on another node: take the stored copy
                checkpoint = storage.local(item["checkpoint_key"])
                storage.download(item["checkpoint_key"], checkpoint)
            with tune_checkpoint(checkpoint, handoff,
                                 {"trial_id": trial_id, "run_id": trial["run_id"], "params": params}) as ckpt:
                tune.report(metrics, checkpoint=ckpt)
        else:
            tune.report(metrics)
        acks.put(True)  # Tune let the trial go on (a stop ends this actor, and the trainer with it)
    fitting.join()
    if "error" in outcome:
        # Not "failed" yet: a trial the scheduler stops also ends here (its trainer torn down). The
        # driver's TrialReporter knows which it was and closes the trial's run accordingly.
        exc = outcome["error"]
        reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        status.log(f"[trainyard] trial ended: {reason}")
        status.close(timeout=30)
        raise exc
    status.log("[trainyard] trial finished")
    status.event("succeeded")
    status.close(timeout=60)


def _forward_reports_class():
    from ray.train.v2.api.callback import UserCallback

    class ForwardReports(UserCallback):
        """Runs in the trainer's controller: each report of rank 0 goes to the trial function's queue."""

        def __init__(self, queue):
            self.queue = queue

        def after_report(self, run_context, metrics, checkpoint):
            self.queue.put(dict(metrics[0]))

    return ForwardReports


# --- PBT: checkpoints handed to Tune and taken back ------------------------------------------------


def pbt_spec(spec: dict) -> dict:
    """A PBT trial's spec: a checkpoint at every evaluation (PBT clones trials from them), in the work
    dir (no ``out_dir``: a clone's checkpoint is adopted there, where the engine's auto-resume looks)."""
    out = copy.deepcopy(spec)
    evaluation = out.setdefault("evaluation", {})
    ckpt = out.setdefault("checkpoint_config", {})
    ckpt.pop("out_dir", None)
    ckpt["interval"] = int(evaluation.get("interval", 1) or 1)
    ckpt["by_epoch"] = evaluation.get("by_epoch", "max_iters" not in (out.get("runner") or {}))
    return out


@contextlib.contextmanager
def tune_checkpoint(path: Path, folder: Path, source: dict):
    """A Tune ``Checkpoint`` of one engine checkpoint file, for ``tune.report`` (which copies it to the
    trial's storage before returning): the file (hard-linked where possible) and ``source.json``;
    ``folder`` is removed afterwards."""
    import shutil

    from ray import tune

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        target = folder / "checkpoint.pth"
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
        unit, _, done = path.stem.rpartition("_")
        (folder / "source.json").write_text(json.dumps({**source, "file": path.name, "unit": unit,
                                                        "done": int(done)}))
        yield tune.Checkpoint.from_directory(str(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def adopt_checkpoint(folder: Path, work_dir: Path) -> dict:
    """Make a cloned trial's checkpoint (a Tune checkpoint folder from ``tune_checkpoint``) the latest
    of ``work_dir``, so that the engine's auto-resume continues from it; return its ``source.json``.

    This trial's own checkpoints past that point are removed: they belong to the run PBT discarded.
    """
    import shutil

    source = json.loads((folder / "source.json").read_text())
    unit, done = source["unit"], int(source["done"])
    work_dir.mkdir(parents=True, exist_ok=True)
    for old in work_dir.glob(f"{unit}_*.pth"):
        number = old.stem.rpartition("_")[2]
        if number.isdigit() and int(number) >= done:
            old.unlink()
    target = work_dir / f"{unit}_{done}.pth"
    shutil.copy2(folder / "checkpoint.pth", target)
    latest = work_dir / "latest.pth"
    latest.unlink(missing_ok=True)
    try:
        latest.symlink_to(target.name)
    except OSError:
        shutil.copy2(target, latest)
    return source


# What Tune adds to a trial's result besides the evaluation itself (and the engine's position, epoch/iter).
_NOT_METRICS = {"training_iteration", "time_total_s", "time_this_iter_s", "time_since_restore", "timestamp",
                "episodes_total", "timesteps_total", "timesteps_since_restore", "iterations_since_restore", "pid",
                "done", "should_checkpoint", "__duplicate__", "epoch", "iter"}


def evaluation_of(result: dict | None) -> tuple[int, int | None, dict] | None:
    """The evaluation a trial's Tune result carries: ``(step, epoch, {metric: value})``, as the engine logged
    it (step = the iteration it was made at), or None for a result without one (a trial that never reported)."""
    result = result or {}
    step = result.get("iter")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    values = {k: float(v) for k, v in result.items()
              if k not in _NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)
              and math.isfinite(v)}
    epoch = result.get("epoch")
    return (step, epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None, values) if values else None


def evaluations_done(result: dict | None, spec: dict | None = None) -> int:
    """How many evaluations the weights behind a trial's Tune result have had: counted from the engine's own
    position (``epoch`` or ``iter`` over the evaluation interval) where ``spec`` says how, else Tune's count.

    Under PBT Tune's ``training_iteration`` is the count of whichever trial last handed over its checkpoint;
    the engine's position is what this trial's weights actually reached."""
    result = result or {}
    counted = int(result.get("training_iteration", 0) or 0)
    if not spec:
        return counted
    from jobspecs.contract import spec_facts

    facts = spec_facts(spec)
    interval, position = facts.evaluation_interval, result.get(facts.unit)
    if isinstance(position, int) and not isinstance(position, bool):
        return max(counted, position // interval)
    return counted


def _trial_reporter_class():
    from ray.tune import Callback

    class TrialReporter(Callback):
        """Closes every trial Tune ends (completed, stopped early by the scheduler, failed).

        Closing never loses what the scheduler saw: the evaluation of the trial's last Tune result goes to
        the trial's run with the closing event (the same points its rank 0 reports; ingestion stores a point
        once per run, mode, name and step, so whichever arrives second changes nothing). Without it a trial
        that ASHA stopped at its first evaluation could end with no metrics at all: its actor, and the rank-0
        reporter's last batch with it, is torn down as soon as Tune decides.
        """

        def __init__(self, client: SweepClient, full: int, storage: str, spec: dict | None = None):
            self.client, self.full, self.storage, self.spec = client, full, open_storage(storage), spec

        def _close(self, trial, status: str, reason: str = "", early: bool = False) -> None:
            try:
                reg = self.client.register(trial.trial_id, {}, attempts=3)
                reporter = make_reporter({"ingest_url": reg["ingest_url"], "token": reg["token"],
                                          "run_dir": str(self.storage.local(f"runs/{reg['run_id']}")),
                                          "storage_root": str(self.storage.scratch)})
                evaluation = evaluation_of(getattr(trial, "last_result", None))
                if evaluation is not None:
                    step, epoch, values = evaluation
                    reporter.metrics(step, values, epoch=epoch, mode="val")
                reporter.event(status, reason, early_stopped=early)
                if not reporter.close(timeout=30):
                    print(f"[trainyard] trial {trial.trial_id}: the close is spooled, not yet delivered",
                          file=sys.stderr)
            except Exception:  # the backend is away: reconcile closes the trial with the sweep
                print(f"[trainyard] could not close trial {trial.trial_id}:", file=sys.stderr)
                traceback.print_exc()

        def on_trial_complete(self, iteration, trials, trial, **info):
            # Always closed from here: the trial function's own last report may not get out before
            # Tune tears its actor down (the last trial ends when the whole sweep does).
            done = evaluations_done(trial.last_result, self.spec)
            if done < self.full:
                self._close(trial, "succeeded", f"stopped early by the scheduler after {done} of "
                            f"{self.full} evaluations", early=True)
            else:
                self._close(trial, "succeeded", f"finished its {done} evaluations")

        def on_trial_error(self, iteration, trials, trial, **info):
            detail = ""
            try:
                lines = [ln for ln in Path(trial.error_file).read_text().splitlines() if ln.strip()]
                detail = lines[-1] if lines else ""
            except (OSError, TypeError):
                pass
            self._close(trial, "failed", f"trial {trial.trial_id} failed: {detail or 'see the sweep logs'}")

    return TrialReporter


def tune_checkpoints(cfg: dict):
    """Tune's checkpoint keeping: every checkpoint of a PBT sweep, three otherwise (only PBT trials report any).

    PBT restores a clone from the checkpoint its donor had at the exploit, seconds later (a new trial actor, a
    new trainer). Tune 2.60 registers one checkpoint several times (the report, PBT's save of an upper-quantile
    trial, the save of a pause), so ``num_to_keep=3`` deletes folders still listed as kept, fails deleting the
    same folder twice ("Error handling checkpoint ... Path not found" in the driver log of every PBT sweep) and,
    failing, skips the trial's checkpoint-index update, so a restarted trial may write into a folder in use.
    Nothing is deleted here: a PBT trial's checkpoint is a copy of the engine's checkpoint of that evaluation.
    """
    from ray.tune import CheckpointConfig

    return CheckpointConfig(num_to_keep=None if _kind(cfg.get("scheduler") or "fifo") == "pbt" else 3)


_TUNE_CHECKPOINT = re.compile(r"((?:.*/)?checkpoint_\d+)/")


def drop_tune_checkpoints(storage, key: str) -> list[str]:
    """Remove the Tune checkpoint folders (``.../checkpoint_NNNNNN/``) of a finished sweep's results under ``key``.

    They only served the scheduler while the sweep ran (a PBT clone's starting point; each is a copy of an
    engine checkpoint that the trial's own run keeps), and ``tune_checkpoints`` keeps every one of a PBT
    sweep: left there, a long sweep would hold a copy of every evaluation's weights. Returns what it removed.
    """
    folders = sorted({m.group(1) for entry in storage.walk(key)
                      if (m := _TUNE_CHECKPOINT.match(entry.rel))})
    for folder in folders:
        storage.remove(f"{key}/{folder}")
    return folders


def build_tuner(job: Job, cluster_cpus: float):
    from ray import tune
    from ray.tune import RunConfig, TuneConfig

    cfg = job.sweep.config
    full = evaluations(job.spec)
    concurrency = trial_concurrency(cfg, job.resources.to_json(), cluster_cpus, job.sweep.max_concurrent_trials)
    client = SweepClient(job.report.url, job.sweep.id, job.report.token)
    storage_path, filesystem = open_storage(job.storage).ray_storage("ray_results")
    # A sliver of a CPU: Tune refuses an empty request, and a whole CPU per trial driver would starve
    # the trainers' workers on a small cluster (ray-project/ray#54305).
    trainable = tune.with_resources(tune.with_parameters(run_trial, job=job), {"CPU": 0.01})
    return tune.Tuner(
        trainable,
        param_space=param_space(cfg),
        tune_config=TuneConfig(metric=cfg["metric"], mode=cfg["mode"], num_samples=int(cfg["num_samples"]),
                               search_alg=build_search_alg(cfg), scheduler=build_scheduler(cfg, full),
                               max_concurrent_trials=int(concurrency),
                               # A trial actor is busy with its trainer until it exits: reusing it for
                               # another trial (or the same one PBT restarts) would wait on that.
                               reuse_actors=False),
        run_config=RunConfig(name=f"sweep-{job.sweep.id}",
                             storage_path=storage_path, storage_filesystem=filesystem,
                             checkpoint_config=tune_checkpoints(cfg),
                             callbacks=[_trial_reporter_class()(client, full, job.storage, job.spec)], verbose=1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one Trainyard sweep on the Ray cluster (a Ray Job entrypoint).")
    parser.add_argument("job_file", help="JOB.json written by the backend")
    args = parser.parse_args(argv)
    import ray

    storage, job = read_job(args.job_file)  # job.storage: where it was read
    job = dataclasses.replace(job, report=ReportEndpoint(os.environ["TRAINYARD_API_URL"],
                                                         os.environ.get("TRAINYARD_SWEEP_TOKEN", "")))
    client = SweepClient(job.report.url, job.sweep.id, job.report.token)
    ray.init(address="auto", ignore_reinit_error=True)
    client.event("running", "the sweep's Ray job started")
    try:
        check_code_version(job)  # the driver's node; each trial's workers check theirs (train_loop_per_worker)
        results = build_tuner(job, float(ray.cluster_resources().get("CPU", 1))).fit()
        errors = [r.error for r in results if r.error is not None]
    except BaseException as exc:
        reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(traceback.format_exc(), file=sys.stderr)
        client.event("failed", reason[-4000:])
        return 1
    drop_tune_checkpoints(open_storage(job.storage), f"ray_results/sweep-{job.sweep.id}")
    if errors and len(errors) == len(results):
        client.event("failed", f"every trial failed; the first: {errors[0]}"[:4000])
        return 1
    note = f"{len(results)} trials, {len(errors)} failed" if errors else f"{len(results)} trials"
    client.event("succeeded", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
