"""State changes of teams and tokens: membership and roles (owners only), personal API tokens.

The API and the HTML pages both call these. Errors are ``ServiceError`` (400) or Django's
``PermissionDenied`` (403) / ``Http404`` (404) from ``access``.
"""
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from backend.experiments import throttles
from backend.experiments.errors import Conflict, ServiceError

from . import access
from .models import ApiToken, Membership, Role, Team


def require_owner(user, team: Team) -> Membership:
    """The user's membership if they own the team; 403 for members and viewers, 404 for outsiders."""
    m = access.get_membership(user, team)
    if m.role != Role.OWNER:
        raise PermissionDenied("Only a team owner can change its members.")
    return m


def _check_role(role: str) -> str:
    if role not in Role.values:
        raise ServiceError(f"role must be one of {', '.join(Role.values)}, not {role!r}.",
                           errors=[{"field": "role", "message": "invalid"}])
    return role


def add_member(actor, team: Team, username: str, role: str = Role.MEMBER) -> Membership:
    """Add an existing user to the team with a role."""
    require_owner(actor, team)
    _check_role(role)
    user = get_user_model().objects.filter(username=(username or "").strip()).first()
    if user is None:
        raise ServiceError(f"No user named {username!r}.", errors=[{"field": "username", "message": "not found"}])
    with transaction.atomic():
        if Membership.objects.filter(team=team, user=user).exists():
            raise Conflict(f"{user.username} is already in {team.name}.")
        return Membership.objects.create(team=team, user=user, role=role)


def _membership(team: Team, membership_id) -> Membership:
    m = Membership.objects.filter(team=team, pk=membership_id).select_related("user").first()
    if m is None:
        raise Http404("No such member.")
    return m


def _owners_left(team: Team, without: Membership) -> int:
    return Membership.objects.filter(team=team, role=Role.OWNER).exclude(pk=without.pk).count()


def change_role(actor, team: Team, membership_id, role: str) -> Membership:
    """Give a member another role; the last owner cannot step down (the team would be orphaned)."""
    require_owner(actor, team)
    _check_role(role)
    with transaction.atomic():
        m = _membership(team, membership_id)
        if m.role == Role.OWNER and role != Role.OWNER and _owners_left(team, m) == 0:
            raise Conflict("A team needs an owner: make someone else owner first.")
        m.role = role
        m.save(update_fields=["role"])
    return m


def remove_member(actor, team: Team, membership_id) -> None:
    """Take a user out of the team; the last owner stays."""
    require_owner(actor, team)
    with transaction.atomic():
        m = _membership(team, membership_id)
        if m.role == Role.OWNER and _owners_left(team, m) == 0:
            raise Conflict("A team needs an owner: make someone else owner first.")
        m.delete()


def create_token(user, name: str) -> tuple[ApiToken, str]:
    """Issue a personal API token; the plain token is returned once and never stored."""
    throttles.check(user, "tokens")
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the token a name (what it is for, e.g. 'laptop').",
                           errors=[{"field": "name", "message": "required"}])
    return ApiToken.issue(user, name[:100])


def tokens_of(user):
    return ApiToken.objects.filter(user=user).order_by("-created_at") if user.is_authenticated else \
        ApiToken.objects.none()


def get_token(user, token_id) -> ApiToken:
    """One of the user's own tokens; anyone else's is a 404."""
    token = tokens_of(user).filter(pk=token_id).first() if str(token_id).isdigit() else None
    if token is None:
        raise Http404("No such token.")
    return token


def revoke_token(user, token_id) -> ApiToken:
    """Revoke one of the user's tokens (idempotent: revoking twice keeps the first time)."""
    token = get_token(user, token_id)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
