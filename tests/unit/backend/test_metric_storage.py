"""How metric points are stored (issue #6): once per step with the first value winning, and curve
envelopes that stay exact whatever writes or removes the points, so a long curve's downsampling
keeps every extreme at its own step."""
import math

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from backend.experiments import downsample
from backend.experiments.ingestion import insert_points
from backend.experiments.models import MetricPoint

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the envelopes are PostgreSQL's")


def envelope(run_id, level=4, mode="train", name="loss") -> dict[int, tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT bucket, lo_step, lo_value, hi_step, hi_value FROM experiments_curve_envelope "
                       "WHERE run_id = %s AND mode = %s AND name = %s AND level = %s ORDER BY bucket",
                       [run_id, mode, name, level])
        return {row[0]: row[1:] for row in cursor.fetchall()}


def expected_envelope(steps, values, level=4) -> dict[int, tuple]:
    """Smallest and largest point of each bucket, earliest step on a tie, computed the slow way."""
    out: dict[int, tuple] = {}
    for s, v in sorted(zip(steps, values, strict=True)):
        b = s >> level
        lo_s, lo_v, hi_s, hi_v = out.get(b, (s, v, s, v))
        if v < lo_v:
            lo_s, lo_v = s, v
        if v > hi_v:
            hi_s, hi_v = s, v
        out[b] = (lo_s, lo_v, hi_s, hi_v)
    return out


def points(run, steps, values, mode="train", name="loss"):
    return [{"mode": mode, "name": name, "step": int(s), "epoch": int(s) // 100, "value": float(v)}
            for s, v in zip(steps, values, strict=True)]


def store(run, batch):
    insert_points(run, batch, timezone.now())


@pytest.fixture
def run(cast):
    return cast.make_run()


def test_a_replayed_step_keeps_its_first_value(run):
    store(run, points(run, [1, 2, 3], [3.0, 2.0, 1.0]))
    store(run, points(run, [2, 3, 4], [9.0, 9.0, 0.5]) + points(run, [4], [7.0]))
    stored = list(MetricPoint.objects.filter(run=run).order_by("step").values_list("step", "value"))
    assert stored == [(1, 3.0), (2, 2.0), (3, 1.0), (4, 0.5)]
    # the dropped replays are not in the envelope either
    assert envelope(run.pk) == {0: (4, 0.5, 1, 3.0)}


def test_a_metric_name_json_would_escape_is_stored_as_sent(run):
    odd = 'loss "a", {b}\\c/ü'
    store(run, points(run, [0], [1.25], name=odd))
    assert MetricPoint.objects.get(run=run).name == odd


def test_the_envelope_follows_batches_in_any_order(run):
    rng = np.random.default_rng(6)
    steps = rng.permutation(5_000)
    values = np.round(rng.normal(size=5_000), 1)  # ties on purpose: the earliest step must win
    for chunk in np.array_split(np.arange(5_000), 7):
        store(run, points(run, steps[chunk], values[chunk]))
    for level in downsample.ENVELOPE_LEVELS[:3]:
        assert envelope(run.pk, level) == expected_envelope(steps.tolist(), values.tolist(), level)


def test_points_written_by_the_orm_are_in_the_envelope_too(run):
    MetricPoint.objects.bulk_create(MetricPoint(run=run, mode="val", name="acc", step=s, value=s % 5) for s in range(40))
    assert envelope(run.pk, mode="val", name="acc") == {0: (0, 0.0, 4, 4.0), 1: (20, 0.0, 19, 4.0),
                                                     2: (35, 0.0, 34, 4.0)}


def test_deleting_or_changing_points_rebuilds_the_envelope(run, cast):
    other = cast.make_run()
    store(run, points(run, range(48), [float(s) for s in range(48)]))
    store(other, points(other, range(48), [1.0] * 48))
    MetricPoint.objects.filter(run=run, step__gte=40).delete()
    MetricPoint.objects.filter(run=run, step=3).update(value=-1.0)
    assert envelope(run.pk) == {0: (3, -1.0, 15, 15.0), 1: (16, 16.0, 31, 31.0), 2: (32, 32.0, 39, 39.0)}
    run_id = run.pk
    run.delete()
    assert envelope(run_id) == {} and len(envelope(other.pk)) == 3


def test_a_long_curve_is_answered_from_the_envelope_with_every_extreme_at_its_step(run, monkeypatch):
    monkeypatch.setattr(downsample, "IN_MEMORY_LIMIT", 1_000)
    n = 30_000
    values = np.sin(np.arange(n) / 700.0) + np.random.default_rng(1).normal(scale=0.01, size=n)
    values[12_345], values[29_000] = 8.0, -8.0  # spikes a stride would miss
    store(run, points(run, range(n), values))
    curve = downsample.curve(run.pk, "train", "loss", max_points=500)
    steps = [p["step"] for p in curve]
    assert len(curve) <= 500 and steps == sorted(set(steps))
    assert (curve[0]["step"], curve[-1]["step"]) == (0, n - 1) and curve[0]["epoch"] == 0
    # every point returned is a stored point, at its own step
    assert all(p["value"] == values[p["step"]] for p in curve)
    assert {(12_345, 8.0), (29_000, -8.0)} <= {(p["step"], p["value"]) for p in curve}
    # the answer's buckets keep the extremes of each stretch of the curve: no dip or peak is lost
    edges = np.linspace(0, n, 50, dtype=int)
    for a, b in zip(edges, edges[1:], strict=False):
        inside = [p["value"] for p in curve if a <= p["step"] < b]
        assert max(inside) >= values[a + 250:b - 250].max() and min(inside) <= values[a + 250:b - 250].min()


def test_the_envelope_and_the_points_answer_alike(run, monkeypatch):
    monkeypatch.setattr(downsample, "IN_MEMORY_LIMIT", 1_000)
    values = [math.exp(-s / 3_000) for s in range(20_000)]
    store(run, points(run, range(20_000), values))
    fast = downsample.curve(run.pk, "train", "loss", max_points=400)
    monkeypatch.setattr(downsample, "ENVELOPE_LEVELS", ())  # only the bucketing of the points is left
    slow = downsample.curve(run.pk, "train", "loss", max_points=400)
    assert (fast[0], fast[-1]) == (slow[0], slow[-1])
    assert abs(len(fast) - len(slow)) <= 4 and len(fast) <= 400
    assert min(p["value"] for p in fast) == min(p["value"] for p in slow)


def test_a_curve_without_envelope_rows_is_bucketed_from_its_points(run, monkeypatch):
    monkeypatch.setattr(downsample, "IN_MEMORY_LIMIT", 1_000)
    values = [float(s % 97) for s in range(20_000)]
    values[7_777] = 500.0
    store(run, points(run, range(20_000), values))
    with connection.cursor() as cursor:  # as after a bulk load with the triggers off
        cursor.execute("DELETE FROM experiments_curve_envelope WHERE run_id = %s", [run.pk])
    curve = downsample.curve(run.pk, "train", "loss", max_points=400)
    assert 300 < len(curve) <= 400 and max(p["value"] for p in curve) == 500.0


def test_a_curve_within_max_points_stays_whole(run):
    store(run, points(run, range(0, 300_000, 1_000), np.linspace(1, 0, 300)))
    curve = downsample.curve(run.pk, "train", "loss", max_points=300)
    assert [p["step"] for p in curve] == list(range(0, 300_000, 1_000)) and all(p["epoch"] is not None for p in curve)


@pytest.mark.parametrize("span, max_points, level", [
    (500_000, 2000, 7),           # the benchmark's curve: ~3.9k rows read
    (30_000, 500, 4),
    (20_000, 2000, None),         # finest level too coarse for 999 buckets: the points are bucketed
    (500_000, 100_000, None),
    (10**12, 2000, None),         # beyond the coarsest level
])
def test_it_picks_the_finest_envelope_level_that_fits(span, max_points, level):
    assert downsample.envelope_level(span, max_points) == level
