"""The contract between the service and its workers: what a worker receives, what it reports, and what the
service knows of a spec before any worker starts. Pure standard library (no Django, no torch): the backend and
the workers import the same definitions.

- :class:`Job`: the job file a run's (or a sweep's) Ray job reads (``runs/<id>/job.json``): the resolved spec,
  the run's resources (the spec's merged with the request: merged once, here, and trained as they are), the
  dataset and checkpoints as keys on the storage, and where to report (the token travels in the
  environment, never in a file).
- :class:`IngestBatch`: one batch of the reporter (``workers/distributed/reporter.py``) to the ingestion
  endpoint (``backend/experiments/serializers.py``), with its items :class:`MetricPoint`, :class:`LogLine`,
  :class:`CheckpointRecord` and :class:`Event`, and the bounds both sides keep (``MAX_*``).
- :class:`SpecFacts` (``spec_facts(spec)``): the spec's metric names, the metric "best" compares and its mode,
  its length, effective batch and sweep constraints, by the engine's own rules (``jobspecs.training``).

Each document has ``to_json()`` (JSON-ready Python data) and ``from_json(data)``, which refuses a version it
does not know and a malformed field with a :class:`ContractError` naming the field.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from . import paths as path_policy
from . import training
from .batch import BatchFacts, batch_facts
from .version import code_version as current_code_version

JOB_VERSION = 1
BATCH_VERSION = 1
SPEC_FACTS_VERSION = 1

# What one batch may hold, item by item: the ingestion endpoint refuses more (400).
MAX_BATCH_ITEMS = {"metrics": 50_000, "logs": 5_000, "checkpoints": 100, "events": 100}
# Characters of one log line (the reporter sends longer ones in pieces; the endpoint cuts them), of a metric
# name, of a checkpoint path (relative to the storage), of an event's reason and of a reporter session.
MAX_LOG_LINE = 4000
MAX_METRIC_NAME = 64
MAX_CHECKPOINT_PATH = 500
MAX_REASON = 4000
MAX_SESSION = 64
EVENT_STATUSES = ("running", "succeeded", "failed")
METRIC_MODES = ("train", "val")
STRATEGIES = ("ddp", "deepspeed")

FieldPath = tuple  # where a field lies in its document: ("metrics", 3, "value")


class ContractError(ValueError):
    """A document that breaks the contract. ``path`` names the field (``("resources", "num_workers")``),
    ``message`` what it should be; ``str()`` says both."""

    def __init__(self, path: FieldPath, message: str, *, document: str = "document"):
        self.path, self.message, self.document = tuple(path), message, document
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        super().__init__(f"{document}{where}: {message}")


# --- checks ----------------------------------------------------------------------------------------


def _version(data: Mapping, current: int, document: str) -> int:
    """The document's version (absent: 1, what was written before versions); refused unless ``current``."""
    version = data.get("version", 1)
    if version != current or isinstance(version, bool):
        raise ContractError(("version",), f"version {version!r} is not one this side reads (it reads {current}); "
                            "the service and the workers run different releases", document=document)
    return version


def _object(data: Any, path: FieldPath, document: str, allowed: tuple[str, ...] | None = None) -> Mapping:
    if not isinstance(data, Mapping):
        raise ContractError(path, f"an object, not {type(data).__name__}", document=document)
    if allowed is not None:
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise ContractError(path, f"unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(allowed)}",
                                document=document)
    return data


def _int(value: Any, path: FieldPath, document: str, *, minimum: int | None = None, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        rule = f"an integer >= {minimum}" if minimum is not None else "an integer"
        raise ContractError(path, f"{rule}{' or null' if optional else ''}, not {value!r}", document=document)
    return value


def _number(value: Any, path: FieldPath, document: str, *, minimum: float | None = None) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or (minimum is not None and value < minimum)):
        rule = f"a finite number >= {minimum:g}" if minimum is not None else "a finite number"
        raise ContractError(path, f"{rule}, not {value!r}", document=document)
    return value


def _str(value: Any, path: FieldPath, document: str, *, most: int | None = None, nonempty: bool = False,
         optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (nonempty and not value) or (most is not None and len(value) > most):
        rule = "a non-empty string" if nonempty else "a string"
        rule += f" of at most {most} characters" if most is not None else ""
        shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else repr(value[:80] + "...")
        raise ContractError(path, f"{rule}{' or null' if optional else ''}, not {shown}", document=document)
    return value


def _one_of(value: Any, choices: tuple, path: FieldPath, document: str) -> Any:
    if value not in choices or isinstance(value, bool):
        raise ContractError(path, f"one of {', '.join(map(repr, choices))}, not {value!r}", document=document)
    return value


def _json_object(value: Any, path: FieldPath, document: str, *, optional: bool = True) -> dict | None:
    if value is None and optional:
        return None
    return dict(_object(value, path, document))


# --- the job a worker receives ------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """A run's resources: the spec's ``resources`` merged with the request (``jobspecs.schema``'s keys).

    The engine trains with exactly these (its ``spec['resources']``), and Ray Train scales with them.
    """

    num_workers: int = 1
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    strategy: str = "ddp"
    max_failures: int | None = None
    deepspeed: dict | None = None

    KEYS = ("num_workers", "cpus_per_worker", "gpus_per_worker", "strategy", "max_failures", "deepspeed")

    @property
    def device(self) -> str:
        """``cuda`` when each worker holds a GPU, else ``cpu``."""
        return "cuda" if self.gpus_per_worker else "cpu"

    @property
    def threads_per_worker(self) -> int:
        """Torch threads of one worker: its CPUs (at least one)."""
        return max(1, int(self.cpus_per_worker or 1))

    def to_json(self) -> dict:
        out: dict = {"num_workers": self.num_workers, "cpus_per_worker": self.cpus_per_worker,
                     "gpus_per_worker": self.gpus_per_worker, "strategy": self.strategy}
        if self.max_failures is not None:
            out["max_failures"] = self.max_failures
        if self.deepspeed is not None:
            out["deepspeed"] = dict(self.deepspeed)
        return out

    @classmethod
    def from_json(cls, data: Any, path: FieldPath = ("resources",), document: str = "job") -> Resources:
        data = _object(data, path, document, cls.KEYS)
        return cls(
            num_workers=_int(data.get("num_workers", 1), path + ("num_workers",), document, minimum=1),
            cpus_per_worker=_number(data.get("cpus_per_worker", 1), path + ("cpus_per_worker",), document, minimum=0),
            gpus_per_worker=_number(data.get("gpus_per_worker", 0), path + ("gpus_per_worker",), document, minimum=0),
            strategy=_one_of(data.get("strategy", "ddp"), STRATEGIES, path + ("strategy",), document),
            max_failures=_int(data.get("max_failures"), path + ("max_failures",), document, minimum=0, optional=True),
            deepspeed=_json_object(data.get("deepspeed"), path + ("deepspeed",), document),
        )


@dataclass(frozen=True)
class ReportEndpoint:
    """Where a job reports: a run's ingestion URL (``.../api/ingest/<run id>``), or a sweep driver's API root
    (``.../api``). The token authenticates it; it reaches the job in its environment and is never written."""

    url: str
    token: str = field(default="", repr=False)

    def to_json(self) -> dict:
        return {"url": self.url}

    @classmethod
    def from_json(cls, data: Any, path: FieldPath = ("report",), document: str = "job") -> ReportEndpoint:
        data = _object(data, path, document, ("url",))
        return cls(url=_str(data.get("url"), path + ("url",), document, nonempty=True))


@dataclass(frozen=True)
class SweepPart:
    """What a sweep's job carries besides a run's: the sweep's id and folder, its normalised ``sweep`` section
    (``workers.distributed.sweep.normalise``) and the operator's bound on concurrent trials."""

    id: str
    config: dict
    key: str
    max_concurrent_trials: int | None = None

    @property
    def space(self) -> dict:
        return self.config["space"]


@dataclass(frozen=True)
class Job:
    """The job a run's Ray job (``workers.distributed.launch``) or a sweep's (``workers.distributed.sweep``)
    receives. Its JSON is the job file the backend writes: the keys below, flat, as the backend has written
    them since before versions (``version`` absent reads as 1)::

        run:   run_id, run_key, name, spec, data_key, dataset_name, resources, checkpoints, allowed_url_hosts
        sweep: sweep_id, sweep, sweep_key, max_concurrent_trials, name, spec, data_key, ... (as a run)
        both, optional: version, seed, storage, report, code_version

    Args:
        spec: The resolved spec, as stored at submit (its paths as the user wrote them).
        resources: The run's resources. A job file's ``resources`` complete the spec's own (the backend writes
            them merged already; a hand-written job may name only a few): merged here, once.
        data_key: The run's dataset on the storage (the root its data paths are rebased into).
        checkpoints: Each checkpoint reference of the spec (``checkpoint:<id>``) to its key on the storage.
        allowed_url_hosts: The operator's allowlist for URLs in the spec (``workers.fetch``).
        run_id, run_key: A run's id and folder (``runs/<id>`` when not given); None for a sweep.
        sweep: A sweep's own part; None for a run.
        seed: The request's seed, if any.
        storage: The storage location the keys are on (without credentials), where known.
        report: Where to report; set from the environment by the job's driver.
        code_version: The commit of the code that wrote the job (``jobspecs.version``; a ``Job`` made here
            carries this installation's). A node running another commit refuses the job
            (``workers.distributed.launch.check_code_version``); ``""`` (a job file without it): not checked.
    """

    spec: dict
    resources: Resources = field(default_factory=Resources)
    data_key: str | None = None
    dataset_name: str = ""
    checkpoints: dict = field(default_factory=dict)
    allowed_url_hosts: tuple[str, ...] = ()
    name: str = ""
    run_id: str | None = None
    run_key: str | None = None
    sweep: SweepPart | None = None
    seed: int | None = None
    storage: str | None = None
    report: ReportEndpoint | None = None
    version: int = JOB_VERSION
    code_version: str = field(default_factory=current_code_version)

    RUN_KEYS = ("run_id", "run_key")
    SWEEP_KEYS = ("sweep_id", "sweep", "sweep_key", "max_concurrent_trials")
    COMMON_KEYS = ("version", "name", "spec", "data_key", "dataset_name", "resources", "checkpoints",
                   "allowed_url_hosts", "seed", "storage", "report", "code_version")

    @property
    def run_folder(self) -> str:
        """A run's folder on the storage (its key)."""
        return self.run_key or f"runs/{self.run_id}"

    def worker_spec(self, *, data_root: str | os.PathLike | None, run_root: str | os.PathLike,
                    checkpoints: Mapping[str, str] | None = None) -> dict:
        """The spec a worker trains: the job's resources as its ``resources``, and every path field moved into
        its area on this node (``jobspecs.paths.rebase``: data into ``data_root``, outputs into ``run_root``,
        checkpoint references onto the local files in ``checkpoints``). The stored spec is left as it is.

        Raises:
            jobspecs.paths.PathPolicyError: a path that leaves its area.
        """
        return path_policy.rebase({**self.spec, "resources": self.resources.to_json()}, data_root=data_root,
                                  run_root=run_root, checkpoints=checkpoints)

    def to_json(self) -> dict:
        out: dict = {"version": self.version}
        if self.sweep is not None:
            out.update(sweep_id=self.sweep.id, sweep=self.sweep.config, sweep_key=self.sweep.key,
                       max_concurrent_trials=self.sweep.max_concurrent_trials)
        else:
            out.update(run_id=self.run_id, run_key=self.run_folder)
        out.update(name=self.name, spec=self.spec, data_key=self.data_key, dataset_name=self.dataset_name,
                   resources=self.resources.to_json(), checkpoints=dict(self.checkpoints),
                   allowed_url_hosts=list(self.allowed_url_hosts))
        if self.seed is not None:
            out["seed"] = self.seed
        if self.storage is not None:
            out["storage"] = self.storage
        if self.report is not None:
            out["report"] = self.report.to_json()
        if self.code_version:
            out["code_version"] = self.code_version
        return out

    @classmethod
    def from_json(cls, data: Any) -> Job:
        """A job from its JSON (what the backend writes; see the class docstring).

        Raises:
            ContractError: an unknown version or key, or a field of the wrong kind.
        """
        doc = "job"
        is_sweep = isinstance(data, Mapping) and "sweep_id" in data
        data = _object(data, (), doc, cls.COMMON_KEYS + (cls.SWEEP_KEYS if is_sweep else cls.RUN_KEYS))
        version = _version(data, JOB_VERSION, doc)
        spec = dict(_object(data.get("spec"), ("spec",), doc))
        own = spec.get("resources") or {}
        given = data.get("resources") or {}
        resources = Resources.from_json({**_object(own, ("spec", "resources"), doc),
                                         **_object(given, ("resources",), doc)}, document=doc)
        checkpoints = _object(data.get("checkpoints") or {}, ("checkpoints",), doc)
        for ref, key in checkpoints.items():
            _str(key, ("checkpoints", ref), doc, nonempty=True)
        hosts = data.get("allowed_url_hosts") or []
        if not isinstance(hosts, list):
            raise ContractError(("allowed_url_hosts",), f"a list of host names, not {hosts!r}", document=doc)
        for i, host in enumerate(hosts):
            _str(host, ("allowed_url_hosts", i), doc, nonempty=True)
        sweep = run_id = run_key = None
        if is_sweep:
            sweep_id = _str(data.get("sweep_id"), ("sweep_id",), doc, nonempty=True)
            config = dict(_object(data.get("sweep"), ("sweep",), doc))
            _object(config.get("space"), ("sweep", "space"), doc)
            sweep = SweepPart(id=sweep_id, config=config,
                              key=_str(data.get("sweep_key") or f"sweeps/{sweep_id}", ("sweep_key",), doc),
                              max_concurrent_trials=_int(data.get("max_concurrent_trials"),
                                                         ("max_concurrent_trials",), doc, minimum=1, optional=True))
        else:
            run_id = _str(data.get("run_id"), ("run_id",), doc, nonempty=True)
            run_key = _str(data.get("run_key"), ("run_key",), doc, nonempty=True, optional=True)
        report = data.get("report")
        return cls(
            spec=spec, resources=resources,
            data_key=_str(data.get("data_key"), ("data_key",), doc, nonempty=True, optional=True),
            dataset_name=_str(data.get("dataset_name", ""), ("dataset_name",), doc),
            checkpoints=dict(checkpoints), allowed_url_hosts=tuple(hosts),
            name=_str(data.get("name", ""), ("name",), doc),
            run_id=run_id, run_key=run_key, sweep=sweep,
            seed=_int(data.get("seed"), ("seed",), doc, optional=True),
            storage=_str(data.get("storage"), ("storage",), doc, nonempty=True, optional=True),
            report=ReportEndpoint.from_json(report) if report is not None else None,
            version=version,
            code_version=_str(data.get("code_version", ""), ("code_version",), doc, most=80),
        )


# --- a batch of the reporter ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One value of one metric: ``mode`` train or val, at ``step`` (iterations done), in ``epoch``."""

    mode: str
    name: str
    step: int
    value: float
    epoch: int | None = None

    def to_json(self) -> dict:
        return {"mode": self.mode, "name": self.name, "step": self.step, "epoch": self.epoch, "value": self.value}

    @classmethod
    def from_json(cls, item: Any, path: FieldPath = ("metrics", 0)) -> MetricPoint:
        point = cls.checked_json(item, path)
        return cls(point["mode"], point["name"], point["step"], point["value"], point["epoch"])

    @staticmethod
    def checked_json(item: Any, path: FieldPath = ("metrics", 0)) -> dict:
        """The point's JSON checked and normalised (``value`` a float, ``epoch`` present), without building the
        object: the endpoint checks thousands of points a batch this way."""
        doc = "batch"
        if not isinstance(item, Mapping):
            raise ContractError(path, "a metric point is an object", document=doc)
        mode = item.get("mode")
        if mode not in METRIC_MODES:
            raise ContractError(path + ("mode",), f'"{mode}" is not a valid choice.', document=doc)
        name = item.get("name")
        if not isinstance(name, str) or not name or len(name) > MAX_METRIC_NAME:
            raise ContractError(path + ("name",), f"a non-empty string of at most {MAX_METRIC_NAME} characters",
                                document=doc)
        step = item.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ContractError(path + ("step",), "an integer >= 0", document=doc)
        epoch = item.get("epoch")
        if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
            raise ContractError(path + ("epoch",), "an integer or null", document=doc)
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ContractError(path + ("value",), "A valid number is required.", document=doc)
        return {"mode": mode, "name": name, "step": step, "epoch": epoch, "value": float(value)}


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line (its JSON is the text itself). Longer than ``MAX_LOG_LINE``: the reporter sends it in
    pieces (``pieces``), the endpoint cuts it, its end marked "…"."""

    text: str

    def to_json(self) -> str:
        return self.text

    @staticmethod
    def pieces(line: str) -> list[LogLine]:
        """``line`` as lines of at most ``MAX_LOG_LINE`` characters (one when it is short)."""
        return [LogLine(line[i:i + MAX_LOG_LINE]) for i in range(0, len(line), MAX_LOG_LINE)] or [LogLine("")]

    @classmethod
    def from_json(cls, item: Any, path: FieldPath = ("logs", 0)) -> LogLine:
        text = _str(item, path, "batch")
        return cls(text if len(text) <= MAX_LOG_LINE else text[:MAX_LOG_LINE - 1] + "…")


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """A checkpoint file the run wrote: its path relative to the storage, when, its size and the metrics of
    the evaluation of the same epoch (the engine evaluates before it saves)."""

    path: str
    epoch: int
    iteration: int
    size: int = 0
    metrics: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"path": self.path, "epoch": self.epoch, "iteration": self.iteration, "size": self.size,
                "metrics": dict(self.metrics)}

    @classmethod
    def from_json(cls, item: Any, path: FieldPath = ("checkpoints", 0)) -> CheckpointRecord:
        doc = "batch"
        item = _object(item, path, doc, ("path", "epoch", "iteration", "size", "metrics"))
        metrics = _object(item.get("metrics") or {}, path + ("metrics",), doc)
        return cls(path=_str(item.get("path"), path + ("path",), doc, nonempty=True, most=MAX_CHECKPOINT_PATH),
                   epoch=_int(item.get("epoch"), path + ("epoch",), doc, minimum=0),
                   iteration=_int(item.get("iteration"), path + ("iteration",), doc, minimum=0),
                   size=_int(item.get("size", 0), path + ("size",), doc, minimum=0),
                   metrics={str(k): float(_number(v, path + ("metrics", k), doc)) for k, v in metrics.items()})


@dataclass(frozen=True, slots=True)
class Event:
    """A status change (``running``, ``succeeded``, ``failed``) with its reason, or (``status`` None) facts
    about the run: ``environment`` (the reproducibility block), ``early_stopped`` (a sweep's scheduler)."""

    status: str | None
    reason: str = ""
    environment: dict | None = None
    early_stopped: bool | None = None

    def to_json(self) -> dict:
        out: dict = {"status": self.status, "reason": self.reason}
        if self.environment is not None:
            out["environment"] = self.environment
        if self.early_stopped is not None:
            out["early_stopped"] = self.early_stopped
        return out

    @classmethod
    def from_json(cls, item: Any, path: FieldPath = ("events", 0)) -> Event:
        doc = "batch"
        item = _object(item, path, doc, ("status", "reason", "environment", "early_stopped"))
        if "status" not in item:
            raise ContractError(path + ("status",), "required (null for facts without a status change)", document=doc)
        status = item["status"]
        if status is not None:
            _one_of(status, EVENT_STATUSES, path + ("status",), doc)
        early = item.get("early_stopped")
        if early is not None and not isinstance(early, bool):
            raise ContractError(path + ("early_stopped",), f"true or false, not {early!r}", document=doc)
        return cls(status=status, reason=_str(item.get("reason", ""), path + ("reason",), doc, most=MAX_REASON),
                   environment=_json_object(item.get("environment"), path + ("environment",), doc),
                   early_stopped=early)


BATCH_ITEMS = {"metrics": MetricPoint, "logs": LogLine, "checkpoints": CheckpointRecord, "events": Event}


@dataclass(frozen=True)
class IngestBatch:
    """One batch a reporter posts to ``/api/ingest/<run id>``: stored once per (``session``, ``seq``) however
    often it is sent; ``session`` is new for each process start, ``seq`` counts its batches from 0."""

    session: str
    seq: int
    metrics: tuple[MetricPoint, ...] = ()
    logs: tuple[LogLine, ...] = ()
    checkpoints: tuple[CheckpointRecord, ...] = ()
    events: tuple[Event, ...] = ()
    version: int = BATCH_VERSION

    def items(self) -> int:
        return len(self.metrics) + len(self.logs) + len(self.checkpoints) + len(self.events)

    def to_json(self) -> dict:
        return {"version": self.version, "session": self.session, "seq": self.seq,
                "metrics": [m.to_json() for m in self.metrics], "logs": [line.text for line in self.logs],
                "checkpoints": [c.to_json() for c in self.checkpoints], "events": [e.to_json() for e in self.events]}

    @classmethod
    def from_json(cls, data: Any) -> IngestBatch:
        """A batch from its JSON. Raises ``ContractError`` for an unknown version, a key neither side knows,
        a batch beyond ``MAX_BATCH_ITEMS`` or a malformed item (naming it: ``batch.metrics[3].value``)."""
        doc = "batch"
        data = _object(data, (), doc, ("version", "session", "seq") + tuple(BATCH_ITEMS))
        version = _version(data, BATCH_VERSION, doc)
        kinds = {}
        for kind, item_type in BATCH_ITEMS.items():
            items = data.get(kind) or []
            if not isinstance(items, list):
                raise ContractError((kind,), f"a list, not {type(items).__name__}", document=doc)
            if len(items) > MAX_BATCH_ITEMS[kind]:
                raise ContractError((kind,), f"at most {MAX_BATCH_ITEMS[kind]} items a batch, not {len(items)}",
                                    document=doc)
            kinds[kind] = tuple(item_type.from_json(item, (kind, i)) for i, item in enumerate(items))
        return cls(session=_str(data.get("session"), ("session",), doc, nonempty=True, most=MAX_SESSION),
                   seq=_int(data.get("seq"), ("seq",), doc, minimum=0), version=version, **kinds)


# --- what the service knows of a spec ------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One constraint a spec breaks: the field and a message for the user."""

    field: str
    message: str


@dataclass(frozen=True)
class SweepFacts:
    """A spec's ``sweep`` section as the service checks it: the metric it optimises and how, the scheduler and
    search (their kinds), and the constraints the spec breaks (``problems``, empty when it fits)."""

    metric: str | None
    mode: str | None
    scheduler: str
    search_alg: str
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class SpecFacts:
    """What the service needs from a spec, computed by the workers' rules (stored on the run at submit).

    Args:
        model, backbone: ``model.type`` and ``model.backbone.type`` (None when absent).
        unit, length: ``'epoch'`` and ``max_epochs`` for an EpochBasedRunner, ``'iter'`` and ``max_iters``.
        evaluation_interval: Epochs (iterations) between evaluations.
        evaluations: Evaluations of a full run (a sweep scheduler's ``max_t``); 0 without ``data.val``.
        metric_names: The val metrics each evaluation reports, in the engine's order (none without ``data.val``).
        primary_metric, primary_mode: The metric "best" compares (``evaluation.save_best``, else the first)
            and ``'max'`` or ``'min'`` (``evaluation.rule``, else min for a loss).
        batch: The batch arithmetic (``jobspecs.batch``), on the spec's ``resources.num_workers``.
        sweep: The sweep section's facts; None without one.
        family: The model family of ``backbone`` as the workers name it (``workers.models.families``: the zoo's
            family of the backbone's file, else the type name); None where not computed (facts stored before
            it, or computed without the workers' registries).
    """

    model: str | None
    backbone: str | None
    unit: str
    length: int
    evaluation_interval: int
    evaluations: int
    metric_names: tuple[str, ...]
    primary_metric: str | None
    primary_mode: str | None
    batch: BatchFacts
    sweep: SweepFacts | None = None
    family: str | None = None
    version: int = SPEC_FACTS_VERSION

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(metric_names=list(self.metric_names), batch=self.batch.as_dict())
        if self.sweep is not None:
            out["sweep"] = {"metric": self.sweep.metric, "mode": self.sweep.mode, "scheduler": self.sweep.scheduler,
                            "search_alg": self.sweep.search_alg,
                            "problems": [{"field": p.field, "message": p.message} for p in self.sweep.problems]}
        return out

    @classmethod
    def from_json(cls, data: Any) -> SpecFacts:
        doc = "spec facts"
        names = tuple(f.name for f in fields(cls))
        data = _object(data, (), doc, names)
        version = _version(data, SPEC_FACTS_VERSION, doc)
        missing = [n for n in names if n not in data and n not in ("sweep", "family", "version")]
        if missing:
            raise ContractError((missing[0],), "required", document=doc)
        batch_keys = tuple(f.name for f in fields(BatchFacts))
        batch = _object(data["batch"], ("batch",), doc, batch_keys)
        if set(batch) != set(batch_keys):
            raise ContractError(("batch",), f"the keys {', '.join(batch_keys)}", document=doc)
        metric_names = data["metric_names"]
        if not isinstance(metric_names, list):
            raise ContractError(("metric_names",), f"a list of names, not {metric_names!r}", document=doc)
        sweep = data.get("sweep")
        if sweep is not None:
            sweep = _object(sweep, ("sweep",), doc, ("metric", "mode", "scheduler", "search_alg", "problems"))
            problems = []
            for i, problem in enumerate(sweep.get("problems") or []):
                where = ("sweep", "problems", i)
                problem = _object(problem, where, doc, ("field", "message"))
                problems.append(Problem(_str(problem.get("field"), where + ("field",), doc),
                                        _str(problem.get("message"), where + ("message",), doc)))
            sweep = SweepFacts(metric=_str(sweep.get("metric"), ("sweep", "metric"), doc, optional=True),
                               mode=_str(sweep.get("mode"), ("sweep", "mode"), doc, optional=True),
                               scheduler=_str(sweep.get("scheduler"), ("sweep", "scheduler"), doc),
                               search_alg=_str(sweep.get("search_alg"), ("sweep", "search_alg"), doc),
                               problems=tuple(problems))
        return cls(
            model=_str(data["model"], ("model",), doc, optional=True),
            backbone=_str(data["backbone"], ("backbone",), doc, optional=True),
            unit=_one_of(data["unit"], ("epoch", "iter"), ("unit",), doc),
            length=_int(data["length"], ("length",), doc, minimum=1),
            evaluation_interval=_int(data["evaluation_interval"], ("evaluation_interval",), doc, minimum=1),
            evaluations=_int(data["evaluations"], ("evaluations",), doc, minimum=0),
            metric_names=tuple(_str(n, ("metric_names", i), doc, nonempty=True) for i, n in enumerate(metric_names)),
            primary_metric=_str(data["primary_metric"], ("primary_metric",), doc, optional=True),
            primary_mode=(None if data["primary_mode"] is None
                          else _one_of(data["primary_mode"], ("max", "min"), ("primary_mode",), doc)),
            batch=BatchFacts(**batch), sweep=sweep, version=version,
            family=_str(data.get("family"), ("family",), doc, optional=True),
        )


def _kind(option) -> str:
    """A sweep option's kind: ``'asha'`` of ``'asha'`` or of ``dict(type='asha', ...)``."""
    return str(option.get("type") if isinstance(option, dict) else option).lower()


def spec_facts(spec: dict, *, family_of: Callable[[str | None], str | None] | None = None) -> SpecFacts:
    """The facts of a resolved spec (with the run's ``resources`` merged in, for the effective batch).

    ``family_of`` names the family of ``model.backbone.type`` (the workers' ``workers.models.families.model_family``:
    this module imports nothing of the workers); without it ``family`` is None.

    Raises:
        ContractError: a spec the engine could not train (no runner length, an ``evaluation`` that is not a
            section); ``jobspecs.validate`` refuses these first.
    """
    doc = "spec"
    try:
        unit, length = training.runner_length(spec)
    except (KeyError, ValueError) as err:
        raise ContractError(("runner",), str(err.args[0]), document=doc) from None
    evaluation = dict(_object(spec.get("evaluation") or {}, ("evaluation",), doc))
    interval = evaluation.get("interval", 1) or 1
    data = spec.get("data") or {}
    names: list[str] = []
    if isinstance(data, dict) and data.get("val") is not None:
        names = training.metric_names(evaluation.get("metric", "accuracy"), evaluation.get("metric_options"))
    save_best = evaluation.get("save_best")
    primary = save_best if isinstance(save_best, str) and save_best != "auto" else (names[0] if names else None)
    mode = None
    if primary is not None:
        mode = "max" if training.greater_is_better(primary, evaluation.get("rule")) else "min"
    model = spec.get("model") if isinstance(spec.get("model"), dict) else {}
    backbone = model.get("backbone") if isinstance(model.get("backbone"), dict) else {}
    return SpecFacts(
        model=model.get("type"), backbone=backbone.get("type"), unit=unit, length=length,
        evaluation_interval=int(interval), evaluations=max(1, length // int(interval)) if names else 0,
        metric_names=tuple(names), primary_metric=primary, primary_mode=mode, batch=batch_facts(spec),
        sweep=_sweep_facts(spec, evaluation, names),
        family=family_of(backbone.get("type")) if family_of is not None else None,
    )


def _sweep_facts(spec: dict, evaluation: dict, names: list[str]) -> SweepFacts | None:
    """The sweep section's facts and the constraints the service checks at submit (messages as it words them)."""
    sweep = spec.get("sweep")
    if not isinstance(sweep, dict):
        return None
    scheduler, search_alg = _kind(sweep.get("scheduler") or "fifo"), _kind(sweep.get("search_alg") or "random")
    metric = sweep.get("metric")
    problems = []
    if scheduler == "pbt" and (spec.get("resources") or {}).get("strategy") == "deepspeed":
        # a clone's .pth carries the weights only; its DeepSpeed optimizer partitions stay with the clone
        problems.append(Problem("sweep.scheduler", "scheduler 'pbt' cannot clone a DeepSpeed trial (its optimizer "
                                "state lives in DeepSpeed's own checkpoint); use strategy 'ddp' or scheduler 'asha'"))
    if scheduler == "pbt" and not evaluation.get("interval", 1):
        problems.append(Problem("sweep.scheduler", "scheduler 'pbt' compares trials at each evaluation; the spec "
                                "needs evaluation.interval"))
    if metric not in names:
        problems.append(Problem("sweep.metric", f"sweep.metric {metric!r} is not a metric this spec's evaluation "
                                f"reports ({', '.join(names)})"))
    return SweepFacts(metric=metric if isinstance(metric, str) else None,
                      mode=sweep.get("mode") if isinstance(sweep.get("mode"), str) else None,
                      scheduler=scheduler, search_alg=search_alg, problems=tuple(problems))


__all__ = [
    "BATCH_ITEMS", "BATCH_VERSION", "EVENT_STATUSES", "JOB_VERSION", "MAX_BATCH_ITEMS", "MAX_CHECKPOINT_PATH",
    "MAX_LOG_LINE", "MAX_METRIC_NAME", "MAX_REASON", "MAX_SESSION", "METRIC_MODES", "SPEC_FACTS_VERSION",
    "CheckpointRecord", "ContractError", "Event", "IngestBatch", "Job", "LogLine", "MetricPoint", "Problem",
    "ReportEndpoint", "Resources", "SpecFacts", "SweepFacts", "SweepPart", "spec_facts",
]
