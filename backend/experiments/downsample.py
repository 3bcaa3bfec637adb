"""Shape-preserving downsampling of one metric curve for the charts and the metrics API.

A curve with at most ``max_points`` points is returned whole. A larger one keeps the smallest and
the largest point of each bucket (the envelope a chart draws anyway; M4, Jugel et al., VLDB 2014),
so a loss spike that a plain stride would skip survives. Up to ``IN_MEMORY_LIMIT`` points the
buckets are computed with numpy on the fetched curve (exact positions); beyond that inside the
database, so the web process never loads millions of rows. The first and the last point are always
kept. (LTTB was tried first: its per-bucket loop cost ~100 ms for 15k points in Python.)

Every query filters on ``(run, mode, name)`` and orders or groups by ``step``: the columns of the
``point_once`` unique index, which serves them without touching the table's other columns.
"""
from __future__ import annotations

import numpy as np
from django.db import connection, transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F, Max, Min

from .models import MetricPoint

DEFAULT_MAX_POINTS = 2000
# Above this many steps a curve is bucketed in SQL instead of fetched and bucketed in numpy.
IN_MEMORY_LIMIT = 20_000


def minmax_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the smallest and largest value of each of ``max_points // 2`` equal buckets,
    plus the first and last point, in order: at most ``max_points`` of them.

    Args:
        values: y values in step order.
        max_points: How many points to keep at most (at least 4).

    Returns:
        Sorted, distinct indices into ``values``.
    """
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, (max_points - 2) // 2)
    edges = np.linspace(1, n - 1, buckets + 1).astype(np.int64)  # the inner points, in equal buckets
    width = int(np.max(np.diff(edges)))
    # One row per bucket, padded with NaN, so argmin/argmax run once over the whole matrix.
    idx = edges[:-1, None] + np.arange(width)[None, :]
    valid = idx < edges[1:, None]
    grid = np.where(valid, values[np.minimum(idx, n - 1)], np.nan)
    rows = np.arange(buckets)
    lows = idx[rows, np.nanargmin(grid, axis=1)]
    highs = idx[rows, np.nanargmax(grid, axis=1)]
    return np.unique(np.concatenate(([0, n - 1], lows, highs)))


def curve(run_id, mode: str, name: str, max_points: int = DEFAULT_MAX_POINTS) -> list[dict]:
    """The points of one curve, at most about ``max_points`` of them, in step order.

    Args:
        run_id: The run's primary key.
        mode: ``train`` or ``val``.
        name: The metric's name (``loss``, ``lr``, ``accuracy_top-1`` ...).
        max_points: The most points to return (min/max bucketing may return up to this many).

    Returns:
        Dicts with ``mode``, ``name``, ``step``, ``epoch`` and ``value`` (``epoch`` is None for the
        points of a database-bucketed curve).
    """
    max_points = max(4, max_points)
    qs = MetricPoint.objects.filter(run_id=run_id, mode=mode, name=name).order_by()
    head = list(qs.order_by("step").values_list("step", "value", "epoch")[: max_points + 1])
    if len(head) <= max_points:
        return [_point(mode, name, *row) for row in head]
    last = qs.order_by("-step").values_list("step", "value", "epoch")[0]
    # Steps are unique in a curve, so the span bounds the count without counting (a full scan).
    if last[0] - head[0][0] < IN_MEMORY_LIMIT:
        rows = list(qs.order_by("step").values_list("step", "value", "epoch"))
        values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        return [_point(mode, name, *rows[i]) for i in minmax_indices(values, max_points)]
    return _minmax_buckets(qs, mode, name, max_points, head[0], last)


def _minmax_buckets(qs, mode: str, name: str, max_points: int, first: tuple, last: tuple) -> list[dict]:
    lo, span = first[0], last[0] - first[0] + 1
    buckets = max(1, (max_points - 2) // 2)
    bucket = ExpressionWrapper((F("step") - lo) * buckets / span, output_field=BigIntegerField())
    rows = (qs.annotate(bucket=bucket).values("bucket")
            .annotate(s0=Min("step"), s1=Max("step"), v0=Min("value"), v1=Max("value")).order_by("bucket"))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The planner cannot tell the bucket expression has few values and plans a sort of every
            # row, which spills to disk under the default work_mem; with room it hashes in one pass.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
        rows = list(rows)
    out = [_point(mode, name, *first)]
    for r in rows:
        # Both extremes of the bucket, at its two ends, in the order the curve is heading (the
        # bucket is sub-pixel wide at chart resolution, so only the envelope is visible).
        descending = out[-1]["value"] > (r["v0"] + r["v1"]) / 2
        pair = [(r["s0"], r["v1"]), (r["s1"], r["v0"])] if descending else [(r["s0"], r["v0"]), (r["s1"], r["v1"])]
        if r["s0"] == r["s1"]:
            pair = pair[:1]
        out.extend(_point(mode, name, s, v, None) for s, v in pair if first[0] < s < last[0])
    out.append(_point(mode, name, *last))
    return out


def curve_keys(run_id) -> list[tuple[str, str]]:
    """The (mode, name) of every curve of a run, found by seeking the index once per curve.

    ``SELECT DISTINCT`` would read every point of the run; skipping from one key to the next in
    the ``(run, mode, name, step)`` index costs a couple of lookups per curve instead.
    """
    points = MetricPoint.objects.filter(run_id=run_id)
    keys: list[tuple[str, str]] = []
    row = points.order_by("mode", "name").values_list("mode", "name").first()
    while row is not None:
        keys.append(row)
        mode, name = row
        row = (points.filter(mode=mode, name__gt=name).order_by("name").values_list("mode", "name").first()
               or points.filter(mode__gt=mode).order_by("mode", "name").values_list("mode", "name").first())
    return keys


def curves(run_id, max_points: int = DEFAULT_MAX_POINTS, *, mode: str | None = None,
           name: str | None = None) -> list[dict]:
    """Every curve of a run (or those matching ``mode``/``name``), each downsampled on its own."""
    out: list[dict] = []
    for m, n in curve_keys(run_id):
        if (mode is None or m == mode) and (name is None or n == name):
            out.extend(curve(run_id, m, n, max_points))
    return out


def _point(mode: str, name: str, step: int, value: float, epoch) -> dict:
    return {"id": None, "mode": mode, "name": name, "step": step, "epoch": epoch, "value": value}
