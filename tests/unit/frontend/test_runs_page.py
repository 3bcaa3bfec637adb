"""The runs list page: filters, sort, pages, and the bulk cancel/tag form, as the cast sees it."""
import pytest
from django.test import Client

from backend.experiments.models import RunStatus, Tag


def login(who, csrf=False) -> Client:
    c = Client(enforce_csrf_checks=csrf)
    assert c.login(username=who, password="pw-" + who)
    return c


def rows(page: str) -> list[str]:
    return [part.split('data-run-id="')[1].split('"')[0] for part in page.split('data-testid="run-row"')[1:]]


@pytest.fixture
def three(cast):
    return {"alpha": cast.make_run(name="alpha", spec_name="resnet/resnet18_8xb16_cifar10.py",
                                   status=RunStatus.RUNNING),
            "beta": cast.make_run(name="beta", spec_name="lenet/lenet5_mnist.py", status=RunStatus.SUCCEEDED),
            "gamma": cast.make_run(name="gamma", spec_name="resnet/resnet50_8xb32_in1k.py")}


def test_it_filters_by_status_family_and_search(cast, three):
    c = login("viewer")
    assert rows(c.get("/?status=running").content.decode()) == [str(three["alpha"].pk)]
    assert set(rows(c.get("/?family=resnet").content.decode())) == {str(three["alpha"].pk), str(three["gamma"].pk)}
    assert rows(c.get("/?q=lenet").content.decode()) == [str(three["beta"].pk)]


def test_it_sorts_by_a_header_and_links_the_reverse_order(cast, three):
    page = login("viewer").get("/?ordering=name").content.decode()
    assert rows(page) == [str(three[n].pk) for n in ("alpha", "beta", "gamma")]
    assert 'href="?ordering=-name"' in page and 'id="sort-name"' in page


def test_it_pages_the_list(cast):
    for i in range(30):
        cast.make_run(name=f"run-{i:02d}")
    c = login("viewer")
    first = c.get("/?ordering=name").content.decode()
    assert len(rows(first)) == 25 and "page 1 of 2" in first
    assert len(rows(c.get("/?ordering=name&page=2").content.decode())) == 5


def test_it_keeps_the_filters_in_the_polled_table(cast, three):
    page = login("viewer").get("/runs/table?status=succeeded").content.decode()
    assert rows(page) == [str(three["beta"].pk)]


def test_it_cancels_the_selected_runs(cast, three):
    r = login("member").post("/runs/bulk", {"ids": [three["gamma"].pk, three["beta"].pk], "action": "cancel",
                                            "next": "/?status=queued"}, follow=True)
    three["gamma"].refresh_from_db()
    assert three["gamma"].status == RunStatus.CANCELLED
    page = r.content.decode()
    assert "Cancel requested for 1 of 2 run(s)." in page and "The run has already ended (succeeded)." in page
    assert r.redirect_chain[-1][0] == "/?status=queued"


def test_it_tags_the_selected_runs(cast, three):
    login("member").post("/runs/bulk", {"ids": [three["alpha"].pk], "action": "tag", "tag": "baseline"})
    assert list(Tag.objects.get(name="baseline").runs.all()) == [three["alpha"]]
    assert rows(login("viewer").get("/?tag=baseline").content.decode()) == [str(three["alpha"].pk)]


def test_it_needs_the_csrf_token_for_bulk_actions(cast, three):
    r = login("member", csrf=True).post("/runs/bulk", {"ids": [three["gamma"].pk], "action": "cancel"})
    assert r.status_code == 403
    three["gamma"].refresh_from_db()
    assert three["gamma"].status == RunStatus.QUEUED


@pytest.mark.parametrize("who, status", [("owner", 302), ("member", 302), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_writers_use_the_bulk_form(cast, three, who, status):
    r = login(who).post("/runs/bulk", {"ids": [three["gamma"].pk], "action": "cancel"})
    assert r.status_code == status
    three["gamma"].refresh_from_db()
    assert (three["gamma"].status == RunStatus.CANCELLED) == (status == 302)


def test_it_hides_the_bulk_form_from_viewers(cast, three):
    assert 'id="bulk-form"' not in login("viewer").get("/").content.decode()
    assert 'id="bulk-form"' in login("member").get("/").content.decode()


def test_it_refuses_to_redirect_off_site(cast, three):
    r = login("member").post("/runs/bulk", {"ids": [three["alpha"].pk], "action": "tag", "tag": "x",
                                            "next": "https://evil.example/"})
    assert r["Location"] == "/"
