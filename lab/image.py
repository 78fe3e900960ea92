"""A tiny busybox image made locally: no registry is reachable from the lab.

The rootfs tar holds the machine's static ``/bin/busybox`` (package busybox-static) and one
symlink per applet. It is built once, cached under the lab state dir, and written atomically
so parallel test workers can share it.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

from . import state

BUSYBOX = Path("/bin/busybox")
CACHE_DIR = state.STATE_DIR / "cache"
# Always linked, even if `busybox --list` were unavailable.
APPLETS = (
    "sh ash sleep ping nc wget cat echo ls ps top ip ifconfig httpd hostname id env true false "
    "test grep sed awk head tail mkdir rm cp mv ln touch chmod kill date uname wc sort tee "
    "nslookup netstat route"
).split()
DIRS = ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "var/tmp", "run", "usr")
ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}


def _applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True)
    listed = out.stdout.split() if out.returncode == 0 else []
    return sorted((set(listed) | set(APPLETS)) - {"busybox"})


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    return info


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = _info(name, tarfile.SYMTYPE, 0o777)
    info.linkname = target
    return info


def _write_rootfs(dest: Path) -> None:
    with tarfile.open(dest, "w") as tar:
        for d in DIRS:
            tar.addfile(_info(d, tarfile.DIRTYPE, 0o1777 if d.endswith("tmp") else 0o755))
        data = BUSYBOX.read_bytes()
        tar.addfile(_info("bin/busybox", tarfile.REGTYPE, 0o755, len(data)), io.BytesIO(data))
        for applet in _applets():
            tar.addfile(_symlink(f"bin/{applet}", "busybox"))
        tar.addfile(_symlink("usr/bin", "../bin"))
        for name, text in ETC.items():
            raw = text.encode()
            tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(raw)), io.BytesIO(raw))


def busybox_rootfs_tar() -> Path:
    """Path of the cached rootfs tar (built on first use; keyed by the busybox binary)."""
    if not BUSYBOX.exists():
        raise FileNotFoundError(f"{BUSYBOX} missing: apt-get install busybox-static")
    digest = hashlib.sha256(BUSYBOX.read_bytes()).hexdigest()[:16]
    dest = CACHE_DIR / f"busybox-{digest}.tar"
    if not dest.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        _write_rootfs(tmp)
        os.replace(tmp, dest)
    return dest


def import_busybox(
    docker_client, repository: str = "local/busybox", tag: str = "lab", *, tar: Path | None = None
):
    """Import the busybox rootfs (or ``tar``) as ``repository:tag`` unless the daemon already
    has it; return the image."""
    import docker

    ref = f"{repository}:{tag}"
    try:
        return docker_client.images.get(ref)
    except docker.errors.ImageNotFound:
        pass
    docker_client.api.import_image(
        src=str(tar or busybox_rootfs_tar()), repository=repository, tag=tag
    )
    return docker_client.images.get(ref)
