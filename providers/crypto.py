"""Envelope encryption: each organization's secrets under its own data key.

The data key is a Fernet key stored in `OrgDataKey.wrapped_key`, encrypted by the master keys
(core.crypto, `DC_ENCRYPTION_KEYS`). So:
- rotating the master keys re-wraps one row per organization (core.crypto.rotate_all);
- rotating an organization's data key (`data_key_rotate`) re-encrypts only its own rows;
- an organization moves to another installation by re-wrapping its data key for that
  installation's master keys (`export_org_secrets` / `import_org_secrets`).

Rows encrypted under data keys are listed in `ORG_ENCRYPTED` (model -> fields, each model with
an `organization` foreign key).
"""

import json

from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from accounts.models import Organization
from core import crypto

from .models import OrgDataKey

ORG_ENCRYPTED: dict[str, tuple[str, ...]] = {"providers.Credential": ("secret_encrypted",)}


def register_org_encrypted(model_label: str, *fields: str) -> None:
    """Declare more organization-encrypted fields (for data key rotation and export)."""
    ORG_ENCRYPTED[model_label] = tuple(dict.fromkeys(ORG_ENCRYPTED.get(model_label, ()) + fields))


def data_key_ensure(organization: Organization) -> OrgDataKey:
    existing = OrgDataKey.objects.filter(organization=organization).first()
    if existing:
        return existing
    wrapped = crypto.encrypt(Fernet.generate_key().decode("ascii"))
    try:
        with transaction.atomic():
            return OrgDataKey.objects.create(organization=organization, wrapped_key=wrapped)
    except IntegrityError:  # made concurrently: use the winner's
        return OrgDataKey.objects.get(organization=organization)


def _fernet(row: OrgDataKey) -> Fernet:
    return Fernet(crypto.decrypt(row.wrapped_key).encode("ascii"))


def org_encrypt(organization: Organization, plaintext: str) -> str:
    fernet = _fernet(data_key_ensure(organization))
    return fernet.encrypt(plaintext.encode()).decode("ascii")


def org_decrypt(organization: Organization, token: str) -> str:
    row = OrgDataKey.objects.filter(organization=organization).first()
    try:
        if row is None:
            raise InvalidToken
        return _fernet(row).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ImproperlyConfigured(
            f"A secret of {organization} cannot be decrypted with its data key."
        ) from None


def org_encrypt_json(organization: Organization, values: dict) -> str:
    return org_encrypt(organization, json.dumps(values, sort_keys=True)) if values else ""


def org_decrypt_json(organization: Organization, token: str) -> dict:
    return json.loads(org_decrypt(organization, token)) if token else {}


def _org_rows(organization: Organization):
    from django.apps import apps

    for label, fields in ORG_ENCRYPTED.items():
        model = apps.get_model(label)
        yield model, fields, model.objects.filter(organization=organization)


def reencrypt_org_rows(organization: Organization, old: Fernet, new: Fernet) -> int:
    """Re-encrypt every organization-encrypted row from `old` to `new` (inside a transaction)."""
    changed = 0
    for model, fields, rows in _org_rows(organization):
        for row in rows.select_for_update().values("pk", *fields):
            fresh = {
                f: new.encrypt(old.decrypt(row[f].encode("ascii"))).decode("ascii")
                for f in fields
                if row[f]
            }
            if fresh:
                changed += model.objects.filter(pk=row["pk"]).update(**fresh)
    return changed


@transaction.atomic
def data_key_rotate(organization: Organization) -> int:
    """Give the organization a new data key and re-encrypt its rows under it (all or none)."""
    row = OrgDataKey.objects.select_for_update().filter(organization=organization).first()
    if row is None:
        return 0
    old = Fernet(crypto.decrypt(row.wrapped_key).encode("ascii"))
    new_key = Fernet.generate_key().decode("ascii")
    changed = reencrypt_org_rows(organization, old, Fernet(new_key.encode("ascii")))
    row.wrapped_key = crypto.encrypt(new_key)
    row.save(update_fields=["wrapped_key"])
    return changed


def export_data_key(organization: Organization, target_keys: list[str]) -> str | None:
    """The organization's data key wrapped by another installation's (first) master key."""
    row = OrgDataKey.objects.filter(organization=organization).first()
    if row is None:
        return None
    return crypto.fernet_for(target_keys).encrypt(crypto.decrypt(row.wrapped_key).encode()).decode()


def unwrap_imported_key(wrapped: str) -> Fernet:
    """An exported data key, unwrapped with this installation's master keys."""
    return Fernet(crypto.decrypt(wrapped).encode("ascii"))
