"""REST API for evaluations: ``/api/evaluations`` (list, submit), ``/api/evaluations/<id>`` (read),
``/api/evaluations/<id>/cancel`` and ``/api/evaluations/<id>/analysis`` (confusion matrix, per-class figures,
best and worst predictions, re-scoring with ``?metrics=...&metric_options=...``).

Access goes through ``access.py``: another team's evaluation (or checkpoint) is a 404, a viewer's submit or
cancel a 403; a viewer may read and analyse. Errors are the service's, answered by the project's handler.
"""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from backend.experiments.access import get_checkpoint_for_user

from . import analysis, services
from .access import evaluations_for, get_evaluation_for_user
from .serializers import EvaluationCreateSerializer, EvaluationDetailSerializer, EvaluationSerializer


class EvaluationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Checkpoints of your teams' runs scored on a dataset split by several Ray workers."""

    serializer_class = EvaluationSerializer
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self):
        return evaluations_for(self.request.user)

    def get_object(self):
        return get_evaluation_for_user(self.request.user, self.kwargs["pk"])

    def retrieve(self, request, pk=None):
        return Response(EvaluationDetailSerializer(self.get_object()).data)

    @extend_schema(request=EvaluationCreateSerializer, responses={201: EvaluationSerializer})
    def create(self, request):
        """Evaluate a checkpoint of one of your team's runs on a split of one of the team's datasets."""
        ser = EvaluationCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        checkpoint = get_checkpoint_for_user(request.user, data.pop("checkpoint"))
        evaluation = services.submit_evaluation(request.user, checkpoint, **data)
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: EvaluationSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel: a queued evaluation ends at once; a running one once Ray has stopped its job."""
        evaluation = services.cancel_evaluation(request.user, self.get_object())
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=[
        OpenApiParameter("metrics", str, description="re-score with these (comma-separated), e.g. precision,recall"),
        OpenApiParameter("metric_options", str, description='JSON ({"topk": [1, 3]}) or "topk=1,3; thrs=0.5"'),
        OpenApiParameter("normalize", bool, description="confusion matrix as fractions of each true class"),
        OpenApiParameter("sort", str, description="class (default) or confusion"),
    ], responses={200: dict})
    @action(detail=True, methods=["get"])
    def analysis(self, request, pk=None):
        """The stored predictions analysed: metrics (re-scored without the model when asked), confusion matrix,
        per-class precision/recall/F1/support, best and worst predictions."""
        evaluation = self.get_object()
        metrics, options = analysis.parse_request(request.query_params.get("metrics"),
                                                  request.query_params.get("metric_options"))
        return Response(analysis.analyse(evaluation, metrics=metrics, metric_options=options,
                                         normalize=request.query_params.get("normalize") in ("1", "true", "yes"),
                                         sort=request.query_params.get("sort") or "class"))
