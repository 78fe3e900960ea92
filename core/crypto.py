"""Encryption at rest for secrets (CA keys, organization data keys, and through those the
provider credentials and SSH secrets).

MultiFernet over the keys in `DC_ENCRYPTION_KEYS` (comma-separated; the first encrypts, all
decrypt). The embedded default generates a key file (mode 600) under var/ on first use;
production refuses to start without keys. Never derived from SECRET_KEY.

Rows encrypted directly under these master keys are listed in `MASTER_ENCRYPTED` so that
`manage.py rotate_encryption_keys` finds every one of them; organization data (credentials)
is encrypted under per-organization data keys (providers.crypto), which are themselves rows
here, so rotating the master keys re-wraps data keys only.
"""

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from core.env import env_secret

# "app_label.Model" -> text fields holding tokens made by `encrypt` (master keys).
MASTER_ENCRYPTED: dict[str, tuple[str, ...]] = {
    "nodes.OrgCA": ("ca_key_encrypted", "client_key_encrypted"),
    "providers.OrgDataKey": ("wrapped_key",),
}


def register_master_encrypted(model_label: str, *fields: str) -> None:
    """Declare more master-encrypted fields (an app's `ready()`), for key rotation."""
    MASTER_ENCRYPTED[model_label] = tuple(
        dict.fromkeys(MASTER_ENCRYPTED.get(model_label, ()) + fields)
    )


def _key_file() -> Path:
    return Path(settings.VAR_DIR) / "encryption.key"


def parse_keys(raw: str) -> list[str]:
    """Keys from a comma- or newline-separated list (an env value or a key file)."""
    return [k.strip() for k in raw.replace("\n", ",").split(",") if k.strip()]


def _load_keys() -> list[str]:
    raw = env_secret("DC_ENCRYPTION_KEYS")
    if raw:
        return parse_keys(raw)
    if settings.PRODUCTION:
        raise ImproperlyConfigured("DC_ENCRYPTION_KEYS (or DC_ENCRYPTION_KEYS_FILE) is required")
    path = _key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_keys(path.read_text())
    with os.fdopen(fd, "w") as fh:
        fh.write(Fernet.generate_key().decode() + "\n")
    return parse_keys(path.read_text())


def fernet_for(keys: Iterable[str]) -> MultiFernet:
    """A MultiFernet over `keys` (first encrypts); ImproperlyConfigured on a malformed key."""
    try:
        fernets = [Fernet(key.encode()) for key in keys]
        return MultiFernet(fernets)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Invalid Fernet key list: {exc}") from None


@functools.cache
def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in _load_keys()])
    except ValueError as exc:
        raise ImproperlyConfigured(f"DC_ENCRYPTION_KEYS holds an invalid key: {exc}") from None


@functools.cache
def _first() -> Fernet:
    return Fernet(_load_keys()[0].encode())


def reload_keys() -> None:
    """Forget the loaded keys (tests, and the rotation command after a key change)."""
    _fernet.cache_clear()
    _first.cache_clear()


def check_keys() -> None:
    """Fail fast at start-up: load the keys now (production raises when they are missing)."""
    _fernet()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with DC_ENCRYPTION_KEYS: a key is missing."
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt under the first key (for `rotate_encryption_keys`)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with DC_ENCRYPTION_KEYS: a key is missing."
        ) from None


def is_current(token: str) -> bool:
    """True when `token` is already encrypted under the first (current) key."""
    try:
        _first().decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


def rotate_rows(
    model_label: str,
    fields: tuple[str, ...],
    *,
    batch_size: int = 500,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Re-encrypt `fields` of every row of `model_label` under the first key; return rows changed.

    Walks the table by primary key in batches, one short transaction each, so it can be
    interrupted and rerun: rows already under the first key are skipped. Each row is written
    with a conditional update on its old values, so a concurrent change is never overwritten
    (that row is already current, having been written with the first key).
    """
    model = apps.get_model(model_label)
    changed, last_pk = 0, None
    while True:
        rows = model.objects.order_by("pk")
        if last_pk is not None:
            rows = rows.filter(pk__gt=last_pk)
        batch = list(rows.values("pk", *fields)[:batch_size])
        if not batch:
            return changed
        with transaction.atomic():
            for row in batch:
                stale = {f: row[f] for f in fields if row[f] and not is_current(row[f])}
                if stale:
                    fresh = {f: rotate(value) for f, value in stale.items()}
                    changed += model.objects.filter(pk=row["pk"], **stale).update(**fresh)
        last_pk = batch[-1]["pk"]
        if progress:
            progress(f"{model_label}: {changed} row(s) re-encrypted so far")


def rotate_all(*, batch_size: int = 500, progress=None) -> dict[str, int]:
    """Re-encrypt every registered master-encrypted row under the first key."""
    counts = {}
    for label, fields in MASTER_ENCRYPTED.items():
        try:
            apps.get_model(label)
        except LookupError:  # an app that is not installed
            continue
        counts[label] = rotate_rows(label, fields, batch_size=batch_size, progress=progress)
    return counts
