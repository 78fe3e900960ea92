"""A Debian bookworm base image made locally: no image registry is reachable from the lab.

``mmdebstrap`` builds a minimal rootfs tar from Debian's packages, through the machine's own
apt sources, with the packages a Dockerfile would otherwise install (so the build needs no
mirror: the product's Dockerfiles install only what is missing). ``docker import`` makes it an
image. The tar is cached by a content key (suite, packages, the apt sources, mmdebstrap's
version) and written atomically, so reruns and parallel callers share one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SUITE = "bookworm"
SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d/debian.sources"))
# Documentation, manual pages and translations: a server image reads none of them.
EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
BUILD_TIMEOUT = 600.0


def _sources() -> list[Path]:
    found = [p for p in SOURCES if p.is_file() and p.stat().st_size]
    if not found:
        raise FileNotFoundError(
            "no apt sources to build a Debian rootfs from (/etc/apt/sources.list or "
            "/etc/apt/sources.list.d/debian.sources)"
        )
    return found


def _mmdebstrap_version() -> str:
    out = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def content_key(packages: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for part in (SUITE, *sorted(packages), *EXCLUDES, _mmdebstrap_version()):
        digest.update(part.encode() + b"\0")
    for path in _sources():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def rootfs_tar(cache_dir: Path, packages: tuple[str, ...]) -> Path:
    """Path of the cached rootfs tar of ``SUITE`` (minbase) plus ``packages``."""
    if not shutil.which("mmdebstrap"):
        raise FileNotFoundError("mmdebstrap missing: apt-get install mmdebstrap")
    dest = cache_dir / f"debian-{SUITE}-{content_key(packages)}.tar"
    if dest.exists():
        return dest
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    cmd = [
        "mmdebstrap", "--quiet", "--variant=minbase", "--format=tar",
        '--aptopt=APT::Install-Recommends "false"',
        # No fsync per unpacked file: a throwaway rootfs, often built on a busy disk.
        "--dpkgopt=force-unsafe-io",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in EXCLUDES),
        f"--include={','.join(sorted(packages))}",
        SUITE, str(tmp), *(str(p) for p in _sources()),
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BUILD_TIMEOUT
        )
        if proc.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def import_image(docker_client, tar: Path, repository: str, tag: str):
    """``docker import`` the rootfs as ``repository:tag`` unless the daemon has it; the image."""
    import docker

    ref = f"{repository}:{tag}"
    try:
        return docker_client.images.get(ref)
    except docker.errors.ImageNotFound:
        pass
    docker_client.api.import_image(src=str(tar), repository=repository, tag=tag)
    return docker_client.images.get(ref)
