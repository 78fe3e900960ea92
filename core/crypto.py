"""Encryption at rest for secrets (CA keys, later provider credentials and SSH secrets).

MultiFernet over the keys in `DC_ENCRYPTION_KEYS` (comma-separated; the first encrypts, all
decrypt). The embedded default generates a key file (mode 600) under var/ on first use;
production refuses to start without keys. Never derived from SECRET_KEY.
"""

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.env import env_secret


def _key_file() -> Path:
    return Path(settings.VAR_DIR) / "encryption.key"


def _load_keys() -> list[str]:
    raw = env_secret("DC_ENCRYPTION_KEYS")
    if raw:
        return [k.strip() for k in raw.split(",") if k.strip()]
    if settings.PRODUCTION:
        raise ImproperlyConfigured("DC_ENCRYPTION_KEYS (or DC_ENCRYPTION_KEYS_FILE) is required")
    path = _key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return [path.read_text().strip()]
    with os.fdopen(fd, "w") as fh:
        fh.write(Fernet.generate_key().decode() + "\n")
    return [path.read_text().strip()]


@functools.cache
def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in _load_keys()])
    except ValueError as exc:
        raise ImproperlyConfigured(f"DC_ENCRYPTION_KEYS holds an invalid key: {exc}") from None


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
    return _fernet().rotate(token.encode("ascii")).decode("ascii")
