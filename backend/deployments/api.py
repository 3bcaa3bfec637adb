"""REST API for deployments: ``/api/deployments`` (list, deploy), ``/api/deployments/<id>`` (read,
``DELETE`` = undeploy) and ``/api/deployments/<id>/predict`` (multipart image files) and ``/api/deployments/<id>/cam`` (one image's class
activation map, computed by the deployment's replica).

Access goes through ``access.py`` as for runs: another team's deployment (or checkpoint) is a 404, a viewer's
deploy or undeploy a 403; a viewer may predict. Errors are the service's (``backend.experiments.errors``),
answered by the project's exception handler.
"""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, parsers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from backend.experiments.access import get_checkpoint_for_user

from . import services
from .access import deployments_for, get_deployment_for_user
from .serializers import (
    CamRequestSerializer,
    CamResultSerializer,
    DeploymentCreateSerializer,
    DeploymentDetailSerializer,
    DeploymentSerializer,
    PredictRequestSerializer,
    PredictResultSerializer,
)


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Checkpoints of your teams' runs served on the Ray cluster (Ray Serve)."""

    serializer_class = DeploymentSerializer
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    parser_classes = [parsers.JSONParser, parsers.MultiPartParser, parsers.FormParser]

    def get_queryset(self):
        return deployments_for(self.request.user)

    def get_object(self):
        return get_deployment_for_user(self.request.user, self.kwargs["pk"])

    def retrieve(self, request, pk=None):
        deployment = self.get_object()
        return Response(DeploymentDetailSerializer(deployment, context={"live": services.live_state(deployment)}).data)

    @extend_schema(request=DeploymentCreateSerializer, responses={201: DeploymentSerializer})
    def create(self, request):
        """Deploy a checkpoint of one of your team's runs (PyTorch or ONNX Runtime, replicas, batching)."""
        ser = DeploymentCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        checkpoint = get_checkpoint_for_user(request.user, data.pop("checkpoint"))
        deployment = services.deploy(request.user, checkpoint, **data)
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: DeploymentSerializer})
    def destroy(self, request, pk=None):
        """Undeploy: no more predictions; Ray Serve's application is deleted."""
        deployment = services.undeploy(request.user, self.get_object())
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request={"multipart/form-data": PredictRequestSerializer}, responses={200: PredictResultSerializer})
    @action(detail=True, methods=["post"], parser_classes=[parsers.MultiPartParser])
    def predict(self, request, pk=None):
        """Classify one image file (``image``) or several (``images``): ``trainyard infer``'s answer and the
        top-5 for each."""
        deployment = self.get_object()
        return Response(services.predict(request.user, deployment, services.read_uploads(request.FILES)))

    @extend_schema(request={"multipart/form-data": CamRequestSerializer}, responses={200: CamResultSerializer})
    @action(detail=True, methods=["post"], parser_classes=[parsers.MultiPartParser])
    def cam(self, request, pk=None):
        """The class activation map of one image file (``image``) for its predicted class (``method``: GradCAM by
        default), with its top-5: ``trainyard vis-cam`` run by the deployment's replica (PyTorch runtime only)."""
        deployment = self.get_object()
        files = services.read_uploads(request.FILES)
        return Response(services.explain(request.user, deployment, files, request.data.get("method")))
