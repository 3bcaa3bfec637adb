"""GET /api/runs: filters, search, ordering and cursor pages, as the cast sees them."""
from datetime import timedelta

import pytest
from django.utils import timezone

from backend.experiments.models import Dataset, RunStatus, Tag


@pytest.fixture
def runs(cast):
    now = timezone.now()
    other_ds = Dataset.objects.create(team=cast.team, name="flowers", path="datasets/flowers")
    made = {
        "a": cast.make_run(name="alpha", spec_name="resnet/resnet18_8xb16_cifar10.py", status=RunStatus.RUNNING,
                           created_at=now - timedelta(minutes=3)),
        "b": cast.make_run(name="beta", spec_name="lenet/lenet5_mnist.py", status=RunStatus.SUCCEEDED,
                           dataset=other_ds, created_by=cast.users["member"], created_at=now - timedelta(minutes=2)),
        "c": cast.make_run(name="gamma", spec_name="resnet/resnet50_8xb32_in1k.py", status=RunStatus.FAILED,
                           created_at=now - timedelta(minutes=1)),
    }
    tag = Tag.objects.create(team=cast.team, name="baseline")
    made["c"].tags.add(tag)
    cast.make_run(name="theirs", team=cast.other_team, dataset=cast.other_team.datasets.get())
    return made


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["name"] for r in response.json()["results"]]


@pytest.mark.parametrize("query, expected", [
    ("", ["gamma", "beta", "alpha"]),
    ("?status=running", ["alpha"]),
    ("?status=running,failed", ["gamma", "alpha"]),
    ("?family=resnet", ["gamma", "alpha"]),
    ("?dataset=flowers", ["beta"]),
    ("?user=member", ["beta"]),
    ("?tag=baseline", ["gamma"]),
    ("?q=lenet", ["beta"]),
    ("?q=ALPH", ["alpha"]),
    ("?family=resnet&status=failed", ["gamma"]),
    ("?ordering=name", ["alpha", "beta", "gamma"]),
    ("?ordering=-name", ["gamma", "beta", "alpha"]),
    ("?ordering=created_at", ["alpha", "beta", "gamma"]),
])
def test_it_filters_searches_and_orders(cast, runs, query, expected):
    assert names(cast.clients["viewer"].get("/api/runs" + query)) == expected


def test_it_ignores_an_unknown_ordering_field(cast, runs):
    assert names(cast.clients["viewer"].get("/api/runs?ordering=spec_text")) == ["gamma", "beta", "alpha"]


def test_it_pages_with_a_cursor_that_survives_new_runs(cast, runs):
    client = cast.clients["owner"]
    first = client.get("/api/runs?page_size=2").json()
    assert [r["name"] for r in first["results"]] == ["gamma", "beta"]
    assert "cursor=" in first["next"] and first["previous"] is None
    cast.make_run(name="newest")  # arrives at the top: must not shift the next page
    second = client.get(first["next"]).json()
    assert [r["name"] for r in second["results"]] == ["alpha"] and second["next"] is None


def test_it_shows_tags_in_the_list(cast, runs):
    rows = {r["name"]: r for r in cast.clients["viewer"].get("/api/runs").json()["results"]}
    assert rows["gamma"]["tags"] == ["baseline"] and rows["alpha"]["tags"] == []


@pytest.mark.parametrize("who, expected", [("owner", 3), ("member", 3), ("viewer", 3), ("outsider", 1)])
def test_it_lists_only_the_teams_runs(cast, runs, who, expected):
    assert len(names(cast.clients[who].get("/api/runs"))) == expected


@pytest.mark.parametrize("path", ["/api/runs?q=a%00b", "/api/runs?tag=%00", "/api/runs?x%00=1", "/runs/?q=%00"])
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(cast, runs, path):
    """PostgreSQL text cannot hold NUL: the search used to reach the database and answer 500."""
    response = cast.clients["viewer"].get(path)
    assert response.status_code == 400, response.content
    assert b"holds a NUL character" in response.content
    assert names(cast.clients["viewer"].get("/api/runs?q=al")) == ["alpha"]  # and the list still answers
