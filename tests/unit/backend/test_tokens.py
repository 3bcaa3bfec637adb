"""Personal API tokens: created with a secret shown once, hashed at rest, revoked by their owner."""
import pytest
from django.test import Client
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, hash_token


def login(who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


def test_it_creates_a_token_shows_the_secret_once_and_keeps_only_its_hash(cast):
    r = cast.clients["viewer"].post("/api/tokens", {"name": "laptop"}, format="json")
    assert r.status_code == 201
    body = r.json()
    secret = body["token"]
    assert secret.startswith("ty_") and body["name"] == "laptop" and body["revoked"] is False
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.digest == hash_token(secret) and secret not in str(stored.__dict__)
    listed = cast.clients["viewer"].get(f"/api/tokens/{body['id']}").json()
    assert "token" not in listed
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert fresh.get("/api/teams").status_code == 200


def test_it_lists_only_the_users_own_tokens(cast):
    names = [t["name"] for t in cast.clients["member"].get("/api/tokens").json()["results"]]
    assert names == ["test"]
    mine = ApiToken.objects.get(user=cast.users["member"])
    assert cast.clients["owner"].get(f"/api/tokens/{mine.pk}").status_code == 404
    assert cast.clients["owner"].post(f"/api/tokens/{mine.pk}/revoke").status_code == 404
    mine.refresh_from_db()
    assert mine.revoked_at is None


def test_it_refuses_a_token_without_a_name(cast):
    r = cast.clients["owner"].post("/api/tokens", {"name": "  "}, format="json")
    assert r.status_code == 400


def test_it_stops_accepting_a_revoked_token(cast):
    _, secret = ApiToken.issue(cast.users["owner"], "ci")
    token = ApiToken.objects.get(digest=hash_token(secret))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/runs").status_code == 200
    r = cast.clients["owner"].post(f"/api/tokens/{token.pk}/revoke")
    assert r.status_code == 200 and r.json()["revoked"] is True
    r = client.get("/api/runs")
    assert r.status_code == 401 and r.json()["detail"] == "Invalid or revoked API token."


def test_it_creates_and_revokes_from_the_tokens_page(cast):
    page = login("member")
    r = page.post("/tokens", {"name": "notebook"})
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=cast.users["member"], name="notebook")
    html = r.content.decode()
    secret = html.split('<code id="token-secret">')[1].split("</code>")[0]
    assert hash_token(secret) == token.digest
    again = page.get("/tokens").content.decode()
    assert "notebook" in again and secret not in again
    r = page.post(f"/tokens/{token.pk}/revoke")
    assert r.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_it_does_not_revoke_someone_elses_token_from_the_page(cast):
    theirs = ApiToken.objects.get(user=cast.users["viewer"])
    assert login("member").post(f"/tokens/{theirs.pk}/revoke").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


@pytest.mark.parametrize("url", ["/tokens", "/teams", "/leaderboard"])
def test_it_sends_strangers_to_log_in(url):
    r = Client().get(url)
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_it_requires_csrf_on_the_token_form(cast):
    c = Client(enforce_csrf_checks=True)
    c.login(username="member", password="pw-member")
    assert c.post("/tokens", {"name": "x"}).status_code == 403
    assert not ApiToken.objects.filter(name="x").exists()
