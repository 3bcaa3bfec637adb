"""Team-scoped access to evaluations (and to the checkpoints and datasets they name): every view, API and
dashboard, reaches them through these. Another team's object is a 404, as is a malformed id; the service
functions refuse a viewer's submit or cancel (403).
"""
from django.http import Http404

from backend.accounts.access import team_ids
from backend.experiments.access import is_uuid

from .models import Evaluation


def evaluations_for(user):
    return Evaluation.objects.filter(team_id__in=team_ids(user)).select_related(
        "team", "dataset", "created_by", "checkpoint", "checkpoint__run", "verifies")


def get_evaluation_for_user(user, pk) -> Evaluation:
    """The evaluation if it is in one of the user's teams; 404 otherwise (also for a malformed id)."""
    if is_uuid(pk):
        found = evaluations_for(user).filter(pk=pk).first()
        if found is not None:
            return found
    raise Http404("No such evaluation.")
