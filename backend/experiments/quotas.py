"""Per-team limits on queued and running runs and sweeps (DESIGN.md, "The trust boundary": each team
has limits, and a refusal names the limit).

A limit's value is the team's own (``Team.max_queued_runs`` ..., set by an operator in /admin) or else
the setting ``TRAINYARD_TEAM_MAX_*``. Two limits per kind:

- **queued**: runs (sweeps) submitted and not started yet (``queued``). Submitting beyond it is refused
  (``QuotaExceeded``, 429: the request is fine, the team has to wait).
- **running**: those holding, or about to hold, the cluster (``dispatching``, ``running``, ``cancelling``).
  Dispatch checks it: a run over it stays ``queued`` with a reason saying it waits for a slot. When an
  active one ends (``lifecycle.slot_freed``), the team's oldest waiting ones are dispatched (``free_slots``);
  reconcile does the same as a backstop. Within a team, waiting runs start in submission order.

A sweep counts once; its trials count toward neither limit (``max_concurrent_trials`` bounds them).
Counting happens under a lock on the team's row (``select_for_update``), so two submits or two dispatches
of one team cannot both take the last place. Lock order: the job's row, then the team's.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q

from backend.accounts.models import Team

from .errors import ServiceError
from .models import Run, RunStatus, Sweep

# What holds a slot of the running limit: a job Ray has (or is being given) until it ends.
ACTIVE = (RunStatus.DISPATCHING, RunStatus.RUNNING, RunStatus.CANCELLING)
# The start of the status reason of a run that waits for a slot (reconcile looks for it).
WAITING = "waiting for a slot"
WHERE_TO_RAISE = "or the team's own limit set by an operator in /admin"


class QuotaExceeded(ServiceError):
    """A submit beyond the team's queued limit: 429, as waiting (or cancelling) is the fix."""

    status = 429


@dataclass(frozen=True)
class Kind:
    """Runs or sweeps: what is counted and which Team field / setting limits it."""

    name: str  # "runs", "sweeps"
    singular: str
    model: type

    def count(self, n: int) -> str:
        """``"1 run"``, ``"3 runs"``."""
        return f"{n} {self.singular if n == 1 else self.name}"

    def jobs(self, team_id: int | None = None):
        """The jobs of this kind that limits count (a sweep's trials are not runs here), of one team or all."""
        qs = self.model.objects.all() if team_id is None else self.model.objects.filter(team_id=team_id)
        return qs.filter(sweep__isnull=True) if self.model is Run else qs


RUNS = Kind("runs", "run", Run)
SWEEPS = Kind("sweeps", "sweep", Sweep)


# Model -> kind; another app adds its own kind of job here (``backend.evaluations.lifecycle``).
KINDS: dict[type, Kind] = {Run: RUNS, Sweep: SWEEPS}


def kind_of(model) -> Kind:
    """The kind of a model class or object (``Run``, ``Sweep`` or a kind registered in ``KINDS``)."""
    model = model if isinstance(model, type) else type(model)
    return KINDS[model]


@dataclass(frozen=True)
class Limit:
    """One limit of a team: its value, where it comes from and (for the team page) how much is used."""

    kind: Kind
    state: str  # "queued" or "running"
    value: int
    own: bool  # set for this team by an operator (else the setting's default)
    default: int
    used: int = 0

    @property
    def field(self) -> str:
        return f"max_{self.state}_{self.kind.name}"

    @property
    def setting(self) -> str:
        return f"TRAINYARD_TEAM_MAX_{self.state.upper()}_{self.kind.name.upper()}"

    @property
    def label(self) -> str:
        return f"{self.state.capitalize()} {self.kind.name}"

    def source(self) -> str:
        """Where the value comes from and how to change it, for messages."""
        if self.own:
            return (f"the team's own limit, set by an operator in /admin; "
                    f"the default is {self.setting}={self.default}")
        if not hasattr(Team, self.field):  # a kind another app registered has only the setting
            return f"{self.setting}={self.value}"
        return f"{self.setting}={self.value}, {WHERE_TO_RAISE}"


def limit(team: Team, kind: Kind, state: str, used: int = 0) -> Limit:
    """The team's ``state`` ("queued" or "running") limit of ``kind``."""
    default = int(getattr(settings, f"TRAINYARD_TEAM_MAX_{state.upper()}_{kind.name.upper()}"))
    own = getattr(team, f"max_{state}_{kind.name}", None)  # a kind without a Team field has only the setting
    return Limit(kind, state, default if own is None else int(own), own is not None, default, used)


def usage(team: Team) -> list[Limit]:
    """Every limit of the team with what is in use now (the team page shows them)."""
    out = []
    for kind in (RUNS, SWEEPS):
        counts = kind.jobs(team.pk).aggregate(
            queued=Count("pk", filter=Q(status=RunStatus.QUEUED)), running=Count("pk", filter=Q(status__in=ACTIVE)))
        out += [limit(team, kind, "queued", counts["queued"]), limit(team, kind, "running", counts["running"])]
    return out


def _lock_team(team_id: int) -> Team:
    """The team's row, locked until the caller's transaction ends (the caller must hold one)."""
    return Team.objects.select_for_update().get(pk=team_id)


def check_queued(team: Team, model) -> None:
    """Refuse a submit that would put the team beyond its queued limit of runs (or sweeps).

    Call inside the transaction that creates the job, so the count and the insert happen under one lock.

    Raises:
        QuotaExceeded: naming the limit, its value and how to raise it.
    """
    kind = kind_of(model)
    locked = _lock_team(team.pk)
    waiting = kind.jobs(team.pk).filter(status=RunStatus.QUEUED).count()
    lim = limit(locked, kind, "queued", waiting)
    if waiting >= lim.value:
        message = (f"Team {locked.name} already has {kind.count(waiting)} waiting ({lim.source()}); "
                   f"wait for some to start or cancel some.")
        raise QuotaExceeded(message, errors=[{"field": "team", "message": message, "limit": lim.setting,
                                              "value": lim.value}])


def wait_reason(obj) -> str | None:
    """Why a queued run (or sweep) may not be dispatched now, or None when a slot is free for it.

    A slot is its if fewer of the team's queued ones were submitted before it than there are free slots:
    within a team, waiting ones start in submission order. Call inside the claim's transaction, with
    ``obj`` locked; the team's row is locked here, so concurrent dispatches count one after the other.
    """
    kind = kind_of(obj)
    locked = _lock_team(obj.team_id)
    jobs = kind.jobs(obj.team_id)
    active = jobs.filter(status__in=ACTIVE).count()
    lim = limit(locked, kind, "running", active)
    free = lim.value - active
    ahead = jobs.filter(status=RunStatus.QUEUED).filter(
        Q(created_at__lt=obj.created_at) | Q(created_at=obj.created_at, pk__lt=obj.pk)).exclude(pk=obj.pk).count()
    if ahead < free:
        return None
    if free <= 0:
        return (f"{WAITING}: team {locked.name} has {kind.count(active)} running ({lim.source()}); "
                f"it starts when one ends.")
    return (f"{WAITING}: {kind.count(ahead).replace(' ', ' earlier ', 1)} of team {locked.name} "
            f"{'starts' if ahead == 1 else 'start'} first ({active} of {lim.value} running; {lim.source()}).")


def startable(model, *, grace) -> list:
    """Queued runs (or sweeps) to dispatch now, for reconcile: per team, the oldest as many as it has free
    slots, if their dispatch task may be lost (queued before ``grace``) or they wait for a slot.

    Nothing for a team at its running limit: its waiting ones are not dispatched only to wait again.
    """
    kind = kind_of(model)
    queued = list(kind.jobs().filter(status=RunStatus.QUEUED).order_by("created_at", "pk")
                  .values("pk", "team_id", "created_at", "status_reason"))
    if not queued:
        return []
    team_ids = {row["team_id"] for row in queued}
    active = dict(kind.jobs().filter(team_id__in=team_ids, status__in=ACTIVE).order_by()
                  .values_list("team_id").annotate(n=Count("pk")))
    teams = {t.pk: t for t in Team.objects.filter(pk__in=team_ids)}
    out, taken = [], {}
    for row in queued:  # oldest first
        team_id = row["team_id"]
        free = limit(teams[team_id], kind, "running").value - active.get(team_id, 0)
        if taken.get(team_id, 0) >= free:
            continue
        taken[team_id] = taken.get(team_id, 0) + 1
        if row["created_at"] <= grace or row["status_reason"].startswith(WAITING):
            out.append(row["pk"])
    return out


def free_slots(model, team_id: int) -> list:
    """The team's oldest queued runs (or sweeps), as many as it has free slots of its running limit.

    Only a hint (nothing is locked): each dispatch decides under the team's lock.
    """
    kind = kind_of(model)
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return []
    jobs = kind.jobs(team_id)
    free = limit(team, kind, "running").value - jobs.filter(status__in=ACTIVE).count()
    if free <= 0:
        return []
    return list(jobs.filter(status=RunStatus.QUEUED).order_by("created_at", "pk").values_list("pk", flat=True)[:free])
