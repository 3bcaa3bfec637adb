"""Shape-preserving downsampling of one metric curve for the charts and the metrics API.

A curve with at most ``max_points`` points is returned whole. A larger one that fits in memory
comfortably is thinned with Largest-Triangle-Three-Buckets (Steinarsson, "Downsampling Time Series
for Visual Representation", 2013), which keeps spikes a plain stride would skip. A very large curve
is reduced inside the database to the minimum and maximum of each step bucket (the envelope the
chart would draw anyway, as in M4, Jugel et al., VLDB 2014), so the web process never loads millions
of rows. The first and the last point are always kept.

Every query filters on ``(run, mode, name)`` and orders or groups by ``step``: the columns of the
``point_once`` unique index, which serves them without touching the table's other columns.
"""
from __future__ import annotations

import numpy as np
from django.db.models import BigIntegerField, ExpressionWrapper, F, Max, Min

from .models import MetricPoint

DEFAULT_MAX_POINTS = 2000
# Above this many points a curve is bucketed in SQL instead of fetched and thinned with LTTB.
LTTB_LIMIT = 20_000


def lttb(steps: np.ndarray, values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the points Largest-Triangle-Three-Buckets keeps (first and last included).

    Args:
        steps: x values, ascending.
        values: y values, same length.
        max_points: How many points to keep (at least 3).

    Returns:
        Sorted indices into ``steps``.
    """
    n = len(steps)
    if n <= max_points or max_points < 3:
        return np.arange(n)
    x, y = steps.astype(np.float64), values.astype(np.float64)
    edges = np.linspace(1, n - 1, max_points - 1).astype(np.int64)  # max_points - 2 inner buckets
    keep = np.empty(max_points, dtype=np.int64)
    keep[0], keep[-1] = 0, n - 1
    a = 0
    for i in range(max_points - 2):
        lo, hi = edges[i], max(edges[i + 1], edges[i] + 1)
        # the next bucket's mean is the third corner of the triangle (the last point for the last bucket)
        nlo, nhi = hi, (edges[i + 2] if i + 2 < len(edges) else n)
        nx, ny = (x[nlo:nhi].mean(), y[nlo:nhi].mean()) if nhi > nlo else (x[-1], y[-1])
        area = np.abs((x[a] - nx) * (y[lo:hi] - y[a]) - (x[a] - x[lo:hi]) * (ny - y[a]))
        a = lo + int(np.argmax(area))
        keep[i + 1] = a
    return keep


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
    max_points = max(3, max_points)
    qs = MetricPoint.objects.filter(run_id=run_id, mode=mode, name=name).order_by()
    head = list(qs.order_by("step").values_list("step", "value", "epoch")[: max_points + 1])
    if len(head) <= max_points:
        return [_point(mode, name, *row) for row in head]
    total = qs.count()
    if total <= LTTB_LIMIT:
        rows = list(qs.order_by("step").values_list("step", "value", "epoch"))
        steps = np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows))
        values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        return [_point(mode, name, *rows[i]) for i in lttb(steps, values, max_points)]
    return _minmax_buckets(qs, mode, name, max_points)


def _minmax_buckets(qs, mode: str, name: str, max_points: int) -> list[dict]:
    first = qs.order_by("step").values_list("step", "value", "epoch")[0]
    last = qs.order_by("-step").values_list("step", "value", "epoch")[0]
    lo, span = first[0], last[0] - first[0] + 1
    buckets = max(1, (max_points - 2) // 2)
    bucket = ExpressionWrapper((F("step") - lo) * buckets / span, output_field=BigIntegerField())
    rows = (qs.annotate(bucket=bucket).values("bucket")
            .annotate(s0=Min("step"), s1=Max("step"), v0=Min("value"), v1=Max("value")).order_by("bucket"))
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


def curves(run_id, max_points: int = DEFAULT_MAX_POINTS, *, mode: str | None = None,
           name: str | None = None) -> list[dict]:
    """Every curve of a run (or those matching ``mode``/``name``), each downsampled on its own."""
    keys = MetricPoint.objects.filter(run_id=run_id).order_by()
    if mode:
        keys = keys.filter(mode=mode)
    if name:
        keys = keys.filter(name=name)
    out: list[dict] = []
    for m, n in sorted(set(keys.values_list("mode", "name").distinct())):
        out.extend(curve(run_id, m, n, max_points))
    return out


def _point(mode: str, name: str, step: int, value: float, epoch) -> dict:
    return {"id": None, "mode": mode, "name": name, "step": step, "epoch": epoch, "value": value}
