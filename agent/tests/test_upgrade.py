"""Agent upgrades run only when the control plane signed them.

The attacker here controls what the agent's control channel carries (a compromised relay, an
injected message, a plain-http link) and what its downloads return, but not the control
plane's signing key. The signed upgrade that works is in test_e2e (it re-executes the agent).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import zipfile

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519 as real
from fakecp import signed_upgrade

from dockercloud_agent import __version__, ed25519
from dockercloud_agent.upgrade import version_key

# RFC 8032, section 7.1: TEST 1, TEST 2, TEST 3 (secret key, public key, message, signature).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f36"
        "13d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f7"
        "60984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


def raw_public(key: real.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.mark.parametrize("secret,public,message,signature", RFC8032)
def test_rfc8032_vectors(secret, public, message, signature):
    key = real.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert raw_public(key).hex() == public
    assert ed25519.verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))
    assert not ed25519.verify(
        bytes.fromhex(public), bytes.fromhex(message) + b"\0", bytes.fromhex(signature)
    )


def test_verify_agrees_with_cryptography():
    for size in (0, 1, 63, 64, 200, 5000):
        key = real.Ed25519PrivateKey.generate()
        public = raw_public(key)
        message = os.urandom(size)
        signature = key.sign(message)
        assert ed25519.verify(public, message, signature)
        for i in (0, 31, 32, 63):  # a flipped bit in R, in S
            bad = bytearray(signature)
            bad[i] ^= 0x04
            ok = ed25519.verify(public, message, bytes(bad))
            try:
                key.public_key().verify(bytes(bad), message)
                theirs = True
            except InvalidSignature:
                theirs = False
            assert ok is theirs is False
        other = raw_public(real.Ed25519PrivateKey.generate())
        assert not ed25519.verify(other, message, signature)
        if message:
            assert not ed25519.verify(public, message[:-1], signature)


def test_malformed_signatures_and_keys_are_refused():
    key = real.Ed25519PrivateKey.generate()
    public, signature = raw_public(key), key.sign(b"m")
    s = int.from_bytes(signature[32:], "little")
    malleable = signature[:32] + (s + ed25519.L).to_bytes(32, "little")  # same S mod L
    assert not ed25519.verify(public, b"m", malleable)
    assert not ed25519.verify(public, b"m", signature[:63])
    assert not ed25519.verify(public[:31], b"m", signature)
    assert not ed25519.verify(b"\xff" * 32, b"m", signature)  # y >= p: not an encoding
    assert not ed25519.verify(public, b"m", b"\0" * 64)


def test_version_order():
    assert version_key("0.1.0") < version_key("0.1.1") < version_key("0.2") < version_key("1.0")
    assert version_key("0.10.0") > version_key("0.9.9")


# --- the agent's upgrade_agent command --------------------------------------------------------


def evil_pyz(path: str, marker: str) -> bytes:
    """A zipapp that, if ever run, leaves ``marker`` behind (and fails, so nothing replaces
    the agent or re-executes the test process even where it is wrongly accepted)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__main__.py", "open(%r, 'w').write('ran')\nraise SystemExit(1)\n" % marker)
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def attacked(control_plane, agent_for, short_tmp):
    """An agent registered with the control plane, and an attacker's agent on its server."""
    cp = control_plane
    marker = os.path.join(short_tmp, "evil-ran")
    blob = evil_pyz(os.path.join(short_tmp, "evil.pyz"), marker)
    cp.files["/install/agent.pyz"] = blob
    agent = agent_for(cp)
    cp.wait_for(lambda m: m.get("type") == "hello", what="hello")
    return cp, agent, blob, marker


def refused(cp, args) -> str:
    result = cp.command("upgrade_agent", args, timeout=30)
    assert result["ok"] is False, result
    return result["error"]


def test_an_unsigned_upgrade_is_refused(attacked):
    cp, agent, blob, marker = attacked
    args = {"url": "/install/agent.pyz", "sha256": hashlib.sha256(blob).hexdigest()}
    assert refused(cp, args) == "refusing an unsigned upgrade_agent"
    assert not os.path.exists(marker)


def test_an_upgrade_signed_by_another_key_is_refused(attacked):
    cp, agent, blob, marker = attacked
    mine = real.Ed25519PrivateKey.generate()
    args = signed_upgrade(mine, cp.node_uuid, "/install/agent.pyz", blob, __version__)
    assert "signature does not verify" in refused(cp, args)
    args["signature"] = "not base64!"
    assert "signature does not verify" in refused(cp, args)
    assert not os.path.exists(marker)


def test_a_signed_upgrade_cannot_be_changed_or_reused(attacked):
    cp, agent, blob, marker = attacked
    genuine = cp.signed_upgrade("/install/agent.pyz", blob, __version__)
    for field, value in (
        ("sha256", hashlib.sha256(b"other").hexdigest()),
        ("version", "99.0.0"),
        ("expires", genuine["expires"] + 3600),
    ):
        assert "signature does not verify" in refused(cp, dict(genuine, **{field: value}))
    # signed for another node of the same control plane: not for this one
    theirs = signed_upgrade(cp.signing_key, "another-node", "/install/agent.pyz", blob, __version__)
    assert "signature does not verify" in refused(cp, theirs)
    # signed, but its time is over (a captured command replayed later)
    old = cp.signed_upgrade("/install/agent.pyz", blob, __version__, expires=int(time.time()) - 1)
    assert "expired" in refused(cp, old)
    # signed, but older than the running agent (a captured old upgrade)
    down = cp.signed_upgrade("/install/agent.pyz", blob, "0.0.1")
    assert refused(cp, down) == "refusing to downgrade the agent from %s to 0.0.1" % __version__
    assert not os.path.exists(marker)


def test_a_signed_upgrade_whose_download_was_swapped_is_refused(attacked, short_tmp):
    cp, agent, blob, marker = attacked
    genuine = b"PK\x05\x06" + b"\0" * 18  # what the control plane signed (never served)
    args = cp.signed_upgrade("/install/agent.pyz", genuine, __version__)
    assert refused(cp, args).startswith("sha256 mismatch")
    assert not os.path.exists(marker)
    assert not [n for n in os.listdir(os.path.dirname(agent.pyz_path())) if "download" in n]


def test_an_agent_without_the_control_planes_key_refuses_every_upgrade(
    control_plane, agent_for, short_tmp
):
    cp = control_plane
    marker = os.path.join(short_tmp, "evil-ran")
    blob = evil_pyz(os.path.join(short_tmp, "evil.pyz"), marker)
    cp.files["/install/agent.pyz"] = blob
    agent_for(cp, signing_key=None)
    cp.wait_for(lambda m: m.get("type") == "hello", what="hello")
    args = cp.signed_upgrade("/install/agent.pyz", blob, __version__)
    assert "has no control-plane signing key" in refused(cp, args)
    assert not os.path.exists(marker)


def test_the_registration_answer_must_carry_the_signing_key(control_plane, tmp_path):
    from dockercloud_agent.config import Config, Paths
    from dockercloud_agent.register import RegistrationError, register

    paths = Paths(str(tmp_path))
    config, new = register(paths, control_plane.http_url, "good-token")
    assert new and config.signing_key == base64.b64decode(control_plane.signing_key_b64)
    assert Config.load(paths).signing_key == config.signing_key

    control_plane.tokens.add("another")
    control_plane.answer_signing_key = base64.b64encode(b"short").decode()
    other = Paths(str(tmp_path / "other"))
    with pytest.raises(RegistrationError, match="signing_key is not an Ed25519 key"):
        register(other, control_plane.http_url, "another")
    assert not os.path.exists(other.config_file)
