"""REST API for teams (read; owners manage members) and your personal API tokens.

Access goes through ``access.py`` and the service functions: another team is a 404, a non-owner's
change a 403.
"""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from . import services
from .access import get_team_for_user, teams_for
from .serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    MembershipSerializer,
    MemberWriteSerializer,
    TeamSerializer,
)

# --- teams ---------------------------------------------------------------------------------------


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your teams, their members and your role in each."""

    serializer_class = TeamSerializer
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self):
        return teams_for(self.request.user)

    def get_object(self):
        return get_team_for_user(self.request.user, self.kwargs["slug"])

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "user": self.request.user}

    @extend_schema(request=MemberWriteSerializer, responses={201: MembershipSerializer})
    @action(detail=True, methods=["post"])
    def members(self, request, slug=None):
        """Add a user to the team (owners only)."""
        team = self.get_object()
        ser = MemberWriteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        m = services.add_member(request.user, team, ser.validated_data["username"], ser.validated_data["role"])
        return Response(MembershipSerializer(m).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberWriteSerializer, responses={200: MembershipSerializer, 204: None})
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<member_id>\d+)")
    def member(self, request, slug=None, member_id=None):
        """Change a member's role (PATCH ``{"role": ...}``) or remove them (DELETE); owners only."""
        team = self.get_object()
        if request.method == "DELETE":
            services.remove_member(request.user, team, member_id)
            return Response(status=status.HTTP_204_NO_CONTENT)
        ser = MemberWriteSerializer(data={"username": "-", **request.data})
        ser.is_valid(raise_exception=True)
        m = services.change_role(request.user, team, member_id, ser.validated_data["role"])
        return Response(MembershipSerializer(m).data)


# --- tokens --------------------------------------------------------------------------------------


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your personal API tokens. The secret is in the answer to the create call, and nowhere else."""

    serializer_class = ApiTokenSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return services.tokens_of(self.request.user)

    def get_object(self):
        return services.get_token(self.request.user, self.kwargs["pk"])

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        ser = ApiTokenSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        token, plain = services.create_token(request.user, ser.validated_data["name"])
        token.token = plain
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiTokenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.revoke_token(request.user, pk)
        return Response(ApiTokenSerializer(token).data)
