"""GET /api/runs/{id}/metrics: each curve downsampled to max_points, keeping its shape and ends."""
import math

import numpy as np
import pytest

from backend.experiments import downsample
from backend.experiments.models import MetricPoint


def add_curve(run, name, values, mode="train"):
    MetricPoint.objects.bulk_create(
        MetricPoint(run=run, mode=mode, name=name, step=i, epoch=i // 100, value=v) for i, v in enumerate(values))


@pytest.fixture
def run(cast):
    return cast.make_run()


def test_it_returns_a_small_curve_whole(cast, run):
    add_curve(run, "loss", [3.0, 2.0, 1.0])
    r = cast.clients["viewer"].get(f"/api/runs/{run.pk}/metrics?name=loss&mode=train")
    assert [(p["step"], p["value"], p["epoch"]) for p in r.json()] == [(0, 3.0, 0), (1, 2.0, 0), (2, 1.0, 0)]


def test_it_downsamples_each_curve_keeping_first_last_and_a_spike(cast, run):
    values = [math.exp(-i / 2000) for i in range(10_000)]
    values[5_003] = 50.0  # a loss spike a stride would skip
    add_curve(run, "loss", values)
    add_curve(run, "accuracy_top-1", [float(i) for i in range(5)], mode="val")
    points = cast.clients["viewer"].get(f"/api/runs/{run.pk}/metrics?max_points=500").json()
    loss = [p for p in points if p["name"] == "loss"]
    val = [p for p in points if p["name"] == "accuracy_top-1"]
    assert len(loss) <= 500 and len(val) == 5
    assert loss[0]["step"] == 0 and loss[-1]["step"] == 9_999
    assert max(p["value"] for p in loss) == 50.0
    assert [p["step"] for p in loss] == sorted(p["step"] for p in loss)


def test_it_defaults_to_2000_points(cast, run):
    add_curve(run, "lr", [0.1 * (i % 7) for i in range(4_500)])
    points = cast.clients["viewer"].get(f"/api/runs/{run.pk}/metrics?name=lr&mode=train").json()
    assert 1_900 < len(points) <= 2000 and points[-1]["step"] == 4_499


def test_it_buckets_a_huge_curve_in_the_database(cast, run, monkeypatch):
    monkeypatch.setattr(downsample, "IN_MEMORY_LIMIT", 1_000)  # force the SQL min/max path on a small curve
    values = np.sin(np.arange(6_000) / 300.0).tolist()
    values[3_001] = -7.0
    add_curve(run, "loss", values)
    points = downsample.curve(run.pk, "train", "loss", max_points=200)
    assert len(points) <= 200
    assert (points[0]["step"], points[-1]["step"]) == (0, 5_999)
    assert min(p["value"] for p in points) == -7.0 and max(p["value"] for p in points) == pytest.approx(1.0, abs=1e-3)
    assert [p["step"] for p in points] == sorted(p["step"] for p in points)


def test_it_still_serves_raw_points_after_an_id(cast, run):
    add_curve(run, "loss", [3.0, 2.0, 1.0])
    first = MetricPoint.objects.order_by("id").first()
    points = cast.clients["viewer"].get(f"/api/runs/{run.pk}/metrics?after={first.pk}").json()
    assert [p["value"] for p in points] == [2.0, 1.0] and all(p["id"] for p in points)


def test_it_keeps_each_buckets_extremes_at_their_exact_steps():
    values = np.sin(np.arange(1000) / 50)
    values[777] = 9.0
    keep = downsample.minmax_indices(values, 100)
    assert len(keep) <= 100 and keep[0] == 0 and keep[-1] == 999 and (np.diff(keep) > 0).all()
    assert 777 in keep and np.argmin(values) in keep


@pytest.mark.parametrize("who, status", [("owner", 200), ("viewer", 200), ("outsider", 404)])
def test_it_shows_curves_only_to_the_team(cast, run, who, status):
    assert cast.clients[who].get(f"/api/runs/{run.pk}/metrics?max_points=10").status_code == status


def test_it_finds_every_curve_of_a_run(cast, run):
    for mode, name in [("val", "accuracy_top-5"), ("train", "loss"), ("val", "accuracy_top-1"), ("train", "lr")]:
        add_curve(run, name, [1.0, 2.0], mode=mode)
    add_curve(cast.make_run(), "other", [1.0])
    assert downsample.curve_keys(run.pk) == [("train", "loss"), ("train", "lr"), ("val", "accuracy_top-1"),
                                             ("val", "accuracy_top-5")]
    points = cast.clients["viewer"].get(f"/api/runs/{run.pk}/metrics?mode=val").json()
    assert {p["name"] for p in points} == {"accuracy_top-1", "accuracy_top-5"} and len(points) == 4
