"""Lab hosts: a network namespace on the lab bridge plus a holder process that owns private
mount and UTS namespaces, so what runs inside sees its own hostname, ``/run``,
``/var/lib/docker``, ``/var/lib/dockercloud``, ``/etc/dockercloud``, ``/opt/dockercloud`` and
``/var/log``, while ``/usr`` and the rest are the machine's (never install packages inside).

Commands join a host with ``nsenter --target HOLDER --mount --uts --net`` (never
``ip netns exec``: it remounts /sys and dockerd then dies).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

from . import holder, net, procs, state
from .holder import BASE_ENV, as_argv, nsenter_prefix
from .net import GATEWAY, LabError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


class HostCommandError(subprocess.CalledProcessError):
    """A failed command inside a host; unlike its base class it shows stderr."""

    def __str__(self) -> str:
        tail = (self.stderr or "")[-2000:]
        return f"{super().__str__()}\nstderr: {tail}"


@dataclasses.dataclass
class Host:
    """One lab host. Build with :func:`create_host`; :func:`list_hosts` re-reads records."""

    name: str
    address: str
    netns: str
    veth: str
    dir: str
    holder_pid: int | None = None
    holder_start: int | None = None
    mnt_ns: str | None = None
    net_ns: str | None = None
    created_by: int | None = None
    created_at: float = 0.0
    status: str = "creating"
    # Children started by this process (holder, daemons): reaped on destroy, never zombies.
    _children: list[subprocess.Popen] = dataclasses.field(default_factory=list, repr=False)

    @classmethod
    def from_record(cls, record: dict) -> Host:
        fields = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
        return cls(**{k: v for k, v in record.items() if k in fields})

    def record(self) -> dict:
        names = (f.name for f in dataclasses.fields(self) if not f.name.startswith("_"))
        return {name: getattr(self, name) for name in names}

    # -- state ---------------------------------------------------------------------------

    @property
    def gateway(self) -> str:
        return GATEWAY

    def alive(self) -> bool:
        """The holder is running and is still the process we started (not a reused pid)."""
        pid = self.holder_pid
        return bool(pid and procs.is_alive(pid) and procs.start_time(pid) == self.holder_start)

    def state_path(self, subdir: str) -> Path:
        """Machine-side directory behind one of the host's private mounts, e.g. ``var-log``."""
        return Path(self.dir) / subdir

    def path(self, inner: str) -> Path:
        """Machine-side path to ``inner`` as the host sees it (through /proc/PID/root)."""
        return Path(f"/proc/{self.holder_pid}/root") / inner.lstrip("/")

    def processes(self) -> list[int]:
        """Pids in the holder's mount namespace (the holder included)."""
        with procs.pinned(f"/proc/{self.holder_pid}/ns/mnt" if self.alive() else None) as mnt:
            return sorted(procs.pids_in_ns(mnt=mnt)) if mnt and self.alive() else []

    # -- running commands ------------------------------------------------------------------

    def _env(self, env: dict | None) -> dict:
        return {**BASE_ENV, **(env or {})}

    def run(
        self,
        cmd: list[str] | str,
        *,
        check: bool = True,
        timeout: float | None = 60,
        input: str | bytes | None = None,
        env: dict | None = None,
        text: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run ``cmd`` as root inside the host and capture its output (a str runs `sh -c`)."""
        argv = as_argv(cmd)
        proc = subprocess.run(
            nsenter_prefix(self.running_pid()) + argv,
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
            env=self._env(env),
            cwd="/",
        )
        if check and proc.returncode != 0:
            raise HostCommandError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def popen(self, cmd: list[str] | str, *, env: dict | None = None, **kw) -> subprocess.Popen:
        """Start a background process inside the host (own session: no terminal signals)."""
        kw.setdefault("start_new_session", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("cwd", "/")
        argv = nsenter_prefix(self.running_pid()) + as_argv(cmd)
        child = subprocess.Popen(argv, env=self._env(env), **kw)
        self._children.append(child)
        return child

    def running_pid(self) -> int:
        """The holder pid, after checking the host is still up."""
        pid = self.holder_pid
        if pid is None or not self.alive():
            raise LabError(f"lab host {self.name} is not running")
        return pid

    # -- helpers for tests -------------------------------------------------------------------

    def start_dockerd(self, extra_args=(), *, timeout: float = 30) -> subprocess.Popen:
        from .dockerd import start_dockerd

        return start_dockerd(self, extra_args, timeout=timeout)

    def docker_client(self, **kw):
        """A docker SDK client on the host's own ``/run/docker.sock``."""
        from .dockerd import docker_client

        return docker_client(self, **kw)

    def start_sshd(self, *, password=None, authorized_keys=None, port=22) -> subprocess.Popen:
        from .sshd import start_sshd

        return start_sshd(self, password=password, authorized_keys=authorized_keys, port=port)

    def firewall_port(self, port: int) -> None:
        """Drop inbound TCP to ``port`` from the network (loopback still works)."""
        rule = ["INPUT", "!", "-i", "lo", "-p", "tcp", "--dport", str(port), "-j", "DROP"]
        self.run(["iptables", "-w", "-I", *rule])

    # -- life cycle -----------------------------------------------------------------------

    def _build(self, ready_timeout: float) -> None:
        holder.prepare_dirs(Path(self.dir))
        net.create_host_net(self.netns, self.veth, self.address)
        self._start_holder(ready_timeout)
        self.status = "up"
        state.write_record(self.record())

    def _start_holder(self, ready_timeout: float) -> None:
        child = holder.spawn(name=self.name, netns=self.netns, host_dir=Path(self.dir))
        # Known before it is ready: a failed start is then stopped by destroy().
        self._children.append(child)
        self.holder_pid = child.pid
        self.holder_start = procs.start_time(child.pid)
        holder.wait_ready(child, name=self.name, host_dir=Path(self.dir), timeout=ready_timeout)
        self.mnt_ns = procs.ns_id(child.pid, "mnt")
        self.net_ns = procs.ns_id(child.pid, "net")

    def destroy(self, *, grace: float = 5.0) -> None:
        """Stop every process of the host by pid, then remove its network, dirs and record.

        Safe to call twice, from another process, or on a half-built or stale host.
        """
        holder_ns = f"/proc/{self.holder_pid}/ns"
        # Pin first, then check the holder is still ours: a reused pid pins a stranger's
        # namespace, which we then ignore.
        with (
            procs.pinned(f"{holder_ns}/mnt" if self.alive() else None) as mnt,
            procs.pinned(net.netns_path(self.netns)) as netns,
            procs.pinned(f"{holder_ns}/net" if self.alive() else None) as holder_net,
        ):
            alive = self.alive()
            procs.stop_host_processes(
                holder=self.holder_pid if alive else None,
                mnt=mnt if alive else None,
                # The netns mount outlives a dead holder; a half-built host may lack it.
                net=netns or (holder_net if alive else None),
                grace=grace,
            )
        for child in self._children:
            try:
                child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        net.delete_host_net(self.netns, self.veth, self.address)
        holder.remove_tree(Path(self.dir))
        with state.locked():
            state.delete_record(self.name)
            if not state.all_records():
                net.remove_bridge()
        self.status = "destroyed"


def _taken(records: list[dict]) -> tuple[set[str], set[str]]:
    # Also names whose namespace a crash left behind without a record.
    netns_left = net.orphans()[0]
    names = {r["name"] for r in records} | {n.removeprefix(net.NETNS_PREFIX) for n in netns_left}
    addresses = {r["address"] for r in records}
    return names, addresses


def _pick_name(names: set[str], name: str | None, prefix: str | None) -> str:
    if name is None and prefix is None:
        name = f"dcl-{secrets.token_hex(3)}"
        while name in names:
            name = f"dcl-{secrets.token_hex(3)}"
    elif name is None:
        name = next(f"{prefix}{i}" for i in range(1, 10_000) if f"{prefix}{i}" not in names)
    if not NAME_RE.match(name):
        raise LabError(f"bad host name {name!r}: use lowercase letters, digits and '-'")
    if name in names or os.path.exists(net.netns_path(net.NETNS_PREFIX + name)):
        raise LabError(f"lab host {name} already exists (python -m lab down cleans up)")
    return name


def _pick_address(addresses: set[str]) -> str:
    """A random free address: reusing one at once would meet stale ARP entries in peers."""
    base = int(net.SUBNET.network_address)
    for _ in range(1000):
        offset = 2 + secrets.randbelow(net.SUBNET.num_addresses - 3)  # not .0.0, .0.1, last
        address = str(ipaddress.ip_address(base + offset))
        if address not in addresses:
            return address
    raise LabError("no free lab address")


def create_host(
    name: str | None = None, *, prefix: str | None = None, ready_timeout: float = 10.0
) -> Host:
    """Create a host named ``name``, or the first free ``<prefix>N``, or ``dcl-<random>``."""
    with state.locked():
        net.ensure_bridge()
        names, addresses = _taken(state.all_records())
        name = _pick_name(names, name, prefix)
        address = _pick_address(addresses)
        host = Host(
            name=name,
            address=address,
            netns=net.NETNS_PREFIX + name,
            veth=net.veth_name(address),
            dir=str(state.host_dir(name)),
            created_by=os.getpid(),
            created_at=time.time(),
        )
        # Written under the lock: from here on the name, address and bridge are reserved.
        state.write_record(host.record())
    try:
        host._build(ready_timeout)
    except BaseException:
        host.destroy(grace=1.0)
        raise
    return host


def list_hosts() -> list[Host]:
    return [Host.from_record(r) for r in state.all_records()]


def get_host(name: str) -> Host:
    record = state.read_record(name)
    if record is None:
        raise LabError(f"no lab host named {name}")
    return Host.from_record(record)


def gateway() -> str:
    return GATEWAY


def down(names: list[str] | None = None) -> list[str]:
    """Destroy the named hosts, or every recorded host and any orphan of a crashed run."""
    hosts = [get_host(n) for n in names] if names else list_hosts()
    for host in hosts:
        host.destroy()
    if not names:
        _sweep_orphans()
    return [h.name for h in hosts]


def _sweep_orphans() -> None:
    """Remove namespaces, veths and dirs that no record names (a crash lost the record).

    Under the state lock: a host being created has its record written before any of these
    exist, so it is never mistaken for an orphan.
    """
    with state.locked():
        records = state.all_records()
        netns_names, veths = net.orphans()
        for netns in set(netns_names) - {r["netns"] for r in records}:
            with procs.pinned(net.netns_path(netns)) as netns_ident:
                procs.stop_host_processes(holder=None, mnt=None, net=netns_ident)
            net.delete_host_net(netns, "", None)
        for veth in set(veths) - {r["veth"] for r in records}:
            net.sh("ip", "link", "del", veth, check=False)
        dirs = state.HOSTS_DIR.iterdir() if state.HOSTS_DIR.is_dir() else ()
        for path in [p for p in dirs if p.is_dir()]:
            if str(path) not in {r["dir"] for r in records}:
                holder.remove_tree(path)
        if not records:
            net.remove_bridge(force=True)
