"""The team leaderboard: the best run per (dataset, spec), with the model zoo's published numbers.

One window query ranks a dataset's runs by the best value of their primary metric (top-1 for a
classification spec, mAP for a multi-label one; higher or lower is better as the spec's facts say) inside
each (dataset, spec) partition and keeps the first of each (issue #6). Nothing is denormalised:
``Run.best_metrics`` is kept current by ingestion, a run's spec facts (``Run.facts``) name its primary
metric, its length and its model's family, and ranking the runs of a few teams (10k rows) in one sort is cheap.
A pasted spec has no library name; its runs group by the resolved spec's hash instead.

A sweep's trial is on the board as its sweep's spec with the trial's parameters (issue #17, item 2): trials
of one spec and one set of parameters (from one sweep or several) are one row, trials of other parameters
other rows, and a row links its sweep. "Epochs" is what a run trained (``Run.trained``, kept by ingestion:
an early-stopped trial shows the 1 epoch it trained, not its spec's 6), iterations for an iteration-based spec.

A row carries its verification (issue #17, item 3; ``verification.py``): an evaluation job's re-score of the
row's number on the validation split, with a mismatch flag; ``verified`` keeps only the rows it confirmed.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import NotSupportedError, connection
from django.db.models import Case, CharField, Count, F, FloatField, Func, TextField, Value, When, Window
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Collate, Concat, Left, NullIf, RowNumber

from backend.accounts import access
from backend.experiments.models import DEFAULT_PRIMARY, Run
from jobspecs.training import accuracy_keys

from . import verification

log = logging.getLogger(__name__)

# The accuracy columns, beside the zoo's published top-1 and top-5 (the engine's names for topk 1 and 5).
TOP1, TOP5 = accuracy_keys((1, 5))
# What the API's and the page's ``ordering`` accepts (a leading '-' sorts descending).
ORDERINGS = ("top1", "top5", "params_m", "flops_g", "epochs", "train_seconds", "finished_at", "model", "family")


@dataclass
class Entry:
    """One row of the board: a team's best run of a spec, or a reference row from the model zoo."""

    spec: str
    model: str
    family: str
    params_m: float | None
    flops_g: float | None
    top1: float | None
    top5: float | None
    ref_top1: float | None
    ref_top5: float | None
    epochs: int | None
    train_seconds: float | None
    created_by: str | None
    finished_at: datetime | None
    dataset: str | None
    team: str | None
    run_id: str | None
    runs: int
    reference: bool = False
    metric: str | None = None  # the primary metric the run is ranked by, and its best value
    best: float | None = None
    length: int | None = None  # how far the run trained, in ``unit`` ('epoch' or 'iter'; ``epochs`` is set for 'epoch')
    unit: str | None = None
    planned_length: int | None = None  # the spec's length in ``unit`` (its facts), for "1 of 6"
    early_stopped: bool = False  # the sweep's scheduler stopped the trial
    params: dict | None = None  # a trial's parameters (by dotted key), None for a run of its own
    sweep_id: str | None = None  # a trial's sweep
    verification: dict | None = None  # the row's verification (``verification.status_of``), None if never asked

    def as_dict(self) -> dict:
        return asdict(self)


def _zoo(spec_name: str):
    """The zoo entry of a library spec, or None (no metafile lists it, or the zoo is unavailable)."""
    if not spec_name:
        return None
    try:
        from jobspecs.zoo import zoo_entry
    except ImportError:
        return None
    try:
        return zoo_entry(spec_name)
    except KeyError:
        return None
    except Exception:  # a broken metafile must not take the leaderboard down
        log.exception("model zoo lookup failed for %s", spec_name)
        return None


def _named(name: str, digest: str):
    """A spec's name on the board: the library name, or ``pasted:<hash>`` for a pasted spec."""
    return Case(When(**{name: ""}, then=Concat(Value("pasted:"), Left(digest, 12))), default=F(name),
                output_field=CharField())


def _spec_name():
    """A run's spec on the board: its own, or for a sweep's trial its sweep's (the trial's own spec is the sweep's
    with the parameters applied, which would read as a pasted spec of its own)."""
    return Case(When(sweep__isnull=False, then=_named("sweep__spec_name", "sweep__spec_hash")),
                default=_named("spec_name", "spec_hash"), output_field=CharField())


def _spec_key():
    """What a row of the board stands for: the spec, and for a trial its parameters too (as JSON text).

    Compared bytewise on PostgreSQL (collation "C"): the partition sort then skips locale-aware
    string comparison, which was half the query's time at 10k runs.
    """
    key = Case(When(sweep__isnull=False,
                    then=Concat(_spec_name(), Value(" "), Cast("trial_params", TextField()),
                                output_field=CharField())),
               default=_spec_name(), output_field=CharField())
    return Collate(key, "C") if connection.vendor == "postgresql" else key


class JSONValueAt(Func):
    """``json[key]`` as a float where the key is itself an expression of the row (each run's own primary
    metric), which Django's key transforms (a fixed key) cannot say. PostgreSQL and SQLite."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s)::double precision",
                           arg_joiner=" ->> ", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="CAST(json_extract(%(expressions)s || '\"') AS REAL)",
                           arg_joiner=", '$.\"' || ", **extra)

    def as_sql(self, compiler, connection, **extra):
        if "template" not in extra:
            raise NotSupportedError(f"the leaderboard reads JSON on PostgreSQL and SQLite, not {connection.vendor}")
        return super().as_sql(compiler, connection, **extra)


def _primary_metric():
    """A run's primary metric, by its spec's facts (``DEFAULT_PRIMARY`` for a run whose facts name none; SQLite
    reads a JSON null as the text 'null')."""
    named = NullIf(KT("facts__primary_metric"), Value("null"))
    return Coalesce(named, Value(DEFAULT_PRIMARY[0]), output_field=CharField())


def _primary_best():
    """The run's best value of its primary metric (``best_metrics`` keeps it), or NULL."""
    return JSONValueAt(F("best_metrics"), _primary_metric())


def _score():
    """The primary best signed so that higher ranks first: negated for a metric where lower is better."""
    lower_is_better = When(facts__primary_mode="min", then=Value(-1.0))
    return _primary_best() * Case(lower_is_better, default=Value(1.0), output_field=FloatField())


def _best_runs(user, *, dataset: str | None, team: str | None) -> dict:
    """``{run id: runs of its spec}`` for the best run of each (dataset, spec) of the user's teams.

    One window query over narrow rows (id, dataset, spec, best value): the details of the few winners are
    read afterwards by primary key, so the sort never carries names, users or specs.
    """
    key = _spec_key()
    partition = [F("dataset_id"), key]
    qs = Run.objects.filter(team_id__in=access.team_ids(user)).order_by()
    if dataset:
        qs = qs.filter(dataset__name=dataset)
    if team:
        qs = qs.filter(team__slug=team)
    ranked = qs.annotate(score=_score()).filter(score__isnull=False).annotate(
        rank=Window(RowNumber(), partition_by=partition,
                    order_by=[F("score").desc(nulls_last=True), F("finished_at").asc(nulls_last=True)]),
        runs=Window(Count("id"), partition_by=partition),
    ).filter(rank=1)
    return dict(ranked.values_list("id", "runs"))


def entries(user, *, dataset: str | None = None, team: str | None = None, family: str | None = None,
            q: str | None = None, ordering: str = "-top1", verified: bool = False) -> list[Entry]:
    """The board of the user's teams: one entry per (dataset, spec), sorted by ``ordering``.

    Args:
        user: Whose teams to read; other teams' runs never appear.
        dataset: Only this dataset (by name).
        team: Only this team (by slug).
        family: Only this model family (the zoo's name, e.g. ``ResNet``; case-insensitive).
        q: Only specs or models containing this text.
        ordering: One of ``ORDERINGS``, ``-`` in front for descending.
        verified: Only rows whose number an evaluation re-scored within the tolerance (``verification``).
    """
    if ordering.lstrip("-") not in ORDERINGS:
        raise ValueError(f"ordering must be one of {', '.join(ORDERINGS)} (with '-' for descending)")
    winners = _best_runs(user, dataset=dataset, team=team)
    rows = Run.objects.filter(pk__in=list(winners)).order_by().annotate(
        top1=Cast(KeyTextTransform(TOP1, "best_metrics"), FloatField()),
        top5=Cast(KeyTextTransform(TOP5, "best_metrics"), FloatField()),
        metric=_primary_metric(), best=_primary_best(),
        planned=Cast(KT("facts__length"), FloatField()), unit=KT("facts__unit"), family=KT("facts__family"),
        spec_key=_spec_name(),
        library=Case(When(sweep__isnull=False, then=F("sweep__spec_name")), default=F("spec_name"),
                     output_field=CharField()),
    ).values("id", "spec_key", "library", "top1", "top5", "metric", "best", "planned", "unit", "family", "trained",
             "early_stopped", "trial_params", "sweep_id", "started_at", "finished_at", "created_by__username",
             "dataset__name", "team__slug")
    out = [_entry({**row, "runs": winners[row["id"]]}) for row in rows]
    if family:
        out = [e for e in out if e.family.lower() == family.lower()]
    if q:
        out = [e for e in out if q.lower() in e.spec.lower() or q.lower() in e.model.lower()]
    found = verification.verifications([e.run_id for e in out])
    for e in out:
        e.verification = found.get(e.run_id)
    if verified:
        out = [e for e in out if e.verification is not None and e.verification["status"] == "verified"]
    return sort_entries(out, ordering)


def _entry(row: dict) -> Entry:
    zoo = _zoo(row["library"])
    started, finished = row["started_at"], row["finished_at"]
    unit = row["unit"] if row["unit"] in ("epoch", "iter") else "epoch"  # a run without facts: one epoch
    trained = row["trained"]
    planned = int(row["planned"]) if row["planned"] is not None and math.isfinite(row["planned"]) else None
    trial = row["sweep_id"] is not None
    return Entry(
        spec=row["spec_key"],
        model=zoo.variant if zoo else _stem(row["spec_key"]),
        # the model's own family (its facts), for any spec; the zoo's for a run stored before facts named it
        family=_text(row["family"]) or (zoo.family if zoo else ""),
        params_m=round(zoo.params / 1e6, 2) if zoo and zoo.params else None,
        flops_g=round(zoo.flops / 1e9, 3) if zoo and zoo.flops else None,
        top1=_finite(row["top1"]), top5=_finite(row["top5"]),
        ref_top1=zoo.top1 if zoo else None, ref_top5=zoo.top5 if zoo else None,
        epochs=trained if unit == "epoch" else None, length=trained, unit=unit, planned_length=planned,
        early_stopped=bool(row["early_stopped"]),
        params=dict(row["trial_params"] or {}) if trial else None, sweep_id=str(row["sweep_id"]) if trial else None,
        metric=row["metric"], best=_finite(row["best"]),
        train_seconds=round((finished - started).total_seconds(), 1) if started and finished else None,
        created_by=row["created_by__username"], finished_at=finished,
        dataset=row["dataset__name"], team=row["team__slug"], run_id=str(row["id"]), runs=row["runs"],
    )


def _text(value) -> str:
    """A JSON text value as read back (SQLite reads a JSON null as the text 'null'), or ''."""
    return value if isinstance(value, str) and value != "null" else ""


def _stem(spec: str) -> str:
    return spec.rsplit("/", 1)[-1].removesuffix(".py")


def _finite(value):
    return value if value is not None and math.isfinite(value) else None


def references(board: list[Entry]) -> list[Entry]:
    """The zoo's published rows of the specs on the board, to show beside the team's own results."""
    seen, out = set(), []
    for e in board:
        zoo = _zoo(e.spec) if not e.spec.startswith("pasted:") else None
        if zoo is None or zoo.spec in seen or zoo.top1 is None:
            continue
        seen.add(zoo.spec)
        out.append(Entry(
            spec=zoo.spec, model=zoo.variant, family=zoo.family,
            params_m=round(zoo.params / 1e6, 2) if zoo.params else None,
            flops_g=round(zoo.flops / 1e9, 3) if zoo.flops else None,
            top1=zoo.top1, top5=zoo.top5, ref_top1=zoo.top1, ref_top5=zoo.top5, epochs=None,
            train_seconds=None, created_by=None, finished_at=None, dataset=zoo.dataset, team=None, run_id=None,
            runs=0, reference=True,
        ))
    return out


def sort_entries(rows: list[Entry], ordering: str) -> list[Entry]:
    """Sort by a column of ``ORDERINGS``; blanks go last whichever the direction."""
    desc = ordering.startswith("-")
    key = ordering.lstrip("-")
    if key not in ORDERINGS:
        raise ValueError(f"ordering must be one of {', '.join(ORDERINGS)} (with '-' for descending)")
    present = [r for r in rows if getattr(r, key) is not None]
    blank = [r for r in rows if getattr(r, key) is None]
    present.sort(key=lambda r: getattr(r, key), reverse=desc)
    return present + blank


def board(user, params) -> dict:
    """The board for a request's filters (``dataset``, ``team``, ``family``, ``q``, ``ordering``, ``verified``):
    entries, the zoo's reference rows and the Pareto front (the run ids on it).

    Raises:
        ValueError: an ordering that is not one of ``ORDERINGS`` (``-`` first for descending).
    """
    rows = entries(user, dataset=params.get("dataset") or None, team=params.get("team") or None,
                   family=params.get("family") or None, q=params.get("q") or None,
                   ordering=params.get("ordering") or "-top1",
                   verified=verification.wants_verified(params.get("verified")))
    points = {(e.flops_g, e.top1): e.run_id for e in rows if e.flops_g is not None and e.top1 is not None}
    front = pareto_front(list(points))
    return {"results": rows, "references": references(rows), "pareto": [points[p] for p in front]}


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (fewer FLOPs and higher accuracy), by FLOPs.

    Args:
        points: ``(flops, accuracy)`` pairs.

    Returns:
        The front, sorted by FLOPs ascending (accuracy then rises along it).
    """
    front, best = [], float("-inf")
    for flops, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((flops, acc))
            best = acc
    return front
