"""REST API for runs, datasets and the reporter's ingestion endpoint.

Run lists filter with the parameters of ``filters.py`` and page with a cursor (stable while new
runs arrive); a metrics request returns each curve downsampled to ``max_points`` (``downsample.py``).

Access goes through ``access.py``: another team's run is a 404, a viewer's write a 403.
"""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, parsers, status, viewsets
from rest_framework.decorators import action, api_view, authentication_classes, permission_classes
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from backend.accounts.access import team_for_write

from . import datasets, downsample, ingestion, lifecycle, run_actions, submit, tokens
from .access import datasets_for, get_dataset_for_user, get_run_for_user, get_runs_for_user, is_uuid, runs_for
from .checkpoints import checkpoint_file, with_availability
from .errors import ServiceError
from .filters import ORDERING_FIELDS, RunFilterBackend, RunOrderingFilter
from .models import Checkpoint, LogLine, MetricPoint, Run
from .serializers import (
    CheckpointSerializer,
    DatasetCreateSerializer,
    DatasetSerializer,
    IngestBatchSerializer,
    LogLineSerializer,
    MetricPointSerializer,
    RunBulkResultSerializer,
    RunBulkSerializer,
    RunCreateSerializer,
    RunDetailSerializer,
    RunSerializer,
    RunTagsSerializer,
)
from .storage import storage


class ServiceException(APIException):
    def __init__(self, err: ServiceError):
        self.status_code = err.status
        self.wait = getattr(err, "wait", None)  # a throttle's: DRF's handler answers it as Retry-After
        super().__init__(detail={"detail": err.message, "errors": err.errors})


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        exc = ServiceException(exc)
    elif isinstance(exc, RequestDataTooBig):  # DRF reads a JSON or form body through request.body
        exc = RequestTooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                              f"(DATA_UPLOAD_MAX_MEMORY_SIZE); send less at once.")
    return drf_exception_handler(exc, context)


# --- runs --------------------------------------------------------------------------------------


def _int_param(request, name: str, default: int = 0) -> int:
    try:
        return max(0, int(request.query_params.get(name, default)))
    except ValueError:
        raise ValidationError({name: "must be an integer"}) from None


class RunCursorPagination(CursorPagination):
    """Newest first by default; ``?ordering=`` picks another field (see ``filters.ORDERING_FIELDS``)."""

    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Training runs of your teams."""

    serializer_class = RunSerializer
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    filter_backends = [RunFilterBackend, RunOrderingFilter]
    ordering_fields = ORDERING_FIELDS
    pagination_class = RunCursorPagination

    def get_queryset(self):
        return runs_for(self.request.user)

    def get_object(self):
        return get_run_for_user(self.request.user, self.kwargs["pk"])

    def get_serializer_class(self):
        if self.action == "retrieve":
            return RunDetailSerializer
        if self.action == "create":
            return RunCreateSerializer
        return RunSerializer

    @extend_schema(request=RunCreateSerializer, responses={201: RunDetailSerializer})
    def create(self, request):
        ser = RunCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        team = team_for_write(request.user, data.get("team"))
        run = submit.submit_run(
            request.user, team=team, dataset=data["dataset"], spec_text=data.get("spec_text") or None,
            spec_name=data.get("spec_name") or None, cfg_options=data.get("cfg_options"),
            name=data.get("name"), resources=data.get("resources"),
        )
        return Response(RunDetailSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: RunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = lifecycle.cancel(request.user, self.get_object())
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str, description="only this metric (loss, lr, accuracy_top-1, ...)"),
            OpenApiParameter("mode", str, description="train or val"),
            OpenApiParameter("max_points", int, description="most points per curve (default 2000); larger "
                             "curves are downsampled keeping their shape, first and last point"),
            OpenApiParameter("after", int, description="raw points with a larger id instead (for polling)"),
        ],
        responses=MetricPointSerializer(many=True),
    )
    @action(detail=True)
    def metrics(self, request, pk=None):
        run = self.get_object()
        name, mode = request.query_params.get("name"), request.query_params.get("mode")
        if "after" in request.query_params:
            qs = MetricPoint.objects.filter(run=run, id__gt=_int_param(request, "after"))
            if name:
                qs = qs.filter(name=name)
            if mode:
                qs = qs.filter(mode=mode)
            rows = qs.order_by("id").values("id", "mode", "name", "step", "epoch", "value")[:20000]
            return Response(MetricPointSerializer(rows, many=True).data)
        max_points = min(_int_param(request, "max_points", downsample.DEFAULT_MAX_POINTS) or 1, 100_000)
        if name and mode:
            points = downsample.curve(run.pk, mode, name, max_points)
        else:
            points = downsample.curves(run.pk, max_points, mode=mode, name=name)
        return Response(points)

    @extend_schema(request=RunTagsSerializer, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def tags(self, request, pk=None):
        """Add and remove tags (created in the run's team on first use)."""
        run = self.get_object()
        ser = RunTagsSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        run_actions.tag_runs(request.user, [run], add=ser.validated_data["add"], remove=ser.validated_data["remove"])
        return Response(RunSerializer(runs_for(request.user).get(pk=run.pk)).data)

    @extend_schema(request=RunBulkSerializer, responses={200: RunBulkResultSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Cancel, tag or untag many runs at once; every run must be yours to change."""
        ser = RunBulkSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        runs = get_runs_for_user(request.user, data["ids"])
        if data["action"] == "cancel":
            results = run_actions.cancel_runs(request.user, runs)
        else:
            if not data.get("tag"):
                raise ValidationError({"tag": "Name the tag to add or remove."})
            add, remove = ([data["tag"]], []) if data["action"] == "tag" else ([], [data["tag"]])
            run_actions.tag_runs(request.user, runs, add=add, remove=remove)
            results = [run_actions.BulkResult(str(r.pk), True, data["action"] + "ged") for r in runs]
        return Response(RunBulkResultSerializer(results, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("after", int), OpenApiParameter("limit", int)],
                   responses=LogLineSerializer(many=True))
    @action(detail=True)
    def logs(self, request, pk=None):
        run = self.get_object()
        limit = min(_int_param(request, "limit", 1000) or 1000, 5000)
        qs = LogLine.objects.filter(run=run, id__gt=_int_param(request, "after")).order_by("id")[:limit]
        return Response(LogLineSerializer(qs, many=True).data)

    @extend_schema(responses=CheckpointSerializer(many=True))
    @action(detail=True)
    def checkpoints(self, request, pk=None):
        run = self.get_object()
        return Response(CheckpointSerializer(with_availability(run.checkpoints.all()), many=True).data)

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, url_path=r"checkpoints/(?P<ckpt_id>\d+)/download")
    def download_checkpoint(self, request, pk=None, ckpt_id=None):
        run = self.get_object()
        ckpt = Checkpoint.objects.filter(run=run, pk=ckpt_id).first()
        missing = "No such checkpoint file (it may have been rotated out by max_keep_ckpts)."
        key = checkpoint_file(ckpt) if ckpt else None  # only a file in the run's own folder
        if key is None:
            raise Http404(missing)
        try:
            stream = storage().open_read(key)  # a file, or an object streamed from the store
        except FileNotFoundError:  # rotated out since it was looked up
            raise Http404(missing) from None
        response = FileResponse(stream, as_attachment=True, filename=key.rsplit("/", 1)[-1])
        response.block_size = 1 << 20  # an object store answers each read with a request: read 1 MiB at a time
        return response


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Datasets registered in your teams."""

    serializer_class = DatasetSerializer
    parser_classes = [parsers.JSONParser, parsers.MultiPartParser, parsers.FormParser]

    def get_queryset(self):
        return datasets_for(self.request.user)

    def get_object(self):
        return get_dataset_for_user(self.request.user, self.kwargs["pk"])

    @extend_schema(request={"multipart/form-data": DatasetCreateSerializer,
                            "application/json": DatasetCreateSerializer},
                   responses={201: DatasetSerializer})
    def create(self, request):
        """Register a folder on the storage (``path``) or upload a zip (``file``); it is verified at once."""
        ser = DatasetCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        team = team_for_write(request.user, data.get("team"))
        ds = datasets.register_dataset(request.user, team=team, name=data["name"], path=data.get("path") or None,
                                       upload=data.get("file"), description=data.get("description", ""))
        return Response(DatasetSerializer(ds).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: DatasetSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """Check the layout again: classes, counts per split, readable images, fingerprint."""
        ds = datasets.verify_dataset(request.user, self.get_object())
        return Response(DatasetSerializer(ds).data)


# --- ingestion (the Ray job's reporter) --------------------------------------------------------


@extend_schema(request=IngestBatchSerializer, responses={200: dict, 409: dict})
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def ingest(request, run_id):
    """Receive one batch from a run's reporter, authenticated by the run's own token."""
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    run = Run.objects.filter(pk=run_id).first() if is_uuid(run_id) else None
    if run is None or not tokens.check_ingest_token(run, token):
        return Response({"detail": "Unknown run or wrong run token."}, status=status.HTTP_403_FORBIDDEN)
    if tokens.ingestion_closed(run):
        return Response({"detail": "The run has ended; its token is no longer accepted."},
                        status=status.HTTP_403_FORBIDDEN)
    ser = IngestBatchSerializer(data=request.data)
    ser.is_valid(raise_exception=True)
    result = ingestion.record_batch(run, ser.validated_data)
    if result.stop:
        return Response({"detail": "The run was cancelled.", "stop": True}, status=status.HTTP_409_CONFLICT)
    return Response({"duplicate": result.duplicate, "stored": result.stored, "stop": False})
