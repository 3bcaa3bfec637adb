"""The fixed cast of the API tests with the database (healthchecks' ``hc/test.py`` pattern): team A's owner,
member and viewer, and an outsider who owns team B. Each has a personal-token API client and a password
``pw-<name>``. ``tests/unit/backend/conftest.py`` makes it the ``cast`` fixture; other folders import it here."""
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, Membership, Role, Team
from backend.experiments.models import Dataset, Run, RunStatus, Sweep
from backend.experiments.tokens import issue_ingest_token

DEMO_SPEC = "demo/resnet18-tiny_2xb32-6e_digits.py"
SWEEP_SPEC = "demo/resnet18-tiny_asha-sweep_digits.py"


class Cast:
    def __init__(self):
        user_model = get_user_model()
        self.team = Team.objects.create(name="Team A", slug="team-a")
        self.other_team = Team.objects.create(name="Team B", slug="team-b")
        self.users, self.clients = {}, {}
        for name, team, role in [("owner", self.team, Role.OWNER), ("member", self.team, Role.MEMBER),
                                 ("viewer", self.team, Role.VIEWER), ("outsider", self.other_team, Role.OWNER)]:
            user = user_model.objects.create_user(name, password="pw-" + name)
            Membership.objects.create(user=user, team=team, role=role)
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user, 'test')[1]}")
            self.users[name], self.clients[name] = user, client
        self.dataset = Dataset.objects.create(team=self.team, name="digits", path="datasets/team-a/digits",
                                              classes=[str(i) for i in range(10)])
        self.other_dataset = Dataset.objects.create(team=self.other_team, name="secret", path="datasets/team-b/secret")

    def login(self, name: str) -> Client:
        """A browser-like client logged in (password login) as one of the cast."""
        client = Client()
        assert client.login(username=name, password="pw-" + name)
        return client

    def make_run(self, status: str = RunStatus.QUEUED, **kw) -> Run:
        """A run of team A stored as it is (no validation, no dispatch)."""
        fields = dict(team=self.team, created_by=self.users["owner"], name="r", dataset=self.dataset,
                      spec_text="x = 1", resolved_spec={"x": 1}, spec_hash="0" * 64,
                      resources={"num_workers": 2}, status=status)
        return Run.objects.create(**{**fields, **kw})

    def make_sweep(self, status: str = RunStatus.QUEUED, **kw) -> Sweep:
        """A sweep of team A stored as it is."""
        fields = dict(team=self.team, created_by=self.users["owner"], name="s", dataset=self.dataset,
                      spec_text="x = 1", resolved_spec={"x": 1}, spec_hash="0" * 64, status=status,
                      config={"space": {"optimizer.lr": {"type": "choice", "values": [0.1]}}})
        return Sweep.objects.create(**{**fields, **kw})

    @staticmethod
    def ingest_client(run: Run) -> APIClient:
        """A client with a token issued to ``run`` (as dispatch or a trial's registration issues one)."""
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_ingest_token(run)}")
        return client
