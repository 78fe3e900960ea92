"""Moving an organization's credentials to another installation.

The export re-wraps the organization's data key for the other installation's master keys and
carries the credentials still encrypted under that data key: the document holds no plaintext
secret and only the target installation can open it. The import re-encrypts each secret under
the target organization's own data key, and carries over the AWS external id (trust policies
name it) when the organization has none yet. Rerunnable: existing uuids or names are skipped.
"""

from datetime import datetime

from cryptography.fernet import InvalidToken
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from accounts.audit import Actor, audit_record
from accounts.models import Organization

from . import selectors
from .crypto import export_data_key, org_encrypt, unwrap_imported_key
from .models import Credential, OrgExternalId

FORMAT = "dockercloud-org-secrets/1"


def org_secrets_export(*, organization: Organization, target_keys: list[str]) -> dict:
    credentials = [
        {
            "uuid": str(c.uuid),
            "provider": c.provider,
            "name": c.name,
            "secret_encrypted": c.secret_encrypted,
            "secret_fields": c.secret_fields,
            "config": c.config,
            "hint": c.hint,
            "created": c.created.isoformat(),
            "validated_at": c.validated_at.isoformat() if c.validated_at else None,
        }
        for c in selectors.credentials_list(organization=organization).order_by("pk")
    ]
    return {
        "format": FORMAT,
        "organization": organization.name,
        "data_key": export_data_key(organization, target_keys),
        "aws_external_id": selectors.external_id_get(organization=organization),
        "credentials": credentials,
    }


@transaction.atomic
def org_secrets_import(
    *, actor: Actor, organization: Organization, document: dict
) -> tuple[int, int]:
    """Import an export made for this installation's keys; return (created, skipped)."""
    if document.get("format") != FORMAT:
        raise ValidationError(f"Not a {FORMAT} document.")
    try:
        key = unwrap_imported_key(document["data_key"]) if document.get("data_key") else None
    except ImproperlyConfigured:
        raise ValidationError(
            "The export was not made for this installation's DC_ENCRYPTION_KEYS."
        ) from None
    external_id = document.get("aws_external_id")
    if (
        external_id
        and selectors.external_id_get(organization=organization) is None
        and not OrgExternalId.objects.filter(value=external_id).exists()  # never share one
    ):
        OrgExternalId.objects.create(organization=organization, value=external_id)
    created = skipped = 0
    for item in document.get("credentials", []):
        mine = selectors.credentials_list(organization=organization)
        if mine.filter(name=item["name"]).exists() or mine.filter(uuid=item["uuid"]).exists():
            skipped += 1
            continue
        # Keep the uuid (clusters name credentials by it) unless it is taken here already.
        uuid = None if Credential.objects.filter(uuid=item["uuid"]).exists() else item["uuid"]
        secret = ""
        if item["secret_encrypted"]:
            try:
                if key is None:  # secrets without the data key that encrypted them
                    raise InvalidToken
                plain = key.decrypt(item["secret_encrypted"].encode("ascii")).decode("utf-8")
            except (InvalidToken, AttributeError):
                raise ValidationError(f"Credential {item['name']}: cannot be decrypted.") from None
            secret = org_encrypt(organization, plain)
        credential = Credential.objects.create(
            **({"uuid": uuid} if uuid else {}),
            organization=organization,
            provider=item["provider"],
            name=item["name"],
            secret_encrypted=secret,
            secret_fields=item.get("secret_fields", []),
            config=item.get("config", {}),
            hint=item.get("hint", ""),
            created=_created(item),
            validated_at=parse_datetime(item.get("validated_at") or ""),
        )
        audit_record(
            actor=actor,
            action="credential.import",
            organization=organization,
            obj=credential,
            data={"provider": credential.provider},
        )
        created += 1
    return created, skipped


def _created(item: dict) -> datetime:
    created = parse_datetime(item.get("created") or "")
    if created is None:
        raise ValidationError(f"Credential {item['name']}: no valid creation time.")
    return created
