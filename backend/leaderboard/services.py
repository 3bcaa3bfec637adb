"""The team leaderboard: the best run per (dataset, spec), with the model zoo's published numbers.

One window query ranks a dataset's runs by their best validated top-1 inside each (dataset, spec)
partition and keeps the first of each (issue #6). Nothing is denormalised: ``Run.best_metrics`` is
kept current by ingestion, and ranking the runs of a few teams (10k rows) in one sort is cheap.
A pasted spec has no library name; its runs group by the resolved spec's hash instead.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Case, CharField, Count, F, FloatField, Value, When, Window
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Cast, Collate, Concat, Left, RowNumber

from backend.accounts import access
from backend.experiments.models import Run
from backend.experiments.services import PRIMARY_METRIC

log = logging.getLogger(__name__)

TOP5 = "accuracy_top-5"
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


def _spec_key():
    """A run's spec on the board: the library name, or ``pasted:<hash>`` for a pasted spec.

    Compared bytewise on PostgreSQL (collation "C"): the partition sort then skips locale-aware
    string comparison, which was half the query's time at 10k runs.
    """
    key = Case(When(spec_name="", then=Concat(Value("pasted:"), Left("spec_hash", 12))),
               default=F("spec_name"), output_field=CharField())
    return Collate(key, "C") if connection.vendor == "postgresql" else key


def _best_runs(user, *, dataset: str | None, team: str | None) -> dict:
    """``{run id: runs of its spec}`` for the best run of each (dataset, spec) of the user's teams.

    One window query over narrow rows (id, dataset, spec, top-1): the details of the few winners are
    read afterwards by primary key, so the sort never carries names, users or specs.
    """
    top1 = Cast(KeyTextTransform(PRIMARY_METRIC, "best_metrics"), FloatField())
    key = _spec_key()
    partition = [F("dataset_id"), key]
    qs = Run.objects.filter(team_id__in=access.team_ids(user), best_metrics__has_key=PRIMARY_METRIC).order_by()
    if dataset:
        qs = qs.filter(dataset__name=dataset)
    if team:
        qs = qs.filter(team__slug=team)
    ranked = qs.annotate(
        rank=Window(RowNumber(), partition_by=partition,
                    order_by=[top1.desc(nulls_last=True), F("finished_at").asc(nulls_last=True)]),
        runs=Window(Count("id"), partition_by=partition),
    ).filter(rank=1)
    return dict(ranked.values_list("id", "runs"))


def entries(user, *, dataset: str | None = None, team: str | None = None, family: str | None = None,
            q: str | None = None, ordering: str = "-top1") -> list[Entry]:
    """The board of the user's teams: one entry per (dataset, spec), sorted by ``ordering``.

    Args:
        user: Whose teams to read; other teams' runs never appear.
        dataset: Only this dataset (by name).
        team: Only this team (by slug).
        family: Only this model family (the zoo's name, e.g. ``ResNet``; case-insensitive).
        q: Only specs or models containing this text.
        ordering: One of ``ORDERINGS``, ``-`` in front for descending.
    """
    if ordering.lstrip("-") not in ORDERINGS:
        raise ValueError(f"ordering must be one of {', '.join(ORDERINGS)} (with '-' for descending)")
    best = _best_runs(user, dataset=dataset, team=team)
    rows = Run.objects.filter(pk__in=list(best)).order_by().annotate(
        top1=Cast(KeyTextTransform(PRIMARY_METRIC, "best_metrics"), FloatField()),
        top5=Cast(KeyTextTransform(TOP5, "best_metrics"), FloatField()),
        max_epochs=Cast(KT("resolved_spec__runner__max_epochs"), FloatField()),
        spec_key=_spec_key(),
    ).values("id", "spec_key", "spec_name", "top1", "top5", "max_epochs", "started_at", "finished_at",
             "created_by__username", "dataset__name", "team__slug")
    out = [_entry({**row, "runs": best[row["id"]]}) for row in rows]
    if family:
        out = [e for e in out if e.family.lower() == family.lower()]
    if q:
        out = [e for e in out if q.lower() in e.spec.lower() or q.lower() in e.model.lower()]
    return sort_entries(out, ordering)


def _entry(row: dict) -> Entry:
    zoo = _zoo(row["spec_name"])
    started, finished = row["started_at"], row["finished_at"]
    epochs = row["max_epochs"]
    return Entry(
        spec=row["spec_key"],
        model=zoo.variant if zoo else _stem(row["spec_key"]),
        family=zoo.family if zoo else (row["spec_name"].split("/", 1)[0] if "/" in row["spec_name"] else ""),
        params_m=round(zoo.params / 1e6, 2) if zoo and zoo.params else None,
        flops_g=round(zoo.flops / 1e9, 3) if zoo and zoo.flops else None,
        top1=_finite(row["top1"]), top5=_finite(row["top5"]),
        ref_top1=zoo.top1 if zoo else None, ref_top5=zoo.top5 if zoo else None,
        epochs=int(epochs) if epochs is not None and math.isfinite(epochs) else None,
        train_seconds=round((finished - started).total_seconds(), 1) if started and finished else None,
        created_by=row["created_by__username"], finished_at=finished,
        dataset=row["dataset__name"], team=row["team__slug"], run_id=str(row["id"]), runs=row["runs"],
    )


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
