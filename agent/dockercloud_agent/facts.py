"""Host facts (sent at registration and in hello) and metrics (sent in heartbeats)."""

from __future__ import annotations

import array
import fcntl
import ipaddress
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
from typing import Any, Dict, List, Optional

from . import __version__

# Interfaces that dockerd itself creates: their addresses are not the host's.
_DOCKER_IFACES = re.compile(r"^(docker\d*|docker_gwbridge|br-[0-9a-f]+|veth.*|vxlan.*)$")
SIOCGIFADDR = 0x8915


def os_pretty_name(os_release: str = "/etc/os-release") -> str:
    for candidate in (os_release, "/usr/lib/os-release"):
        try:
            with open(candidate, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("PRETTY_NAME="):
                        value = line.split("=", 1)[1].strip()
                        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                            value = value[1:-1]
                        return value
        except OSError:
            continue
    return "%s %s" % (platform.system(), platform.release())


def meminfo() -> Dict[str, int]:
    """/proc/meminfo values in kB."""
    out: Dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, rest = line.partition(":")
                fields = rest.split()
                if fields and fields[0].isdigit():
                    out[key] = int(fields[0])
    except OSError:
        pass
    return out


def existing_parent(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path) and path != "/":
        path = os.path.dirname(path)
    return path


def disk_usage(path: str) -> Dict[str, float]:
    usage = shutil.disk_usage(existing_parent(path))
    gib = 1024.0**3
    return {"total_gb": round(usage.total / gib, 2), "free_gb": round(usage.free / gib, 2)}


def _default_route_ifaces() -> List[str]:
    names = []
    try:
        with open("/proc/net/route", encoding="ascii") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000":
                    names.append(fields[0])
    except OSError:
        pass
    return names


def _ifaces_from_ip() -> Optional[List[tuple]]:
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.path.exists(p)), None
    )
    if not ip:
        return None
    try:
        out = subprocess.run(
            [ip, "-4", "-o", "addr", "show"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=True,
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return None
    result = []
    for line in out.splitlines():
        # "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\ ..."
        m = re.match(r"^\d+:\s+(\S+)\s+inet\s+([0-9.]+)/\d+", line)
        if m:
            result.append((m.group(1).split("@", 1)[0], m.group(2)))
    return result


def _ifaces_from_ioctl() -> List[tuple]:
    """Primary IPv4 address of each interface (SIOCGIFADDR), when `ip` is missing."""
    result = []
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _index, name in socket.if_nameindex():
            req = array.array("B", struct.pack("256s", name.encode()[:15]))
            try:
                fcntl.ioctl(s.fileno(), SIOCGIFADDR, req, True)
            except OSError:
                continue
            result.append((name, socket.inet_ntoa(req.tobytes()[20:24])))
    finally:
        s.close()
    return result


def ipv4_addresses() -> List[str]:
    """Non-loopback, non-link-local IPv4 addresses, default-route interface first."""
    pairs = _ifaces_from_ip()
    if pairs is None:
        pairs = _ifaces_from_ioctl()
    default = _default_route_ifaces()
    pairs = sorted(pairs, key=lambda p: (p[0] not in default,))
    seen: List[str] = []
    for iface, addr in pairs:
        if _DOCKER_IFACES.match(iface):
            continue
        try:
            ip = ipaddress.IPv4Address(addr)
        except ValueError:
            continue
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        if addr not in seen:
            seen.append(addr)
    return seen


def dockerd_binary() -> Optional[str]:
    found = shutil.which("dockerd")
    if found:
        return found
    for candidate in ("/usr/bin/dockerd", "/usr/sbin/dockerd", "/usr/local/bin/dockerd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def parse_docker_version(text: str) -> Optional[str]:
    """'Docker version 20.10.24+dfsg1, build 5d6db84' -> '20.10.24+dfsg1'."""
    m = re.search(r"version\s+v?([0-9][^\s,]*)", text)
    return m.group(1) if m else None


def dockerd_version() -> Optional[str]:
    binary = dockerd_binary()
    if not binary:
        return None
    try:
        proc = subprocess.run(
            [binary, "--version"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_docker_version(proc.stdout.decode("utf-8", "replace"))


def host_facts(docker_data: str = "/var/lib/docker") -> Dict[str, Any]:
    """Facts for registration and hello. ``docker_data`` locates the disk to measure."""
    mem = meminfo()
    disk = shutil.disk_usage(existing_parent(docker_data))
    uname = os.uname()
    return {
        "hostname": socket.gethostname(),
        "os": os_pretty_name(),
        "kernel": uname.release,
        "arch": uname.machine,
        "cpus": os.cpu_count() or 1,
        "memory_mb": mem.get("MemTotal", 0) // 1024,
        "disk_gb": int(disk.total // (1024**3)),
        "addresses": ipv4_addresses(),
        "docker_version": dockerd_version(),
        "agent_version": __version__,
    }


def metrics(docker_data: str = "/var/lib/docker") -> Dict[str, Any]:
    """Load, memory and disk for a heartbeat (containers and docker state are added by the
    caller, who knows the daemon)."""
    mem = meminfo()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = [0.0, 0.0, 0.0]
    available = mem.get("MemAvailable", mem.get("MemFree", 0))
    return {
        "load": load,
        "memory": {"total_mb": mem.get("MemTotal", 0) // 1024, "available_mb": available // 1024},
        "disk": disk_usage(docker_data),
    }
