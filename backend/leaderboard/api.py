"""``GET /api/leaderboard`` (JSON), ``GET /api/leaderboard/csv``: the board of your teams; and
``POST /api/leaderboard/verify``: re-score a row's number with an evaluation job (``verification.py``).

Access: the board reads only the user's teams; verify takes a run of the user's teams (another team's is a 404)
and a role that may start jobs (a viewer's is a 403), as ``POST /api/evaluations``.
"""
import csv
import io
import json

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from backend.evaluations.serializers import EvaluationSerializer

from . import services, verification
from .serializers import (
    CSV_FIELDS,
    LeaderboardEntrySerializer,
    LeaderboardSerializer,
    VerifyRequestSerializer,
)

FILTERS = [
    OpenApiParameter("dataset", str, description="dataset name"),
    OpenApiParameter("team", str, description="team slug"),
    OpenApiParameter("family", str, description="model family, e.g. ResNet"),
    OpenApiParameter("q", str, description="text in the spec or model name"),
    OpenApiParameter("verified", bool, description="only rows an evaluation re-scored within the tolerance"),
    OpenApiParameter("ordering", str, enum=[p + o for o in services.ORDERINGS for p in ("", "-")],
                     description="column to sort by, '-' for descending (default -top1)"),
]


# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): a run's spec, a username, a
# dataset or team name starting so would run when the export is opened.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value as a CSV cell: blank for None, numbers as numbers, a mapping as JSON, and text a spreadsheet would
    take for a formula led by ``'`` (shown as text, not run)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):  # a trial's parameters: JSON, as the API gives them
        value = json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def board(request) -> dict:
    """``services.board`` for the request's filters; a bad ordering is a 400."""
    try:
        return services.board(request.user, request.query_params)
    except ValueError as err:
        raise ValidationError({"ordering": [str(err)]}) from None


class LeaderboardViewSet(viewsets.ViewSet):
    """The best run of each spec on each dataset of your teams, with the zoo's published numbers."""

    @extend_schema(parameters=FILTERS, responses=LeaderboardSerializer)
    def list(self, request):
        data = board(request)
        return Response(LeaderboardSerializer({**data, "results": [e.as_dict() for e in data["results"]],
                                               "references": [e.as_dict() for e in data["references"]]}).data)

    @extend_schema(parameters=FILTERS, responses={(200, "text/csv"): str})
    @action(detail=False, url_path="csv")
    def export(self, request):
        data = board(request)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for e in data["results"] + data["references"]:
            row = LeaderboardEntrySerializer(e.as_dict()).data
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="leaderboard.csv"'
        return response

    @extend_schema(request=VerifyRequestSerializer, responses={201: EvaluationSerializer})
    @action(detail=False, methods=["post"])
    def verify(self, request):
        """Verify a row: an evaluation job re-scores the run's best stored checkpoint on its dataset's val split;
        the row then shows the re-scored number beside the reported one (``verification`` of each row)."""
        ser = VerifyRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        evaluation = verification.verify(request.user, ser.validated_data["run"],
                                         num_workers=ser.validated_data["num_workers"])
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED)
