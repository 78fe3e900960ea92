"""Opaque secrets (API keys, invitation and registration tokens): make, digest, compare.

Only SHA-256 digests are stored. The random part carries 256 bits, so a plain digest (no slow
hash) is the right tool: nothing to brute-force.
"""

import hashlib
import hmac
import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LEN = 8


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def same_digest(value: str, expected_digest: str) -> bool:
    return hmac.compare_digest(digest(value), expected_digest)


def make_token(kind: str) -> tuple[str, str]:
    """Return `(token, lookup_prefix)` for a token like `dck_<prefix><secret>`."""
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LEN))
    return f"{kind}_{prefix}{secrets.token_urlsafe(32)}", prefix


def split_token(kind: str, token: str) -> str | None:
    """Return the lookup prefix of a `kind` token, or None if it is not shaped like one."""
    head = f"{kind}_"
    if not token.startswith(head) or len(token) < len(head) + PREFIX_LEN + 20:
        return None
    return token[len(head) : len(head) + PREFIX_LEN]
