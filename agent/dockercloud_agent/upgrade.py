"""What makes an ``upgrade_agent`` command acceptable: the control plane's signature.

The control plane signs, with the key whose public half this agent received at registration,
one text naming this node, the new agent's sha256 and version, and an expiry. A message
injected into the control channel, a tampered download, a command meant for another node, a
replay after it expired and a downgrade to an older version are all refused.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Any, Dict, Tuple

from . import ed25519

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")


class UpgradeRefused(Exception):
    """The command is not one this agent may run; the message says why."""


def upgrade_message(node_uuid: str, sha256: str, version: str, expires: int) -> bytes:
    """The exact bytes the control plane signs (it builds the same text)."""
    return (
        "dockercloud upgrade_agent v1\nnode %s\nsha256 %s\nversion %s\nexpires %d\n"
        % (node_uuid, sha256, version, expires)
    ).encode("utf-8")


def version_key(version: str) -> Tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version.split("+", 1)[0])[:8])


def check_upgrade(
    args: Dict[str, Any], node_uuid: str, public_key: bytes, current_version: str
) -> Tuple[str, str]:
    """Return (sha256, version) of a correctly signed upgrade; raise UpgradeRefused otherwise."""
    digest = str(args.get("sha256") or "").lower()
    version = args.get("version")
    expires = args.get("expires")
    signature = args.get("signature")
    if not SHA256_RE.match(digest):
        raise UpgradeRefused("upgrade_agent needs args.sha256 (64 hex digits)")
    if not public_key:
        raise UpgradeRefused(
            "refusing upgrade_agent: this agent has no control-plane signing key (it was "
            "registered before upgrades were signed); re-register the node to upgrade it"
        )
    if signature is None:
        raise UpgradeRefused("refusing an unsigned upgrade_agent")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise UpgradeRefused("refusing upgrade_agent: args.version is missing or malformed")
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise UpgradeRefused("refusing upgrade_agent: args.expires must be a unix time")
    try:
        raw = base64.b64decode(str(signature), validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    message = upgrade_message(node_uuid, digest, version, expires)
    if not ed25519.verify(public_key, message, raw):
        raise UpgradeRefused(
            "refusing upgrade_agent: its signature does not verify with the control plane's key"
        )
    if time.time() > expires:
        raise UpgradeRefused(
            "refusing upgrade_agent: the signed upgrade expired at %d (this node's clock says "
            "%d)" % (expires, time.time())
        )
    if version_key(version) < version_key(current_version):
        raise UpgradeRefused(
            "refusing to downgrade the agent from %s to %s" % (current_version, version)
        )
    return digest, version
