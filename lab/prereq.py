"""What the lab needs from the machine, and the Debian packages that provide it."""

from __future__ import annotations

import os
import shutil

from .image import BUSYBOX

# Tool -> the Debian package that installs it.
TOOLS = {
    "ip": "iproute2",
    "iptables": "iptables",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "dockerd": "docker.io",
}
SSHD = ("sshd", "openssh-server")
# Where a root login shell looks (the caller's PATH may lack the sbin directories).
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=os.pathsep.join([os.environ.get("PATH", ""), SEARCH_PATH]))


def problems(*, sshd: bool = False) -> list[str]:
    """Empty when the lab can run here; else one sentence per missing piece."""
    found = []
    if os.geteuid() != 0:
        found.append("the lab needs root (network namespaces, mounts, iptables)")
    tools = dict(TOOLS, **({SSHD[0]: SSHD[1]} if sshd else {}))
    missing = {tool: pkg for tool, pkg in tools.items() if not _which(tool)}
    if not BUSYBOX.exists():
        missing[str(BUSYBOX)] = "busybox-static"
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        found.append(f"the lab needs {', '.join(missing)}: apt-get install -y {packages}")
    return found


def lab_available(*, sshd: bool = False) -> tuple[bool, str]:
    """``(True, "")`` when this machine can run lab hosts, else ``(False, reason)``."""
    found = problems(sshd=sshd)
    return (not found, "; ".join(found))
