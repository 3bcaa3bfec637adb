"""REST API for sweeps and their trials, and the sweep driver's ingestion endpoints.

Access goes through ``access.py``: another team's sweep is a 404, a viewer's write a 403.
"""
from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from backend.accounts.access import team_for_write

from . import ingestion, lifecycle, ray_jobs, submit, tokens, trials
from .access import get_sweep_for_user, is_uuid, sweeps_for
from .models import Run, Sweep

# --- serializers ---------------------------------------------------------------------------------


class TrialSerializer(serializers.ModelSerializer):
    """A trial: a run of the sweep, with the values it was given."""

    value = serializers.SerializerMethodField(help_text="The trial's best value of the sweep's metric.")

    class Meta:
        model = Run
        fields = ["id", "name", "trial_id", "trial_params", "status", "status_reason", "early_stopped", "value",
                  "best_metrics", "started_at", "finished_at"]

    def get_value(self, run) -> float | None:
        metric = self.context.get("metric")
        best = self.context.get("best_values", {})
        return best.get(run.pk, (run.best_metrics or {}).get(metric))


class SweepEventSerializer(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    reason = serializers.CharField()
    at = serializers.DateTimeField()


class SweepSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    num_trials = serializers.IntegerField(read_only=True, source="trials.count")

    class Meta:
        model = Sweep
        fields = ["id", "name", "team", "created_by", "dataset", "status", "status_reason", "spec_name", "spec_hash",
                  "config", "resources", "best_trial", "best_value", "num_trials", "created_at", "dispatched_at",
                  "started_at", "finished_at"]


class SweepDetailSerializer(SweepSerializer):
    events = SweepEventSerializer(many=True, read_only=True)
    planned_trials = serializers.SerializerMethodField()

    class Meta(SweepSerializer.Meta):
        fields = SweepSerializer.Meta.fields + ["cfg_options", "resolved_spec", "planned_trials", "events"]

    def get_planned_trials(self, sweep) -> int:
        from workers.distributed.sweep import num_trials

        return num_trials(sweep.config)


class SweepCreateSerializer(serializers.Serializer):
    spec_name = serializers.CharField(required=False, allow_blank=True, help_text="A library spec.")
    spec_text = serializers.CharField(required=False, allow_blank=True, max_length=256 * 1024,
                                      help_text="A spec to paste instead of a library one.")
    cfg_options = serializers.JSONField(required=False, help_text='{"a.b": value} or ["a.b=value", ...]')
    sweep = serializers.JSONField(required=False, help_text="Replaces the spec's sweep section: {space, metric, "
                                  "mode, num_samples, search_alg, scheduler, max_concurrent_trials}.")
    dataset = serializers.CharField(help_text="Dataset name (or id) in the team.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    team = serializers.SlugField(required=False, help_text="Team slug; defaults to your first team.")
    resources = serializers.JSONField(required=False, help_text="Per trial: num_workers, cpus_per_worker, ...")


# --- viewset -------------------------------------------------------------------------------------


class SweepViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Hyperparameter sweeps of your teams (Ray Tune searches whose trials are runs)."""

    serializer_class = SweepSerializer
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self):
        qs = sweeps_for(self.request.user)
        if status_ := self.request.query_params.get("status"):
            qs = qs.filter(status=status_)
        return qs

    def get_object(self):
        return get_sweep_for_user(self.request.user, self.kwargs["pk"])

    def get_serializer_class(self):
        if self.action == "retrieve":
            return SweepDetailSerializer
        if self.action == "create":
            return SweepCreateSerializer
        if self.action == "trials":
            return TrialSerializer
        return SweepSerializer

    @extend_schema(request=SweepCreateSerializer, responses={201: SweepDetailSerializer})
    def create(self, request):
        ser = SweepCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        team = team_for_write(request.user, data.get("team"))
        sweep = submit.submit_sweep(
            request.user, team=team, dataset=data["dataset"], spec_text=data.get("spec_text") or None,
            spec_name=data.get("spec_name") or None, cfg_options=data.get("cfg_options"),
            name=data.get("name"), resources=data.get("resources"), sweep=data.get("sweep"),
        )
        return Response(SweepDetailSerializer(sweep).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: SweepSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        sweep = lifecycle.cancel(request.user, self.get_object())
        return Response(SweepSerializer(sweep).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=TrialSerializer(many=True))
    @action(detail=True)
    def trials(self, request, pk=None):
        """The sweep's trials, best first (by the sweep's metric and mode); unscored trials last."""
        sweep = self.get_object()
        values = trials.trial_values(sweep)
        ranked = list(sweep.trials.order_by("created_at"))
        sign = -1 if sweep.config.get("mode", "max") == "max" else 1
        ranked.sort(key=lambda r: (values.get(r.pk) is None, sign * (values.get(r.pk) or 0)))
        ctx = {"metric": sweep.config.get("metric"), "best_values": values}
        return Response(TrialSerializer(ranked, many=True, context=ctx).data)

    @extend_schema(responses=inline_serializer("SweepLogs", {"text": serializers.CharField()}))
    @action(detail=True)
    def logs(self, request, pk=None):
        """The tail of the sweep driver's output (Ray Tune's progress table), from the Ray job."""
        sweep = self.get_object()
        try:
            text = ray_jobs.logs(sweep.job_id) if sweep.ray_submission_id else ""
        except ray_jobs.RayUnavailable:
            text = ""
        return Response({"text": text[-20000:]})


# --- ingestion (the sweep's Ray job) -------------------------------------------------------------


def _sweep_from_token(request, sweep_id) -> Sweep | None:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    sweep = Sweep.objects.filter(pk=sweep_id).first() if is_uuid(sweep_id) else None
    if sweep is None or not tokens.check_ingest_token(sweep, token) or tokens.ingestion_closed(sweep):
        return None
    return sweep


class TrialRegistrationSerializer(serializers.Serializer):
    trial_id = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict)


@extend_schema(request=TrialRegistrationSerializer,
               responses={200: inline_serializer("TrialRegistered", {
                   "run_id": serializers.UUIDField(), "token": serializers.CharField(),
                   "ingest_url": serializers.CharField()})})
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def register_trial(request, sweep_id):
    """A trial of the sweep starts: create (or find) its run; answer with the run's ingestion details.

    Each registration issues a new token for the trial's run (its digest joins the few the run keeps): the
    driver closing a trial, or PBT restarting it, registers again while an earlier token may still report.
    """
    sweep = _sweep_from_token(request, sweep_id)
    if sweep is None:
        return Response({"detail": "Unknown sweep or wrong sweep token."}, status=status.HTTP_403_FORBIDDEN)
    ser = TrialRegistrationSerializer(data=request.data)
    ser.is_valid(raise_exception=True)
    run = trials.register_trial(sweep, ser.validated_data["trial_id"], ser.validated_data["params"])
    return Response({"run_id": str(run.pk), "token": tokens.issue_ingest_token(run),
                     "ingest_url": settings.TRAINYARD_PUBLIC_URL.rstrip("/") + f"/api/ingest/{run.pk}"})


class SweepIngestSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.DictField(), required=False, max_length=100)


@extend_schema(request=SweepIngestSerializer, responses={200: dict})
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def ingest_sweep(request, sweep_id):
    """Status events from the sweep's driver."""
    sweep = _sweep_from_token(request, sweep_id)
    if sweep is None:
        return Response({"detail": "Unknown sweep or wrong sweep token."}, status=status.HTTP_403_FORBIDDEN)
    ser = SweepIngestSerializer(data=request.data)
    ser.is_valid(raise_exception=True)
    ingestion.record_sweep_events(sweep, ser.validated_data.get("events", []))
    sweep.refresh_from_db()
    return Response({"status": sweep.status})


__all__ = ["SweepViewSet", "register_trial", "ingest_sweep"]
