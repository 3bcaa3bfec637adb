"""First setup without the admin: ``create_team``, ``add_member`` and ``issue_token`` make a working team from a
shell (or a Kubernetes Job), can be run again, and say plainly what is wrong."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, Membership, Role, Team, hash_token


def run(*args, **kw) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **kw)
    return out.getvalue(), err.getvalue()


def test_a_fresh_install_gets_a_team_an_owner_and_a_token_that_works(db):
    slug, _ = run("create_team", "Vision Research")
    assert slug.strip() == "vision-research"
    password, err = run("add_member", "vision-research", "ada", "--role", "owner", "--email", "ada@example.com")
    password = password.strip()
    assert len(password) >= 20 and "shown this once" in err
    token, _ = run("issue_token", "vision-research", "ada", "ci")
    token = token.strip()
    assert token.startswith("ty_")
    stored = ApiToken.objects.get(user__username="ada", name="ci")
    assert stored.digest == hash_token(token) and token not in stored.digest
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    teams = api.get("/api/teams")
    assert teams.status_code == 200
    assert [t["slug"] for t in teams.json()["results"]] == ["vision-research"]
    browser = Client()
    assert browser.login(username="ada", password=password)  # the printed password logs in


def test_running_the_setup_again_changes_nothing_and_succeeds(db):
    for _ in range(2):
        assert run("create_team", "Vision Research")[0].strip() == "vision-research"
        run("add_member", "vision-research", "ada", "--role", "owner")
    assert Team.objects.count() == 1
    assert Membership.objects.get(user__username="ada").role == Role.OWNER
    out, err = run("create_team", "Another name", "--slug", "vision-research")
    assert out.strip() == "vision-research" and "left as it is" in err
    assert Team.objects.get().name == "Vision Research"


def test_a_password_from_stdin_is_set_and_never_printed(db):
    run("create_team", "T")
    out, _ = run("add_member", "t", "bob", "--role", "member", "--password-stdin",
                 stdin=io.StringIO("correct horse battery\n"))
    assert out == ""
    assert get_user_model().objects.get(username="bob").check_password("correct horse battery")


def test_an_existing_users_password_is_left_alone(db):
    run("create_team", "T")
    get_user_model().objects.create_user("carol", password="her-own-password")
    out, err = run("add_member", "t", "carol", "--role", "viewer", "--password-stdin", stdin=io.StringIO("x\n"))
    assert out == "" and "left as it is" in err
    carol = get_user_model().objects.get(username="carol")
    assert carol.check_password("her-own-password")
    assert Membership.objects.get(user=carol).role == Role.VIEWER


def test_a_role_can_change_but_the_last_owner_stays(db):
    run("create_team", "T")
    run("add_member", "t", "ada", "--role", "owner")
    run("add_member", "t", "bob", "--role", "viewer")
    run("add_member", "t", "bob", "--role", "member")
    assert Membership.objects.get(user__username="bob").role == Role.MEMBER
    with pytest.raises(CommandError, match="last owner of t"):
        run("add_member", "t", "ada", "--role", "viewer")
    assert Membership.objects.get(user__username="ada").role == Role.OWNER


@pytest.mark.parametrize("args, message", [
    (("add_member", "nope", "ada", "--role", "owner"), "No team with the slug 'nope'"),
    (("add_member", "t", "ada", "--role", "admin"), "invalid choice: 'admin'"),
    (("add_member", "t", "ada", "--role", "owner", "--password-stdin"), "stdin held no password"),
    (("add_member", "t", "a b/c", "--role", "owner"), "not a valid username"),
    (("add_member", "t", "x" * 200, "--role", "owner"), "at most 150 characters"),
    (("issue_token", "nope", "ada", "ci"), "No team with the slug 'nope'"),
    (("issue_token", "t", "nobody", "ci"), "No user named 'nobody'"),
    (("issue_token", "t", "ada", "  "), "Give the token a name"),
    (("create_team", "   "), "Give the team a name"),
    (("create_team", "T", "--slug", "../etc"), "is not a slug"),
    (("create_team", "x" * 101), "at most 100 characters"),
])
def test_it_says_what_is_wrong_and_changes_nothing(db, args, message):
    run("create_team", "T")
    before = (Team.objects.count(), get_user_model().objects.count(), ApiToken.objects.count())
    with pytest.raises(CommandError, match=message):
        run(*args, **({"stdin": io.StringIO("")} if args[0] == "add_member" else {}))
    assert (Team.objects.count(), get_user_model().objects.count(), ApiToken.objects.count()) == before


def test_a_short_password_from_stdin_is_refused(db):
    run("create_team", "T")
    with pytest.raises(CommandError, match="too short"):
        run("add_member", "t", "bob", "--role", "member", "--password-stdin", stdin=io.StringIO("abc\n"))
    assert not get_user_model().objects.filter(username="bob").exists()


def test_a_token_is_only_for_a_member_of_the_team(db):
    run("create_team", "T")
    run("create_team", "Other")
    run("add_member", "other", "mallory", "--role", "owner")
    with pytest.raises(CommandError, match="mallory is not a member of t"):
        run("issue_token", "t", "mallory", "ci")
    assert not ApiToken.objects.exists()


def test_a_second_token_of_a_name_needs_rotate_which_revokes_the_first(db):
    run("create_team", "T")
    run("add_member", "t", "ada", "--role", "member")
    first = run("issue_token", "t", "ada", "ci")[0].strip()
    with pytest.raises(CommandError, match="--rotate"):
        run("issue_token", "t", "ada", "ci")
    second = run("issue_token", "t", "ada", "ci", "--rotate")[0].strip()
    assert second != first
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {first}")
    assert api.get("/api/runs").status_code == 401  # revoked
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second}")
    assert api.get("/api/runs").status_code == 200
    assert ApiToken.objects.filter(name="ci", revoked_at=None).count() == 1
