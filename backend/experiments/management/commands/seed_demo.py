"""Create the demo team, user, API token and the digits dataset in the team's area (idempotent)."""
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from backend.accounts.models import ApiToken, Membership, Role, Team
from backend.experiments.datasets import team_area
from backend.experiments.models import Dataset
from backend.experiments.storage import storage

DEMO_USER, DEMO_PASSWORD, DEMO_TEAM = "demo", "trainyard-demo", "demo"


class Command(BaseCommand):
    help = "Create the demo team, user (demo / trainyard-demo), an API token and the digits dataset."

    def add_arguments(self, parser):
        parser.add_argument("--token-file", help="write the demo API token to this file")

    def handle(self, *args, token_file=None, **options):
        from workers.data.demo import write_digits_dataset

        User = get_user_model()
        user, created = User.objects.get_or_create(username=DEMO_USER, defaults={"email": "demo@example.com"})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        team, _ = Team.objects.get_or_create(slug=DEMO_TEAM, defaults={"name": "Demo team"})
        Membership.objects.get_or_create(user=user, team=team, defaults={"role": Role.OWNER})

        st = storage()
        key = f"{team_area(team)}/digits"  # datasets/demo/digits: a team's datasets live in its area
        root = st.local(key)  # on a path storage its place; else the scratch copy, then uploaded
        self.stdout.write(f"Writing the handwritten-digits dataset to {st.uri(key)} ...")
        counts = write_digits_dataset(root)
        st.push_tree(root, key)  # only what the store lacks or holds in another version
        Dataset.objects.update_or_create(
            team=team, name="digits",
            defaults={"path": key, "classes": [str(i) for i in range(10)],
                      "num_train": counts.get("train", 0), "num_val": counts.get("val", 0),
                      "description": "scikit-learn's 8x8 handwritten digits as PNGs (CustomDataset folders)."},
        )
        ApiToken.objects.filter(user=user, name="demo", revoked_at=None).delete()
        _, plain = ApiToken.issue(user, "demo")
        if token_file:
            Path(token_file).parent.mkdir(parents=True, exist_ok=True)
            Path(token_file).write_text(plain + "\n")
        self.stdout.write(self.style.SUCCESS(f"Demo ready: user {DEMO_USER} / {DEMO_PASSWORD}, API token {plain}"))
