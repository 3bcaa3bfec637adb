"""`manage.py add_member TEAM USERNAME --role owner|member|viewer`: put a user in a team with a role, creating
the user when missing (first setup, scripts; no admin).

A new user's password comes from stdin with ``--password-stdin`` (one line), else one is generated and printed
once on stdout; an existing user's password is never touched. Idempotent: run again, the membership is as asked
(its role changed if need be; the team's last owner is not demoted).
"""
import secrets
import sys

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from backend.accounts.models import Membership, Role, Team


class Command(BaseCommand):
    help = "Add a user (created if missing) to a team with a role; prints a generated password once."
    stealth_options = ("stdin",)  # call_command(..., stdin=io.StringIO(...)), as createsuperuser takes it

    def add_arguments(self, parser):
        parser.add_argument("team", help="the team's slug (create_team prints it)")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="", help="for a user created here")
        parser.add_argument("--password-stdin", action="store_true",
                            help="read a new user's password from stdin (one line) instead of generating one")

    def handle(self, *args, team, username, role, email="", password_stdin=False, **options):
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team with the slug {team!r} (manage.py create_team NAME makes one).")
        user_model = get_user_model()
        username = (username or "").strip()
        self._check_username(user_model, username)
        user = user_model.objects.filter(username=username).first()
        password = None
        if user is None:
            password = (self._read_password(options.get("stdin") or sys.stdin) if password_stdin
                        else secrets.token_urlsafe(18))
            try:
                password_validation.validate_password(password, user_model(username=username, email=email))
            except ValidationError as err:
                raise CommandError("The password is refused: " + " ".join(err.messages)) from None
        elif password_stdin:
            self.stderr.write(f"User {username} exists already: its password is left as it is "
                              "(manage.py changepassword changes it).")
        with transaction.atomic():
            if user is None:
                user = user_model.objects.create_user(username, email=email, password=password)
                self.stderr.write(f"Created user {username}.")
            membership, created = Membership.objects.select_for_update().get_or_create(
                user=user, team=team_obj, defaults={"role": role})
            if created:
                self.stderr.write(f"Added {username} to {team_obj.slug} as {role}.")
            elif membership.role == role:
                self.stderr.write(f"{username} is already {role} of {team_obj.slug}.")
            else:
                owners = Membership.objects.select_for_update().filter(team=team_obj, role=Role.OWNER)
                if membership.role == Role.OWNER and not owners.exclude(pk=membership.pk).exists():
                    raise CommandError(f"{username} is the last owner of {team_obj.slug}: make someone else owner "
                                       "first.")
                self.stderr.write(f"{username}: {membership.role} -> {role} in {team_obj.slug}.")
                membership.role = role
                membership.save(update_fields=["role"])
        if password is not None and not password_stdin:
            self.stderr.write("Its password (shown this once):")
            self.stdout.write(password)

    @staticmethod
    def _check_username(user_model, username: str) -> None:
        field = user_model._meta.get_field(user_model.USERNAME_FIELD)
        if not username:
            raise CommandError("Give a username.")
        try:
            field.run_validators(username)
        except ValidationError as err:
            raise CommandError(f"{username!r} is not a valid username: " + " ".join(err.messages)) from None
        if field.max_length and len(username) > field.max_length:
            raise CommandError(f"A username has at most {field.max_length} characters.")

    @staticmethod
    def _read_password(stdin) -> str:
        line = stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        if not password:
            raise CommandError("--password-stdin: stdin held no password (one line).")
        return password
