"""Team-scoped access to runs, sweeps and datasets: every view (API and dashboard) reaches them through these.

Another team's object is a 404, as is a malformed id; a viewer's write is refused by the service functions
(403). The team helpers themselves are ``backend.accounts.access``.
"""
import uuid

from django.http import Http404

from backend.accounts.access import team_ids

from .models import Checkpoint, Dataset, Run, Sweep


def is_uuid(value) -> bool:
    """Whether ``value`` spells a UUID (a run's or sweep's id)."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def runs_for(user):
    return (Run.objects.filter(team_id__in=team_ids(user))
            .select_related("team", "dataset", "created_by").prefetch_related("tags"))


def get_run_for_user(user, pk) -> Run:
    """The run if it is in one of the user's teams; 404 otherwise (also for a malformed id)."""
    return _one(runs_for(user), pk, is_uuid(pk))


def get_runs_for_user(user, ids) -> list[Run]:
    """The runs named by ``ids``, all of them visible to the user; 404 if any is not."""
    wanted = {str(i) for i in ids}
    if not all(is_uuid(i) for i in wanted):
        raise Http404("No such run.")
    found = list(runs_for(user).filter(pk__in=wanted))
    if len(found) != len(wanted):
        raise Http404("No such run.")
    return found


def sweeps_for(user):
    return Sweep.objects.filter(team_id__in=team_ids(user)).select_related(
        "team", "dataset", "created_by", "best_trial")


def get_sweep_for_user(user, pk) -> Sweep:
    """The sweep if it is in one of the user's teams; 404 otherwise (also for a malformed id)."""
    return _one(sweeps_for(user), pk, is_uuid(pk))


def datasets_for(user):
    return Dataset.objects.filter(team_id__in=team_ids(user)).select_related("team")


def get_dataset_for_user(user, pk) -> Dataset:
    """The dataset if it is in one of the user's teams; 404 otherwise."""
    return _one(datasets_for(user), pk, str(pk).isdigit())


def _one(queryset, pk, well_formed: bool):
    """The object ``pk`` names in ``queryset``; 404 ("No such run.") when it is not there or ``pk`` is malformed."""
    model = queryset.model
    if well_formed:
        try:
            return queryset.get(pk=pk)
        except model.DoesNotExist:
            pass
    raise Http404(f"No such {model._meta.verbose_name}.")

def get_checkpoint_for_user(user, pk) -> Checkpoint:
    """A checkpoint of a run in one of the user's teams; 404 otherwise."""
    if str(pk).isdigit() and len(str(pk)) <= 18:
        found = Checkpoint.objects.filter(pk=pk, run__in=runs_for(user)).select_related("run", "run__team").first()
        if found is not None:
            return found
    raise Http404("No such checkpoint.")
