"""The lab network: one bridge, one veth pair and one network namespace per host.

Addresses stay inside ``SUBNET``; nothing is NATed to the outside. The callers hold the state
lock around :func:`ensure_bridge` and :func:`remove_bridge` (see ``hosts.py``).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess

from . import state

BRIDGE = "dclab0"
SUBNET = ipaddress.ip_network("10.250.0.0/16")
GATEWAY = "10.250.0.1"
# A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes it as hosts
# come and go, leaving stale ARP entries for the gateway in the other hosts.
BRIDGE_MAC = "02:dc:1a:b0:00:01"
NETNS_PREFIX = "dclab-"
VETH_PREFIX = "dclv"
RULE = ["-s", str(SUBNET), "-d", str(SUBNET), "-j", "ACCEPT", "-m", "comment", "--comment", "dclab"]


class LabError(RuntimeError):
    pass


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def link_exists(name: str) -> bool:
    return bool(name) and os.path.exists(f"/sys/class/net/{name}")


def netns_path(netns: str) -> str:
    return f"/var/run/netns/{netns}"


def _chain_exists(chain: str) -> bool:
    return sh("iptables", "-w", "-S", chain, check=False).returncode == 0


def _rule_present(chain: str) -> bool:
    return sh("iptables", "-w", "-C", chain, *RULE, check=False).returncode == 0


def ensure_bridge() -> None:
    """Create the bridge and the forwarding rules once; remember what we added.

    A bridge named ``BRIDGE`` that no record claims is a leftover of ours (a run killed
    between creating it and recording it): adopt it, configure it fully and remove it with
    the last host, so it never lingers half-made.
    """
    recorded = state.read_json(state.NET_FILE)
    net = recorded or {"bridge": False, "rules": []}
    if not link_exists(BRIDGE):
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        net["bridge"] = True
    elif recorded is None:
        net["bridge"] = True
    if net["bridge"]:
        # Record before configuring: a crash from here on leaves a bridge we know to remove.
        state.write_json(state.NET_FILE, net)
        _configure_bridge()
    # Bridged traffic goes through FORWARD when br_netfilter is loaded, and a dockerd on the
    # machine sets FORWARD's policy to DROP and sends traffic through DOCKER-USER first.
    for chain in ("FORWARD", "DOCKER-USER"):
        if _chain_exists(chain) and not _rule_present(chain):
            sh("iptables", "-w", "-I", chain, *RULE)
            net["rules"] = sorted(set(net["rules"]) | {chain})
    state.write_json(state.NET_FILE, net)


def _configure_bridge() -> None:
    """Idempotent: fixed MAC, the gateway address, up."""
    sh("ip", "link", "set", BRIDGE, "address", BRIDGE_MAC)
    cidr = f"{GATEWAY}/{SUBNET.prefixlen}"
    if cidr not in sh("ip", "-o", "-4", "addr", "show", "dev", BRIDGE).stdout:
        sh("ip", "addr", "add", cidr, "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")


def remove_bridge(*, force: bool = False) -> None:
    """Undo exactly what :func:`ensure_bridge` recorded.

    ``force`` (cleaning after a crash that lost the record) also removes a bridge named
    ``BRIDGE`` and rules carrying our comment: both are ours by name.
    """
    net = state.read_json(state.NET_FILE) or {"bridge": False, "rules": []}
    if force:
        net = {"bridge": True, "rules": ["FORWARD", "DOCKER-USER"]}
    for chain in net["rules"]:
        if _rule_present(chain):
            sh("iptables", "-w", "-D", chain, *RULE, check=False)
    if net["bridge"] and link_exists(BRIDGE):
        sh("ip", "link", "del", BRIDGE, check=False)
    state.NET_FILE.unlink(missing_ok=True)


def veth_name(address: str) -> str:
    """Interface names are limited to 15 characters: derive one from the unique address."""
    index = int(ipaddress.ip_address(address)) - int(SUBNET.network_address)
    return f"{VETH_PREFIX}{index:04x}"


def create_host_net(netns: str, veth: str, address: str) -> None:
    """Namespace + veth (inner side ``eth0``) on the bridge, address, lo up, default route."""
    sh("ip", "netns", "add", netns)
    sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    sh("ip", "link", "set", veth, "master", BRIDGE, "up")
    # `ip -n` only switches the network namespace (unlike `ip netns exec`, it leaves /sys alone).
    sh("ip", "-n", netns, "addr", "add", f"{address}/{SUBNET.prefixlen}", "dev", "eth0")
    sh("ip", "-n", netns, "link", "set", "eth0", "up")
    sh("ip", "-n", netns, "link", "set", "lo", "up")
    sh("ip", "-n", netns, "route", "add", "default", "via", GATEWAY)


def delete_host_net(netns: str, veth: str, address: str | None) -> None:
    if link_exists(veth):
        sh("ip", "link", "del", veth, check=False)
    if os.path.exists(netns_path(netns)):
        sh("ip", "netns", "del", netns, check=False)
    if address and link_exists(BRIDGE):
        # The address may be handed out again: forget the old MAC now.
        sh("ip", "neigh", "flush", "to", address, "dev", BRIDGE, check=False)


def orphans() -> tuple[list[str], list[str]]:
    """Namespaces and veths with our prefixes (left by a crash before a record existed)."""
    netns = sh("ip", "netns", "list", check=False).stdout.split("\n")
    names = [line.split()[0] for line in netns if line.startswith(NETNS_PREFIX)]
    veths = [n for n in os.listdir("/sys/class/net") if n.startswith(VETH_PREFIX)]
    return names, veths
