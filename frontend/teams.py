"""Pages for teams (members and roles; owners manage them) and personal API tokens.

Changes go through ``backend.accounts.services``; every team is reached through
``get_team_for_user`` (404 for another team), and the services refuse non-owners (403).
"""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from backend.accounts import access, services
from backend.accounts.access import get_team_for_user, teams_for
from backend.accounts.models import Role
from backend.experiments import quotas
from backend.experiments.errors import ServiceError
from frontend.refusals import refused


@login_required
def team_list(request):
    roles = {m.team_id: m.role for m in access.memberships(request.user)}
    teams = [(t, roles.get(t.pk)) for t in teams_for(request.user)]
    return render(request, "frontend/team_list.html", {"teams": teams})


@login_required
def team_detail(request, slug):
    team = get_team_for_user(request.user, slug)
    me = access.get_membership(request.user, team)
    members = team.memberships.select_related("user").order_by("user__username")
    return render(request, "frontend/team_detail.html", {
        "team": team, "me": me, "is_owner": me.role == Role.OWNER, "members": members, "roles": Role.choices,
        "limits": quotas.usage(team),
    })


@login_required
@require_POST
def member_add(request, slug):
    team = get_team_for_user(request.user, slug)
    try:
        m = services.add_member(request.user, team, request.POST.get("username", ""),
                                request.POST.get("role", Role.MEMBER))
    except ServiceError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, f"{m.user.username} joined {team.name} as {m.role}.")
    return redirect("team-detail", slug=team.slug)


@login_required
@require_POST
def member_role(request, slug, member_id):
    team = get_team_for_user(request.user, slug)
    try:
        m = services.change_role(request.user, team, member_id, request.POST.get("role", ""))
    except ServiceError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, f"{m.user.username} is now {m.role}.")
    return redirect("team-detail", slug=team.slug)


@login_required
@require_POST
def member_remove(request, slug, member_id):
    team = get_team_for_user(request.user, slug)
    try:
        services.remove_member(request.user, team, member_id)
    except ServiceError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, "Member removed.")
    if not access.memberships(request.user).filter(team=team).exists():
        return redirect("teams")  # an owner who removed themselves
    return redirect("team-detail", slug=team.slug)


@login_required
def token_list(request):
    """The user's tokens; a POST creates one and shows its secret on this answer only."""
    created, error, refusal = None, None, None
    if request.method == "POST":
        try:
            token, plain = services.create_token(request.user, request.POST.get("name", ""))
        except ServiceError as err:
            error, refusal = err.message, err
        else:
            created = {"name": token.name, "secret": plain}
    response = refused(render(request, "frontend/token_list.html", {
        "tokens": services.tokens_of(request.user), "created": created, "error": error,
    }, status=400 if error else 200), refusal)
    response["Cache-Control"] = "no-store"  # the page may hold a secret
    return response


@login_required
@require_POST
def token_revoke(request, token_id):
    token = services.revoke_token(request.user, token_id)
    messages.info(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")
