"""Teams: members and roles through the API and the team page; only owners change them."""
import pytest
from django.test import Client

from backend.accounts.models import Membership, Role


def login(who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


def test_it_lists_the_users_teams_with_their_role(cast):
    r = cast.clients["viewer"].get("/api/teams")
    assert r.status_code == 200
    (team,) = r.json()["results"]
    assert team["slug"] == "team-a" and team["role"] == "viewer"
    assert sorted(m["username"] for m in team["members"]) == ["member", "owner", "viewer"]


def test_it_hides_another_team(cast):
    assert cast.clients["outsider"].get("/api/teams/team-a").status_code == 404
    assert cast.clients["owner"].get("/api/teams/team-b").status_code == 404


@pytest.mark.parametrize("who, status", [("owner", 201), ("member", 403), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_owners_add_members(cast, who, status):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("newbie")
    r = cast.clients[who].post("/api/teams/team-a/members", {"username": "newbie", "role": "viewer"}, format="json")
    assert r.status_code == status
    assert Membership.objects.filter(team=cast.team, user__username="newbie").exists() == (status == 201)


def test_it_says_who_is_unknown_or_already_in(cast):
    r = cast.clients["owner"].post("/api/teams/team-a/members", {"username": "ghost"}, format="json")
    assert r.status_code == 400 and r.json()["detail"] == "No user named 'ghost'."
    r = cast.clients["owner"].post("/api/teams/team-a/members", {"username": "viewer"}, format="json")
    assert r.status_code == 409 and r.json()["detail"] == "viewer is already in Team A."


@pytest.mark.parametrize("who, status", [("owner", 200), ("member", 403), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_owners_change_roles(cast, who, status):
    m = Membership.objects.get(user=cast.users["viewer"])
    r = cast.clients[who].patch(f"/api/teams/team-a/members/{m.pk}", {"role": "member"}, format="json")
    assert r.status_code == status
    m.refresh_from_db()
    assert m.role == (Role.MEMBER if status == 200 else Role.VIEWER)


def test_it_keeps_the_last_owner(cast):
    m = Membership.objects.get(user=cast.users["owner"])
    r = cast.clients["owner"].patch(f"/api/teams/team-a/members/{m.pk}", {"role": "viewer"}, format="json")
    assert r.status_code == 409 and r.json()["detail"] == "A team needs an owner: make someone else owner first."
    assert cast.clients["owner"].delete(f"/api/teams/team-a/members/{m.pk}").status_code == 409
    m.refresh_from_db()
    assert m.role == Role.OWNER


@pytest.mark.parametrize("who, status", [("owner", 204), ("member", 403), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_owners_remove_members(cast, who, status):
    m = Membership.objects.get(user=cast.users["member"])
    r = cast.clients[who].delete(f"/api/teams/team-a/members/{m.pk}")
    assert r.status_code == status
    assert Membership.objects.filter(pk=m.pk).exists() == (status != 204)


def test_it_does_not_touch_a_member_of_another_team_by_id(cast):
    theirs = Membership.objects.get(user=cast.users["outsider"])
    r = cast.clients["owner"].delete(f"/api/teams/team-a/members/{theirs.pk}")
    assert r.status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_it_shows_the_team_page_with_owner_controls_only_to_owners(cast):
    page = login("owner").get("/teams/team-a").content.decode()
    assert 'id="add-member"' in page and "Remove" in page
    page = login("viewer").get("/teams/team-a").content.decode()
    assert 'id="add-member"' not in page and "Remove" not in page and "your role: viewer" in page
    assert login("outsider").get("/teams/team-a").status_code == 404


def test_it_changes_roles_and_members_from_the_page(cast):
    owner = login("owner")
    m = Membership.objects.get(user=cast.users["viewer"])
    r = owner.post(f"/teams/team-a/members/{m.pk}/role", {"role": "member"})
    assert r.status_code == 302 and r["Location"] == "/teams/team-a"
    m.refresh_from_db()
    assert m.role == Role.MEMBER
    owner.post(f"/teams/team-a/members/{m.pk}/remove")
    assert not Membership.objects.filter(pk=m.pk).exists()
    owner.post("/teams/team-a/members", {"username": "viewer", "role": "viewer"})
    assert Membership.objects.get(user=cast.users["viewer"], team=cast.team).role == Role.VIEWER


def test_it_refuses_a_members_page_change(cast):
    m = Membership.objects.get(user=cast.users["viewer"])
    assert login("member").post(f"/teams/team-a/members/{m.pk}/role", {"role": "owner"}).status_code == 403
    m.refresh_from_db()
    assert m.role == Role.VIEWER


def test_it_requires_csrf_on_the_team_forms(cast):
    c = Client(enforce_csrf_checks=True)
    c.login(username="owner", password="pw-owner")
    m = Membership.objects.get(user=cast.users["viewer"])
    assert c.post(f"/teams/team-a/members/{m.pk}/remove").status_code == 403
    assert Membership.objects.filter(pk=m.pk).exists()


def test_it_lets_staff_use_the_admin(cast):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", password="pw-root")
    c = Client()
    assert c.login(username="root", password="pw-root")
    for url in ["/admin/", "/admin/accounts/team/", f"/admin/accounts/team/{cast.team.pk}/change/",
                "/admin/accounts/apitoken/", "/admin/experiments/run/", "/admin/experiments/dataset/"]:
        assert c.get(url).status_code == 200, url
    assert login("owner").get("/admin/accounts/team/").status_code == 302  # not staff: to the admin login
