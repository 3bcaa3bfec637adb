"""One representation per object: teams, memberships and API tokens."""
from rest_framework import serializers

from .models import ApiToken, Membership, Role, Team


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role"]


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this team.")
    members = MembershipSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["slug", "name", "role", "members", "created_at"]

    def get_role(self, team) -> str | None:
        user = self.context.get("user")
        roles = {m.user_id: m.role for m in team.memberships.all()}
        return roles.get(getattr(user, "pk", None))


class MemberWriteSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class ApiTokenSerializer(serializers.ModelSerializer):
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created_at", "last_used_at", "revoked_at", "revoked"]
        read_only_fields = ["created_at", "last_used_at", "revoked_at"]

    def get_revoked(self, token) -> bool:
        return token.revoked_at is not None


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret: shown this once, only its hash is kept.")

    class Meta(ApiTokenSerializer.Meta):
        fields = ApiTokenSerializer.Meta.fields + ["token"]
