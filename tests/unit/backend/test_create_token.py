import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, hash_token


def test_it_prints_a_token_that_works_and_stores_only_its_hash(cast, capsys):
    call_command("create_token", "member", "laptop")
    plain = capsys.readouterr().out.strip()
    assert plain.startswith("ty_")
    stored = ApiToken.objects.get(user=cast.users["member"], name="laptop")
    assert stored.digest == hash_token(plain) and plain not in stored.digest
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert client.get("/api/runs").status_code == 200


def test_it_says_which_user_is_missing(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("create_token", "nobody", "x")
