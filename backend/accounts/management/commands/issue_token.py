"""`manage.py issue_token TEAM USERNAME NAME`: issue a personal API token for a member of a team and print it
once on stdout (only its SHA-256 digest is stored, as for every token: ``ApiToken.issue``).

A token is the user's (it reaches every team they are in); the team names whose member is meant, so that a
script's typo fails here rather than later. A user keeps one live token per name: a second one of that name is
refused unless ``--rotate``, which revokes the old one(s) and issues a new one.
"""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import ApiToken, Membership, Team

NAME_MAX = ApiToken._meta.get_field("name").max_length


class Command(BaseCommand):
    help = "Issue a personal API token for a member of a team and print it once; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("team", help="the team's slug")
        parser.add_argument("username")
        parser.add_argument("name", help="what the token is for, e.g. 'ci' or 'laptop'")
        parser.add_argument("--rotate", action="store_true",
                            help="revoke the user's live token(s) of this name and issue a new one")

    def handle(self, *args, team, username, name, rotate=False, **options):
        name = " ".join((name or "").split())
        if not name:
            raise CommandError("Give the token a name (what it is for, e.g. 'ci').")
        if len(name) > NAME_MAX:
            raise CommandError(f"A token name has at most {NAME_MAX} characters.")
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team with the slug {team!r} (manage.py create_team NAME makes one).")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r} (manage.py add_member {team} USERNAME --role ROLE).")
        if not Membership.objects.filter(team=team_obj, user=user).exists():
            raise CommandError(f"{username} is not a member of {team_obj.slug} (manage.py add_member).")
        if not user.is_active:
            raise CommandError(f"{username} is inactive: a token of theirs would be refused.")
        with transaction.atomic():
            live = ApiToken.objects.select_for_update().filter(user=user, name=name, revoked_at=None)
            if live.exists():
                if not rotate:
                    raise CommandError(f"{username} has a live token named {name!r} already: pass --rotate to "
                                       "revoke it and issue a new one, or choose another name.")
                revoked = live.update(revoked_at=timezone.now())
                self.stderr.write(f"Revoked {revoked} token(s) named {name!r}.")
            _, plain = ApiToken.issue(user, name)
        self.stderr.write(f"Token {name!r} for {username} (shown this once; only its hash is stored):")
        self.stdout.write(plain)
