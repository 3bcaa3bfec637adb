"""Team-scoped access to deployments: every view (API and dashboard) reaches them through these.

Another team's deployment is a 404, as is a malformed id; a viewer may read and predict, and the service
functions refuse a viewer's deploy or undeploy (403), as for runs (``backend.experiments.access``).
"""
from django.http import Http404

from backend.accounts.access import team_ids
from backend.experiments.access import is_uuid

from .models import Deployment


def deployments_for(user):
    return Deployment.objects.filter(team_id__in=team_ids(user)).select_related("team", "run", "checkpoint",
                                                                              "created_by")


def get_deployment_for_user(user, pk) -> Deployment:
    """The deployment if it is in one of the user's teams; 404 otherwise (also for a malformed id)."""
    if is_uuid(pk):
        found = deployments_for(user).filter(pk=pk).first()
        if found is not None:
            return found
    raise Http404("No such deployment.")
