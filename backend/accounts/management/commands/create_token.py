"""`manage.py create_token USERNAME NAME`: issue a personal API token and print it (shown once)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from backend.accounts.models import ApiToken


class Command(BaseCommand):
    help = "Issue a personal API token for a user and print it; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("name", help="what the token is for, e.g. 'laptop' or 'ci'")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        _, plain = ApiToken.issue(user, name)
        self.stdout.write(plain)
