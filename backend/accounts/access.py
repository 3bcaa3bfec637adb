"""Team-scoped access: every view reaches objects through these helpers.

An object of a team the user is not in is reported as missing (404), so outsiders cannot even
learn that it exists; a viewer asking to change something gets 403.
"""
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Membership, Role, Team


def memberships(user):
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("team")


def team_ids(user) -> list[int]:
    return list(memberships(user).values_list("team_id", flat=True))


def get_membership(user, team: Team | int) -> Membership:
    team_id = team if isinstance(team, int) else team.pk
    m = memberships(user).filter(team_id=team_id).first()
    if m is None:
        raise Http404("No such team.")
    return m


def require_write(user, team: Team | int) -> Membership:
    m = get_membership(user, team)
    if m.role == Role.VIEWER:
        raise PermissionDenied("Viewers cannot change anything in this team.")
    return m


def default_team(user) -> Team | None:
    """The team a user's new objects go to when they do not name one: their first membership."""
    m = memberships(user).order_by("id").first()
    return m.team if m else None


def teams_for(user):
    """The user's teams, with their members."""
    return Team.objects.filter(pk__in=team_ids(user)).prefetch_related("memberships__user").order_by("name")


def get_team_for_user(user, slug) -> Team:
    """The team if the user is in it; 404 otherwise."""
    team = teams_for(user).filter(slug=slug).first()
    if team is None:
        raise Http404("No such team.")
    return team


def team_for_write(user, slug: str | None) -> Team:
    """The team named by ``slug`` (default: the user's first), if the user may write there; 404 for a team
    the user is not in, 403 for a viewer."""
    if slug:
        team = Team.objects.filter(slug=slug, memberships__user=user).first()
        if team is None:
            raise Http404("No such team.")
    else:
        team = default_team(user)
        if team is None:
            raise Http404("You are not in any team.")
    require_write(user, team)
    return team
