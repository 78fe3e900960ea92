"""Real test hosts on one machine: network namespaces with their own filesystem view, in
which dockerd, sshd, the install script and the agent run as on a server (see LAB.md).

    host = lab.create_host()            # dcl-<random>, an address in 10.250.0.0/16
    host.run("hostname")                # inside the host, as root, clean environment
    host.start_dockerd([...])           # tests only: the agent starts dockerd itself
    host.destroy()                      # every process by pid, then network and dirs

``python -m lab`` does the same by hand; ``lab.pytest_plugin`` gives the fixtures.
"""

from .holder import BASE_ENV, MOUNTS
from .hosts import (
    Host,
    HostCommandError,
    create_host,
    down,
    gateway,
    get_host,
    list_hosts,
)
from .image import busybox_rootfs_tar, import_busybox
from .net import BRIDGE, GATEWAY, SUBNET, LabError

__all__ = [
    "BASE_ENV",
    "BRIDGE",
    "GATEWAY",
    "MOUNTS",
    "SUBNET",
    "Host",
    "HostCommandError",
    "LabError",
    "busybox_rootfs_tar",
    "create_host",
    "down",
    "gateway",
    "get_host",
    "import_busybox",
    "list_hosts",
]
