"""Attack: submitted text that inherits from a file outside the spec library. The CLI resolves ``_base_`` in a
user's own tree (``jobspecs.load_user_config``); the service keeps submitted text confined to the library, so
a spec cannot read another file of the server (another team's config tree, a secret ending in ``.py``)."""
from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, Membership, Role, Team
from backend.experiments.models import Dataset, Run
from jobspecs import library_dir, load_user_config


@pytest.fixture
def outside_tree(tmp_path):
    """A config tree in MMCls's layout outside the library, as another user's checkout on the server."""
    base = tmp_path / "victim" / "configs" / "_base_" / "secret.py"
    base.parent.mkdir(parents=True)
    base.write_text("api_key = 'hunter2'\n")
    (tmp_path / "victim" / "configs" / "mine").mkdir()
    (tmp_path / "victim" / "configs" / "mine" / "x.py").write_text("_base_ = '../_base_/secret.py'\n")
    return tmp_path / "victim" / "configs"


@pytest.fixture
def member(db, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path / "storage"
    team = Team.objects.create(name="Intruders", slug="intruders")
    user = get_user_model().objects.create_user("mallory")
    Membership.objects.create(user=user, team=team, role=Role.MEMBER)
    Dataset.objects.create(team=team, name="digits", path="datasets/intruders/digits")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user, 't')[1]}")
    return client


def test_a_submitted_spec_cannot_inherit_from_a_tree_the_cli_would_read(member, outside_tree):
    assert load_user_config(outside_tree / "mine" / "x.py")["api_key"] == "hunter2"  # the CLI, on its own machine
    climb = os.path.relpath(outside_tree / "_base_" / "secret.py", library_dir() / "_user_")
    text = f"_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py', {climb!r}]\n"
    r = member.post("/api/runs", {"spec_text": text, "dataset": "digits"}, format="json")
    assert r.status_code == 400, r.content
    error = r.json()["errors"][0]
    assert error["message"] == f"_base_ path {climb!r} leads outside the spec library"
    assert "hunter2" not in r.content.decode()
    assert not Run.objects.exists()
