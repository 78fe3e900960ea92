"""Serializers of the accounts API. Input serializers are strict: unknown fields are a 400."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from core.api import StrictFieldsMixin

from ..models import (
    ApiKey,
    AuditEntry,
    Invitation,
    Membership,
    Organization,
    Role,
    SshKey,
    Team,
    User,
)
from ..names import NAME_RE

NAME_HELP = "2 to 30 characters: lowercase letters, digits, '-' or '_', first a letter or digit."
# What a public key line looks like (the key itself is then decoded and checked).
PUBLIC_KEY = RegexValidator(
    r"^\s*(ssh|ecdsa|sk)-[A-Za-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}( [^\n]*)?\s*$",
    "Paste one OpenSSH public key line (type, key).",
)


class OrganizationSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    resource_uri = serializers.SerializerMethodField()
    personal = serializers.SerializerMethodField()
    name = serializers.CharField(
        max_length=30, validators=[RegexValidator(NAME_RE, NAME_HELP)], help_text=NAME_HELP
    )
    display_name = serializers.CharField(max_length=100, required=False, allow_blank=True)

    class Meta:
        model = Organization
        fields = ["uuid", "name", "display_name", "personal", "created", "resource_uri"]
        read_only_fields = ["uuid", "created"]

    def get_resource_uri(self, obj) -> str:
        return f"/api/v1/orgs/{obj.name}/"

    def get_personal(self, obj) -> bool:
        return obj.personal_for_id is not None


class OrganizationUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    display_name = serializers.CharField(max_length=100, allow_blank=True, required=False)


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")
    service_account = serializers.BooleanField(source="user.is_service_account")
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["username", "email", "role", "service_account", "created", "resource_uri"]

    def get_resource_uri(self, obj) -> str:
        return f"/api/v1/orgs/{obj.organization.name}/members/{obj.user.username}/"


class MemberAddSerializer(StrictFieldsMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class MemberUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TeamSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    members = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        max_length=1000,
        write_only=True,
    )
    name = serializers.CharField(max_length=50)
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["uuid", "name", "permission", "members", "created", "resource_uri"]
        read_only_fields = ["uuid", "created"]

    def to_representation(self, obj):
        data = super().to_representation(obj)
        data["members"] = sorted(u.username for u in obj.members.all())
        return data

    def get_resource_uri(self, obj) -> str:
        return f"/api/v1/orgs/{obj.organization.name}/teams/{obj.uuid}/"


class InvitationSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    team = serializers.UUIDField(required=False, allow_null=True, write_only=True)
    team_name = serializers.CharField(source="team.name", default=None, read_only=True)
    state = serializers.CharField(read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", default=None, read_only=True)
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "uuid", "email", "role", "team", "team_name", "state", "invited_by",
            "created", "expires_at", "resource_uri",
        ]  # fmt: skip
        read_only_fields = ["uuid", "created", "expires_at"]

    def get_resource_uri(self, obj) -> str:
        return f"/api/v1/orgs/{obj.organization.name}/invitations/{obj.uuid}/"


class InvitationAcceptSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(max_length=200)


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")

    class Meta:
        model = AuditEntry
        fields = [
            "created", "actor", "action", "object_type", "object_id", "object_repr", "ip", "data",
        ]  # fmt: skip


class ApiKeySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    # A field named like `Field.label` only to the type checker: DRF's metaclass moves
    # declared fields off the class.
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]
    organization = serializers.CharField(
        source="organization.name", required=False, allow_null=True, default=None
    )
    active = serializers.SerializerMethodField()
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "uuid", "label", "prefix", "read_only", "organization", "expires_at", "created",
            "last_used", "revoked_at", "active", "resource_uri",
        ]  # fmt: skip
        read_only_fields = ["uuid", "prefix", "created", "last_used", "revoked_at"]

    def get_active(self, obj) -> bool:
        return obj.is_usable()

    def get_resource_uri(self, obj) -> str:
        return f"/api/v1/user/apikeys/{obj.uuid}/"


class SshKeySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    # Named like `Field.label`, as above.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True
    )
    public_key = serializers.CharField(max_length=16384, validators=[PUBLIC_KEY])
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = SshKey
        fields = ["uuid", "label", "public_key", "fingerprint", "created", "resource_uri"]
        read_only_fields = ["uuid", "fingerprint", "created"]

    def get_resource_uri(self, obj) -> str:
        return f"/api/v1/user/sshkeys/{obj.uuid}/"


class ServiceAccountSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    name = serializers.CharField(max_length=30, write_only=True)
    role = serializers.ChoiceField(
        choices=[Role.MEMBER, Role.ADMIN], default=Role.MEMBER, write_only=True
    )
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["uuid", "name", "username", "role", "date_joined", "resource_uri"]
        read_only_fields = ["uuid", "username", "date_joined"]

    def get_resource_uri(self, obj) -> str:
        return f"/api/v1/orgs/{obj.service_org.name}/service-accounts/{obj.uuid}/"


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["uuid", "username", "email", "date_joined"]
