"""`manage.py create_team NAME [--slug SLUG]`: create a team, with no admin (first setup, scripts).

Idempotent: a team with that slug already there is left as it is (its name is not changed) and the command
succeeds, saying so on stderr; stdout carries the slug either way, for the next command of a script.
"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from backend.accounts.models import Team

NAME_MAX = Team._meta.get_field("name").max_length
SLUG_MAX = Team._meta.get_field("slug").max_length


class Command(BaseCommand):
    help = "Create a team (its slug names it in URLs and in add_member/issue_token); an existing one is kept."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the team's display name, e.g. 'Vision research'")
        parser.add_argument("--slug", help="its short name in URLs (default: made from the name)")

    def handle(self, *args, name, slug=None, **options):
        name = " ".join((name or "").split())
        if not name:
            raise CommandError("Give the team a name.")
        if len(name) > NAME_MAX:
            raise CommandError(f"A team name has at most {NAME_MAX} characters.")
        slug = (slug or slugify(name)).strip()
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(f"{slug!r} is not a slug: use letters, digits, '-' and '_' (--slug).") from None
        if len(slug) > SLUG_MAX:
            raise CommandError(f"A team slug has at most {SLUG_MAX} characters (--slug).")
        try:
            with transaction.atomic():
                team, created = Team.objects.get_or_create(slug=slug, defaults={"name": name})
        except IntegrityError:  # created by someone else between the look-up and the insert
            team, created = Team.objects.get(slug=slug), False
        if created:
            self.stderr.write(f"Created team {team.name!r} ({team.slug}).")
        elif team.name != name:
            self.stderr.write(f"Team {team.slug} exists already, named {team.name!r}; left as it is.")
        else:
            self.stderr.write(f"Team {team.slug} exists already.")
        self.stdout.write(team.slug)
