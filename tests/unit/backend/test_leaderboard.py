"""GET /api/leaderboard and its CSV: the best run per spec and dataset, with the zoo's numbers."""
import csv
import io

import pytest

from backend.leaderboard.services import pareto_front
from jobspecs.zoo import zoo_entries, zoo_entry
from tests.support.leaderboard import LENET, RESNET, make_board
from tests.support.leaderboard import finished_run as _run


@pytest.fixture
def board(cast):
    return make_board(cast)


def test_it_keeps_the_best_run_of_each_spec_per_dataset(cast, board):
    r = cast.clients["viewer"].get("/api/leaderboard", {"dataset": "digits"})
    assert r.status_code == 200, r.content
    rows = r.json()["results"]
    assert [(e["spec"], e["top1"]) for e in rows] == [
        (LENET, 98.0), (RESNET, 76.5), ("pasted:" + "ab" * 6, 50.0)]
    resnet = rows[1]
    assert resnet["run_id"] == str(board["resnet-best"].pk)
    assert resnet["runs"] == 2 and resnet["top5"] == 93.0 and resnet["epochs"] == 6
    assert resnet["train_seconds"] == 600.0 and resnet["created_by"] == "owner"
    assert resnet["dataset"] == "digits" and resnet["team"] == "team-a" and resnet["reference"] is False


def test_it_fills_in_the_zoo_numbers_of_a_library_spec(cast, board):
    entry = zoo_entry(RESNET)
    rows = cast.clients["owner"].get("/api/leaderboard", {"dataset": "digits"}).json()
    resnet = next(e for e in rows["results"] if e["spec"] == RESNET)
    assert resnet["family"] == entry.family and resnet["model"] == entry.variant
    assert resnet["params_m"] == round(entry.params / 1e6, 2)
    assert resnet["flops_g"] == round(entry.flops / 1e9, 3)
    assert resnet["ref_top1"] == entry.top1
    ref = next(e for e in rows["references"] if e["spec"] == RESNET)
    assert ref["reference"] is True and ref["top1"] == entry.top1 and ref["run_id"] is None


def test_it_leaves_the_zoo_columns_blank_for_a_pasted_spec(cast, board):
    rows = cast.clients["owner"].get("/api/leaderboard", {"dataset": "digits"}).json()["results"]
    pasted = next(e for e in rows if e["spec"].startswith("pasted:"))
    assert pasted["params_m"] is None and pasted["flops_g"] is None and pasted["ref_top1"] is None


def test_it_shows_each_dataset_separately_and_only_the_users_teams(cast, board):
    rows = cast.clients["member"].get("/api/leaderboard").json()["results"]
    assert {(e["dataset"], e["spec"]) for e in rows} >= {("digits", RESNET), ("cifar", RESNET)}
    assert 99.9 not in [e["top1"] for e in rows]
    theirs = cast.clients["outsider"].get("/api/leaderboard").json()["results"]
    assert [(e["dataset"], e["top1"]) for e in theirs] == [("secret", 99.9)]


def test_it_filters_by_team_family_and_text(cast, board):
    client = cast.clients["owner"]
    assert client.get("/api/leaderboard", {"team": "team-b"}).json()["results"] == []
    rows = client.get("/api/leaderboard", {"q": "lenet"}).json()["results"]
    assert [e["spec"] for e in rows] == [LENET]


@pytest.mark.parametrize("ordering, first", [("-top1", LENET), ("top1", "pasted:" + "ab" * 6),
                                             ("epochs", LENET), ("train_seconds", LENET)])
def test_it_sorts_by_a_column(cast, board, ordering, first):
    rows = cast.clients["owner"].get("/api/leaderboard", {"dataset": "digits", "ordering": ordering}).json()
    assert rows["results"][0]["spec"] == first


def test_it_rejects_an_unknown_ordering(cast, board):
    r = cast.clients["owner"].get("/api/leaderboard", {"ordering": "password"})
    assert r.status_code == 400
    assert r.json()["ordering"][0].startswith("ordering must be one of top1, top5")


def test_it_exports_the_board_as_csv(cast, board):
    r = cast.clients["owner"].get("/api/leaderboard/csv", {"dataset": "digits"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert r["Content-Disposition"] == 'attachment; filename="leaderboard.csv"'
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    own = [row for row in rows if row["reference"] == "False"]
    assert [row["top1"] for row in own] == ["98.0", "76.5", "50.0"]
    assert own[-1]["flops_g"] == ""


def test_it_finds_the_pareto_front_of_flops_and_accuracy():
    points = [(4.1, 76.5), (1.8, 69.9), (0.3, 71.9), (7.8, 77.4), (3.0, 70.0), (7.8, 75.0)]
    assert pareto_front(points) == [(0.3, 71.9), (4.1, 76.5), (7.8, 77.4)]
    assert pareto_front([]) == []


def test_it_asks_strangers_to_authenticate():
    from rest_framework.test import APIClient

    assert APIClient().get("/api/leaderboard").status_code in (401, 403)


def test_it_names_the_runs_on_the_pareto_front(cast):
    costed = sorted((e for e in zoo_entries() if e.flops), key=lambda e: e.flops)
    cheap, mid, dear = costed[0], costed[len(costed) // 2], costed[-1]
    assert cheap.flops < mid.flops < dear.flops
    on_front = [_run(cast, cheap.spec, 60.0), _run(cast, dear.spec, 80.0)]
    _run(cast, mid.spec, 55.0)  # dearer than `cheap` and worse: dominated
    body = cast.clients["owner"].get("/api/leaderboard", {"dataset": "digits"}).json()
    assert body["pareto"] == [str(r.pk) for r in on_front]
