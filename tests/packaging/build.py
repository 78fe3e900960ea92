"""What the image test builds on the machine before Docker sees it: the build context (a copy
of the source tree, so the test never writes into the checkout) with the runtime requirements
as wheels in docker/wheels/, and the cache those wheels come from."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The same names .dockerignore leaves out (Docker applies it again to what is copied).
NOT_COPIED = (
    ".git", ".venv", ".testenv", "var", "secrets", "tls", "__pycache__", "*.pyc",
    ".*_cache", ".schemathesis", "node_modules", "results",
)  # fmt: skip
WHEEL_TIMEOUT = 600.0
DEBIAN_PYTHON = "/usr/bin/python3"  # with Debian's python3-pip (scripts/testenv.py packages)


def cache_dir() -> Path:
    """The testenv dir's cache (`.testenv/cache`, or under DC_TESTENV_DIR): kept across runs,
    gone with `make clean`."""
    return Path(os.environ.get("DC_TESTENV_DIR") or ROOT / ".testenv") / "cache"


def wheels(cache: Path) -> Path:
    """A folder of wheels for requirements.txt, built once per requirements and interpreter.

    Built by this machine's Debian python3 (bookworm's 3.11), the interpreter the image runs:
    requirements carry markers on the exact version (redis wants async-timeout before 3.11.3),
    so the suite's own interpreter, which may be another 3.11, could pick other wheels."""
    requirements = (ROOT / "requirements.txt").read_bytes()
    probe = "import sys, sysconfig; print(sys.version, sysconfig.get_platform())"
    version = subprocess.run(
        [DEBIAN_PYTHON, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    key = hashlib.sha256(requirements + version.encode()).hexdigest()[:16]
    dest = cache / f"wheels-{key}"
    if dest.is_dir():
        return dest
    tmp = cache / f".wheels-{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    proc = subprocess.run(
        [DEBIAN_PYTHON, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "-r", str(ROOT / "requirements.txt"), "-w", str(tmp)],
        capture_output=True, text=True, timeout=WHEEL_TIMEOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"pip wheel failed:\n{proc.stderr[-3000:]}")
    os.replace(tmp, dest)
    return dest


def context(dest: Path, wheel_dir: Path) -> Path:
    """Copy the source tree to ``dest`` and put the wheels where the Dockerfile finds them."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    for wheel in wheel_dir.glob("*.whl"):
        shutil.copy2(wheel, dest / "docker" / "wheels" / wheel.name)
    return dest
