"""The organization's public keys in a managed block of a user's ``authorized_keys``.

Only the lines between the two markers are ours: every other line of the file (keys the
host's owner put there by hand, options, comments) is kept byte for byte, in its place.
"""

from __future__ import annotations

import os
import pwd
from typing import Any, Dict, List, Optional, Tuple

BEGIN = "# BEGIN dockercloud managed keys (edits inside this block are replaced)"
END = "# END dockercloud managed keys"
MAX_KEYS = 1000
MAX_KEY_LENGTH = 16384
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
)


class KeysError(Exception):
    pass


def valid_user(user: Any) -> str:
    if not isinstance(user, str) or not user or len(user) > 32:
        raise KeysError("args.user must be a user name")
    if user.startswith("-") or not all(c.isalnum() or c in "._-" for c in user):
        raise KeysError("args.user is not a valid user name")
    return user


def clean_keys(keys: Any) -> List[str]:
    """One line per key, of a known type, without anything that could end or open a line."""
    if not isinstance(keys, list) or len(keys) > MAX_KEYS:
        raise KeysError("args.keys must be a list of at most %d keys" % MAX_KEYS)
    lines: List[str] = []
    for key in keys:
        if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
            raise KeysError("every key must be a string of at most %d characters" % MAX_KEY_LENGTH)
        if any(c in key for c in "\r\n\x00"):
            raise KeysError("a key must be a single line")
        key = key.strip()
        if key.split(" ", 1)[0] not in KEY_TYPES:
            raise KeysError("not an OpenSSH public key: %r" % key[:40])
        if key not in lines:
            lines.append(key)
    return lines


def merge_block(text: str, keys: List[str]) -> str:
    """``text`` with its managed block replaced by ``keys`` (added at the end if it had none;
    removed when there are no keys)."""
    lines = text.splitlines(True)
    start = end = None
    for i, line in enumerate(lines):
        if line.rstrip("\r\n") == BEGIN and start is None:
            start = i
        elif line.rstrip("\r\n") == END and start is not None and end is None:
            end = i
    block = [BEGIN + "\n"] + [k + "\n" for k in keys] + [END + "\n"] if keys else []
    if start is not None and end is not None:
        return "".join(lines[:start] + block + lines[end + 1 :])
    if not block:
        return text
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines + block)


def keys_path(user: str, template: str = "") -> Tuple[str, Optional[pwd.struct_passwd]]:
    """Where ``user``'s authorized_keys is: ``~user/.ssh/authorized_keys``, or ``template``
    (agent.json's ``authorized_keys_file``, ``{user}`` and ``{home}`` filled in)."""
    try:
        entry: Optional[pwd.struct_passwd] = pwd.getpwnam(user)
    except KeyError:
        entry = None
    if template:
        home = entry.pw_dir if entry else ""
        return template.replace("{user}", user).replace("{home}", home), entry
    if entry is None:
        raise KeysError("no user %r on this host" % user)
    return os.path.join(entry.pw_dir, ".ssh", "authorized_keys"), entry


def write_keys(path: str, keys: List[str], owner: Optional[pwd.struct_passwd]) -> Dict[str, Any]:
    """Replace the managed block of ``path`` atomically; the file stays the user's, mode 600."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
        if owner is not None:
            os.chown(directory, owner.pw_uid, owner.pw_gid)
    if os.path.islink(path):
        raise KeysError("%s is a symbolic link: refusing to write through it" % path)
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            before = f.read()
    except FileNotFoundError:
        before = ""
    after = merge_block(before, keys)
    changed = after != before
    if changed:
        tmp = "%s.dockercloud.%d" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(after)
                f.flush()
                os.fsync(f.fileno())
            if owner is not None:
                os.chown(tmp, owner.pw_uid, owner.pw_gid)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return {"path": path, "keys": len(keys), "changed": changed}


def set_authorized_keys(args: Dict[str, Any], template: str = "") -> Dict[str, Any]:
    user = valid_user(args.get("user"))
    keys = clean_keys(args.get("keys"))
    path, owner = keys_path(user, template)
    return write_keys(path, keys, owner)
