"""Whether a node can reach its swarm peers, asked of the node's own agent (`probe_peers`):
TCP to each other ready node's 7946 (gossip) and each manager's 2377. The swarm's own view
(managers hearing from a node) misses a node whose gossip port is closed: its containers would
then silently lack their peers."""

import logging

from nodes.agent_rpc import AgentUnavailable, agent_command

log = logging.getLogger(__name__)

GOSSIP_PORT = 7946
SWARM_PORT = 2377
PROBE_TIMEOUT = 2.0
# The agent tries its peers in parallel, each within PROBE_TIMEOUT; this bounds the answer.
COMMAND_TIMEOUT = 15


def unreachable(seen, ready: list, managers: list[str]) -> list[str]:
    """ "ip:port" of the peers the node could not reach; [] also when its agent cannot say
    (not connected, or too old to know the command): no claim is made then."""
    own = seen.node.public_ip
    asked = [f"{o.node.public_ip}:{GOSSIP_PORT}" for o in ready if o.node.public_ip != own]
    asked += [f"{ip}:{SWARM_PORT}" for ip in managers if ip != own]
    if not asked:
        return []
    args = {
        "peers": [{"host": a.rsplit(":", 1)[0], "port": int(a.rsplit(":", 1)[1])} for a in asked],
        "timeout": PROBE_TIMEOUT,
    }
    try:
        result = agent_command(seen.node.uuid, "probe_peers", args, timeout=COMMAND_TIMEOUT)
    except AgentUnavailable:
        return []
    data = result.get("data") if result.get("ok") else None
    said = data.get("unreachable") if isinstance(data, dict) else None
    if not isinstance(said, list):
        return []
    # Bounded by what was asked: an agent's answer names only the peers it was given.
    allowed = set(asked)
    return [a for a in said[: len(asked)] if isinstance(a, str) and a in allowed]


def _reason(blocked: list[str]) -> str:
    more = f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else ""
    return f"overlay: cannot reach {blocked[0]}{more}"


def reasons(ready: dict, managers: list[str]) -> dict[str, str]:
    """Swarm node id -> why it cannot take part, for the ready nodes (Seen) that cannot."""
    failed = {i: unreachable(seen, list(ready.values()), managers) for i, seen in ready.items()}
    addresses = {i: str(seen.node.public_ip) for i, seen in ready.items()}
    return blame(addresses, managers, failed)


def blame(addresses: dict[str, str], managers: list[str], failed: dict[str, list[str]]):
    """Who is at fault for the ports that could not be reached (`failed`: node id -> the
    "ip:port" it could not reach). A port no peer reaches is its owner's fault (a firewall in
    front of it): that node is named, its healthy peers are not. What a node fails to reach
    that others do reach is its own (a firewall on its way out)."""
    tried: dict[str, int] = {}
    missed: dict[str, int] = {}
    for node_id, own in addresses.items():
        targets = [f"{ip}:{GOSSIP_PORT}" for ip in addresses.values() if ip != own]
        targets += [f"{ip}:{SWARM_PORT}" for ip in managers if ip != own]
        for target in targets:
            tried[target] = tried.get(target, 0) + 1
        for target in failed.get(node_id, []):
            missed[target] = missed.get(target, 0) + 1
    closed = {t for t, n in missed.items() if n >= tried.get(t, 0) >= 1}
    by_ip = {ip: node_id for node_id, ip in addresses.items()}
    found: dict[str, str] = {}
    for target in sorted(closed):
        owner = by_ip.get(target.rsplit(":", 1)[0])
        if owner is not None:
            found.setdefault(owner, _reason([target]))
    for node_id, blocked in failed.items():
        own_fault = [t for t in blocked if t not in closed]
        if own_fault and node_id not in found:
            found[node_id] = _reason(own_fault)
    return found
