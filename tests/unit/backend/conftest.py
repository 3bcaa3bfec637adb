"""The fixed cast of every backend test: an owner, a member, a viewer of team A, and an outsider
(owner of team B). Each has an API client authenticated with a personal token."""
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, Membership, Role, Team
from backend.experiments.models import Dataset, Run
from backend.experiments.services import ingest_token

DEMO_SPEC = "demo/resnet18-tiny_2xb32-6e_digits.py"


class Cast:
    def __init__(self):
        User = get_user_model()
        self.team = Team.objects.create(name="Team A", slug="team-a")
        self.other_team = Team.objects.create(name="Team B", slug="team-b")
        self.users, self.clients = {}, {}
        for name, team, role in [("owner", self.team, Role.OWNER), ("member", self.team, Role.MEMBER),
                                 ("viewer", self.team, Role.VIEWER), ("outsider", self.other_team, Role.OWNER)]:
            user = User.objects.create_user(name, password="pw-" + name)
            Membership.objects.create(user=user, team=team, role=role)
            _, plain = ApiToken.issue(user, "test")
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
            self.users[name], self.clients[name] = user, client
        self.dataset = Dataset.objects.create(team=self.team, name="digits", path="datasets/digits",
                                              classes=[str(i) for i in range(10)])
        Dataset.objects.create(team=self.other_team, name="secret", path="datasets/secret")

    def make_run(self, **kw) -> Run:
        defaults = dict(team=self.team, created_by=self.users["owner"], name="r", dataset=self.dataset,
                        spec_text="x = 1", resolved_spec={"x": 1}, spec_hash="0" * 64,
                        resources={"num_workers": 2})
        defaults.update(kw)
        return Run.objects.create(**defaults)

    @staticmethod
    def ingest_client(run: Run) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_token(run.pk)}")
        return client


@pytest.fixture
def cast(db):
    return Cast()
