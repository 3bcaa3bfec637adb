"""Shape-preserving downsampling of one metric curve for the charts and the metrics API.

A curve with at most ``max_points`` points is returned whole. A larger one keeps the smallest and
the largest point of each bucket (the envelope a chart draws anyway; M4, Jugel et al., VLDB 2014),
so a loss spike that a plain stride would skip survives. Up to ``IN_MEMORY_LIMIT`` points the
buckets are computed with numpy on the fetched curve (exact positions); beyond that inside the
database, so the web process never loads millions of rows. The first and the last point are always
kept. (LTTB was tried first: its per-bucket loop cost ~100 ms for 15k points in Python.)

On PostgreSQL a long curve is not bucketed from its points at all: migration 0004 keeps, per curve,
the smallest and the largest point of each ``2**level`` steps wide bucket (``ENVELOPE_LEVELS``) in
``experiments_curve_envelope``, merged by triggers as points are stored. A request reads one level,
a few thousand rows, and merges them into its buckets, each the union of whole envelope buckets, so
every extreme is still exact, at its own step (bucketing the 500k points of a curve took 100-250 ms
a request; issue #6). The points themselves are bucketed only where no level fits (another
database, or a ``max_points`` too large for the finest level).

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
# The envelope levels migration 0004 maintains: buckets 2**4 to 2**22 steps wide, 8x apart.
ENVELOPE_LEVELS = (4, 7, 10, 13, 16, 19, 22)
# A level is read when it has at least 2 and at most 16 of its buckets per bucket of the answer:
# fewer would make the answer's buckets coarse and uneven, more costs reading rows. With levels 8x
# apart one of them always fits once the finest has enough.
ENVELOPE_MIN_PER_BUCKET, ENVELOPE_MAX_PER_BUCKET = 2, 16


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
    level = envelope_level(last[0] - head[0][0] + 1, max_points)
    if level is not None and connection.vendor == "postgresql":
        return _envelope_buckets(run_id, mode, name, max_points, level, head[0], last)
    return _minmax_buckets(qs, mode, name, max_points, head[0], last)


def envelope_level(span: int, max_points: int) -> int | None:
    """The envelope level to answer a curve ``span`` steps long with, or None if none fits.

    The finest level with at most ``ENVELOPE_MAX_PER_BUCKET`` of its buckets per answer bucket,
    provided it still has ``ENVELOPE_MIN_PER_BUCKET``.
    """
    buckets = max(1, (max_points - 2) // 2)
    for level in ENVELOPE_LEVELS:
        count = (span >> level) + 1
        if count <= ENVELOPE_MAX_PER_BUCKET * buckets:
            return level if count >= ENVELOPE_MIN_PER_BUCKET * buckets else None
    return None


# Each envelope bucket goes whole into the answer bucket of its first step (width_bucket in double
# precision: no overflow whatever the steps); DISTINCT ON keeps the smallest and the largest point
# of each answer bucket, earliest step on a tie, as the envelope does.
_ENVELOPE_SQL = """
WITH e AS (
    SELECT lo_step, lo_value, hi_step, hi_value,
           width_bucket(GREATEST(bucket << %(level)s, %(first)s)::float8, %(first)s::float8, %(end)s::float8,
                        %(buckets)s) AS b
    FROM experiments_curve_envelope
    WHERE run_id = %(run)s AND mode = %(mode)s AND name = %(name)s AND level = %(level)s
)
SELECT step, value FROM (
    (SELECT DISTINCT ON (b) lo_step AS step, lo_value AS value FROM e ORDER BY b, lo_value, lo_step)
    UNION ALL
    (SELECT DISTINCT ON (b) hi_step, hi_value FROM e ORDER BY b, hi_value DESC, hi_step)
) AS extremes
ORDER BY step
"""


def _envelope_buckets(run_id, mode: str, name: str, max_points: int, level: int, first: tuple,
                      last: tuple) -> list[dict]:
    buckets = max(1, (max_points - 2) // 2)
    params = {"run": run_id, "mode": mode, "name": name, "level": level, "first": first[0], "end": last[0] + 1,
              "buckets": buckets}
    with connection.cursor() as cursor:
        cursor.execute(_ENVELOPE_SQL, params)
        rows = cursor.fetchall()
    if not rows:
        # Points stored while the triggers were off (a bulk load that disabled them): the curve is
        # longer than max_points, so it has envelope rows whenever they are kept. Slow but whole.
        qs = MetricPoint.objects.filter(run_id=run_id, mode=mode, name=name).order_by()
        return _minmax_buckets(qs, mode, name, max_points, first, last)
    out = [_point(mode, name, *first)]
    for step, value in rows:
        if first[0] < step < last[0] and step != out[-1]["step"]:
            out.append(_point(mode, name, step, value, None))
    out.append(_point(mode, name, *last))
    return out


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
