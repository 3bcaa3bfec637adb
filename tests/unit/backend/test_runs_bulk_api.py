"""POST /api/runs/bulk and POST /api/runs/{id}/tags, tried by each of the cast."""
import pytest

from backend.experiments.models import RunStatus, Tag


@pytest.fixture
def two(cast):
    return [cast.make_run(name="one"), cast.make_run(name="two", status=RunStatus.SUCCEEDED)]


@pytest.mark.parametrize("who, status", [("owner", 200), ("member", 200), ("viewer", 403), ("outsider", 404)])
def test_it_cancels_in_bulk_only_for_writers(cast, two, who, status):
    r = cast.clients[who].post("/api/runs/bulk", {"ids": [str(r.pk) for r in two], "action": "cancel"},
                               format="json")
    assert r.status_code == status
    two[0].refresh_from_db()
    assert two[0].status == (RunStatus.CANCELLED if status == 200 else RunStatus.QUEUED)


def test_it_reports_each_run_of_a_bulk_cancel(cast, two):
    r = cast.clients["member"].post("/api/runs/bulk", {"ids": [str(r.pk) for r in two], "action": "cancel"},
                                    format="json")
    by_id = {x["id"]: x for x in r.json()}
    assert by_id[str(two[0].pk)] == {"id": str(two[0].pk), "ok": True, "detail": "cancel requested"}
    assert by_id[str(two[1].pk)] == {"id": str(two[1].pk), "ok": False,
                                     "detail": "The run has already ended (succeeded)."}


def test_it_tags_and_untags_in_bulk(cast, two):
    ids = [str(r.pk) for r in two]
    r = cast.clients["member"].post("/api/runs/bulk", {"ids": ids, "action": "tag", "tag": "Paper Fig 3"},
                                    format="json")
    assert r.status_code == 200
    tag = Tag.objects.get(team=cast.team)
    assert tag.name == "paper-fig-3" and tag.runs.count() == 2
    cast.clients["member"].post("/api/runs/bulk", {"ids": ids[:1], "action": "untag", "tag": "paper-fig-3"},
                                format="json")
    assert list(tag.runs.values_list("name", flat=True)) == ["two"]


def test_it_refuses_a_bulk_tag_without_a_tag(cast, two):
    r = cast.clients["member"].post("/api/runs/bulk", {"ids": [str(two[0].pk)], "action": "tag"}, format="json")
    assert r.status_code == 400 and r.json() == {"tag": "Name the tag to add or remove."}


def test_it_refuses_a_bad_tag_name(cast, two):
    r = cast.clients["member"].post("/api/runs/bulk", {"ids": [str(two[0].pk)], "action": "tag", "tag": "a/b"},
                                    format="json")
    assert r.status_code == 400
    assert r.json()["detail"] == "A tag is 1-50 characters of a-z, 0-9, '-' and '_' (got 'a/b')."
    assert not Tag.objects.exists()


def test_it_refuses_the_whole_batch_if_one_run_is_another_teams(cast, two):
    theirs = cast.make_run(team=cast.other_team, dataset=cast.other_team.datasets.get())
    r = cast.clients["owner"].post("/api/runs/bulk", {"ids": [str(two[0].pk), str(theirs.pk)], "action": "cancel"},
                                   format="json")
    assert r.status_code == 404
    two[0].refresh_from_db()
    assert two[0].status == RunStatus.QUEUED


@pytest.mark.parametrize("who, status", [("owner", 200), ("member", 200), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_writers_tag_a_run(cast, two, who, status):
    r = cast.clients[who].post(f"/api/runs/{two[0].pk}/tags", {"add": ["baseline", "sota"]}, format="json")
    assert r.status_code == status
    if status == 200:
        assert r.json()["tags"] == ["baseline", "sota"]
    assert two[0].tags.count() == (2 if status == 200 else 0)


def test_it_removes_a_tag_from_a_run(cast, two):
    client = cast.clients["member"]
    client.post(f"/api/runs/{two[0].pk}/tags", {"add": ["baseline", "sota"]}, format="json")
    r = client.post(f"/api/runs/{two[0].pk}/tags", {"remove": ["sota"]}, format="json")
    assert r.json()["tags"] == ["baseline"]
    assert Tag.objects.filter(team=cast.team).count() == 2  # the tag stays for other runs
