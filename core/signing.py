"""The control plane's signing key (Ed25519): nodes run only what it signed.

Agents receive the public half at registration (over the channel the install command was
trusted on) and refuse an agent upgrade that it did not sign, so neither a tampered download
nor a message injected into the control channel can make a node run other code.

The private half comes from `DC_SIGNING_KEY` / `DC_SIGNING_KEY_FILE`: an unencrypted PKCS#8
PEM (`openssl genpkey -algorithm ed25519`). The embedded default generates one under var/.
"""

import base64
import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured


def generate_key_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """The key in `text`; ImproperlyConfigured (never showing the key) otherwise."""
    try:
        key = serialization.load_pem_private_key(text.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ImproperlyConfigured(
            "DC_SIGNING_KEY must be an unencrypted Ed25519 private key in PEM "
            "(openssl genpkey -algorithm ed25519)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(
            f"DC_SIGNING_KEY must be an Ed25519 key, not {type(key).__name__}"
        )
    return key


@functools.cache
def _key() -> Ed25519PrivateKey:
    from django.conf import settings

    return parse_private_key(settings.DC_SIGNING_KEY)


def public_key_b64() -> str:
    """The public half as the agent stores it: the 32 raw bytes, base64."""
    raw = (
        _key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode("ascii")


def sign_b64(message: bytes) -> str:
    return base64.b64encode(_key().sign(message)).decode("ascii")
