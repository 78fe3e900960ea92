"""Build ``dockercloud-agent.pyz``: the agent package plus a vendored websocket-client.

    python agent/build_zipapp.py [DEST]        # prints the sha256

``build(dest_path) -> sha256hex``. The archive is reproducible: files are copied in a fixed
order with a fixed timestamp and mode, so the same sources give the same sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import zipapp
import zipfile
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.join(HERE, "dockercloud_agent")
FIXED_TIME = (1980, 1, 2, 0, 0, 0)  # zip timestamps start in 1980
MAIN = "import sys\nfrom dockercloud_agent.__main__ import main\n\nsys.exit(main())\n"


def _websocket_source() -> str:
    """Directory of the installed ``websocket`` package (the websocket-client distribution)."""
    try:
        import websocket
    except ImportError:
        raise RuntimeError(
            "websocket-client is not installed: pip install websocket-client==1.8.0"
        ) from None
    return os.path.dirname(os.path.abspath(websocket.__file__))


def _websocket_license() -> Optional[str]:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover
        return None
    try:
        dist = metadata.distribution("websocket-client")
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if os.path.basename(str(f)).upper().startswith("LICENSE"):
            return str(dist.locate_file(f))
    return None


def _copy_tree(src: str, dest: str) -> None:
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "tests"))
        rel = os.path.relpath(dirpath, src)
        target = os.path.join(dest, rel) if rel != "." else dest
        os.makedirs(target, exist_ok=True)
        for name in sorted(filenames):
            if name.endswith((".py", ".typed")):
                shutil.copyfile(os.path.join(dirpath, name), os.path.join(target, name))


def _zip_tree(tree: str, zip_path: str) -> None:
    """Zip ``tree`` in sorted order with fixed timestamps and modes (reproducible)."""
    names = []
    for dirpath, _dirnames, filenames in os.walk(tree):
        for name in filenames:
            full = os.path.join(dirpath, name)
            names.append(os.path.relpath(full, tree).replace(os.sep, "/"))
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname in sorted(names):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            with open(os.path.join(tree, arcname), "rb") as f:
                zf.writestr(info, f.read())


def build(dest_path: str) -> str:
    """Write the zipapp to ``dest_path`` (atomically) and return its sha256 hex digest."""
    dest_path = os.path.abspath(dest_path)
    os.makedirs(os.path.dirname(dest_path), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dc-agent-build-") as tmp:
        tree = os.path.join(tmp, "app")
        _copy_tree(PACKAGE_DIR, os.path.join(tree, "dockercloud_agent"))
        _copy_tree(_websocket_source(), os.path.join(tree, "websocket"))
        license_file = _websocket_license()
        if license_file and os.path.exists(license_file):
            shutil.copyfile(license_file, os.path.join(tree, "websocket", "LICENSE"))
        with open(os.path.join(tree, "__main__.py"), "w", encoding="utf-8") as f:
            f.write(MAIN)
        plain = os.path.join(tmp, "agent.zip")
        _zip_tree(tree, plain)
        out = os.path.join(tmp, "agent.pyz")
        # zipapp adds the shebang line to the prepared archive
        zipapp.create_archive(plain, out, interpreter="/usr/bin/env python3")
        with open(out, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        os.chmod(out, 0o755)
        tmp_dest = "%s.tmp.%d" % (dest_path, os.getpid())
        shutil.copyfile(out, tmp_dest)
        os.chmod(tmp_dest, 0o755)
        os.replace(tmp_dest, dest_path)
    return digest


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "dockercloud-agent.pyz"
    print(build(target))
