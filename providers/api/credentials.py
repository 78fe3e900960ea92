"""Credentials under `/api/v1/orgs/<ns>/credentials/` (our own API; secrets write-only)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.base import OrgScopedViewSet
from accounts.permissions import can
from core.api import StrictFieldsMixin
from core.schema import ERROR

from .. import options, selectors, services
from ..drivers import get_driver_class
from ..models import Credential

INFRA = "/api/infra/v1/"


class SecretFieldsField(serializers.DictField):
    """A JSON object of field name -> string (secrets are write-only: they are never echoed)."""

    def __init__(self, **kwargs):
        super().__init__(
            child=serializers.CharField(allow_blank=True, trim_whitespace=True), **kwargs
        )


USE_TEAMS_HELP = (
    "Names of teams that may deploy with this credential without the organization-wide "
    "`write` level (changing this list needs `admin`)."
)
ALLOWED_OPTIONS_HELP = (
    "Provider option values (by dotted path, e.g. `vpc.subnets`) any user of this credential "
    "may choose beyond the defaults; other values need an organization admin (changing this "
    "needs `admin`)."
)


def allowed_options_field(**kwargs) -> serializers.DictField:
    """{option path: [values]}: shape only; `options.allowed_options_clean` owns the rules."""
    values = serializers.ListField(
        child=serializers.CharField(max_length=255), max_length=options.MAX_ALLOWED_VALUES
    )
    return serializers.DictField(child=values, help_text=ALLOWED_OPTIONS_HELP, **kwargs)


class CredentialCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    provider = serializers.CharField(max_length=32)
    # A field named like `Serializer.fields` only to the type checker: DRF's metaclass moves
    # declared fields off the class (so for the `fields` below too).
    fields = SecretFieldsField(required=False, default=dict)  # type: ignore[assignment]
    use_teams = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, help_text=USE_TEAMS_HELP
    )
    allowed_options = allowed_options_field(required=False)


class CredentialUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    fields = SecretFieldsField(required=False)  # type: ignore[assignment]
    use_teams = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, help_text=USE_TEAMS_HELP
    )
    allowed_options = allowed_options_field(required=False)


class CredentialSerializer(serializers.Serializer):
    """The answer's shape (documentation; bodies are built by `credential_body`)."""

    uuid = serializers.UUIDField()
    name = serializers.CharField()
    provider = serializers.CharField()
    provider_uri = serializers.CharField()
    hint = serializers.CharField(help_text="At most the last 4 characters of the key or token.")
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text="Stored secrets show as `$encrypted$`."
    )
    external_id = serializers.CharField(required=False, help_text="AWS only: sts:ExternalId.")
    use_teams = serializers.ListField(child=serializers.CharField(), help_text=USE_TEAMS_HELP)
    allowed_options = allowed_options_field()
    created_by = serializers.CharField(allow_null=True)
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    validated_at = serializers.DateTimeField(allow_null=True)
    resource_uri = serializers.CharField()


def credential_body(credential: Credential) -> dict:
    cls = get_driver_class(credential.provider)
    fields = {name: services.PLACEHOLDER for name in credential.secret_fields}
    fields.update(credential.config)
    body = {
        "uuid": str(credential.uuid),
        "name": credential.name,
        "provider": credential.provider,
        "provider_uri": f"{INFRA}provider/{credential.provider}/",
        "hint": credential.hint,
        "fields": fields,
        "created_by": credential.created_by.username if credential.created_by else None,
        "created": credential.created.isoformat(),
        "updated": credential.updated.isoformat(),
        "validated_at": credential.validated_at.isoformat() if credential.validated_at else None,
        "use_teams": [grant.team.name for grant in credential.grants.all()],
        "allowed_options": credential.allowed_options,
        "resource_uri": (
            f"/api/v1/orgs/{credential.organization.name}/credentials/{credential.uuid}/"
        ),
    }
    if cls.needs_external_id:
        # select_related by the selector; a missing row reads as None (it is an AttributeError).
        row = getattr(credential.organization, "aws_external_id", None)
        body["external_id"] = row.value if row else None
    return body


class CredentialViewSet(OrgScopedViewSet):
    """An organization's provider credentials. Secrets are write-only: the answer shows
    `$encrypted$` for each stored secret (send it back to keep the value) and a hint."""

    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    serializer_class = CredentialSerializer
    verb_map = {"create": "change", "partial_update": "change", "destroy": "delete"}

    def list(self, request, ns=None):
        rows = selectors.credentials_list(organization=self.organization)
        page = self.paginate_queryset(rows) or []  # never None: every list is paginated
        return self.get_paginated_response([credential_body(c) for c in page])

    def _use_teams(self, data: dict):
        """Pop `use_teams` from the body; granting is the organization admins' to do."""
        teams = data.pop("use_teams", None)
        if teams is not None and not can(self.access, "manage"):
            self.permission_denied(
                self.request, message="Only organization admins choose who may use a credential."
            )
        if teams:  # before anything is validated with the provider or stored
            services.teams_for_grant(organization=self.organization, teams=teams)
        return teams

    @extend_schema(request=CredentialCreateSerializer)
    def create(self, request, ns=None):
        serializer = CredentialCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        teams = self._use_teams(data)
        allowed = data.pop("allowed_options", None)
        if allowed:  # refused before anything is validated with the provider or stored
            options.allowed_options_clean(
                access=self.access, provider=data["provider"], allowed=allowed
            )
        credential = services.credential_create(
            actor=self.actor, organization=self.organization, **data
        )
        if teams:
            services.credential_grants_set(actor=self.actor, credential=credential, teams=teams)
        if allowed:
            options.credential_allowed_options_set(
                actor=self.actor, access=self.access, credential=credential, allowed=allowed
            )
        credential = selectors.credential_get(organization=self.organization, uuid=credential.uuid)
        return Response(credential_body(credential), status=status.HTTP_201_CREATED)

    def retrieve(self, request, ns=None, uuid=None):
        credential = selectors.credential_get(organization=self.organization, uuid=uuid)
        return Response(credential_body(credential))

    @extend_schema(request=CredentialUpdateSerializer)
    def partial_update(self, request, ns=None, uuid=None):
        credential = selectors.credential_get(organization=self.organization, uuid=uuid)
        serializer = CredentialUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        teams = self._use_teams(data)
        allowed = data.pop("allowed_options", None)
        if allowed is not None:
            options.allowed_options_clean(
                access=self.access, provider=credential.provider, allowed=allowed
            )
        services.credential_update(actor=self.actor, credential=credential, **data)
        if teams is not None:
            services.credential_grants_set(actor=self.actor, credential=credential, teams=teams)
        if allowed is not None:
            options.credential_allowed_options_set(
                actor=self.actor, access=self.access, credential=credential, allowed=allowed
            )
        credential = selectors.credential_get(organization=self.organization, uuid=uuid)
        return Response(credential_body(credential))

    @extend_schema(responses={204: None, 409: ERROR})
    def destroy(self, request, ns=None, uuid=None):
        credential = selectors.credential_get(organization=self.organization, uuid=uuid)
        try:
            services.credential_delete(actor=self.actor, credential=credential)
        except services.CredentialInUse as exc:
            return Response({"error": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)
