"""`probe_peers`: can this node open TCP connections to its swarm peers' ports?

The control plane asks each node of a swarm to try the others' 7946 (gossip) and the managers'
2377; a refused or silent port is named in the answer, so the node's page can say which peer
it cannot reach instead of the overlay silently leaving it out. UDP (7946, 4789) cannot be
tried this way: nothing answers a datagram.
"""

import ipaddress
import socket
import threading
from typing import Any, Dict, List, Tuple

MAX_PEERS = 256
MAX_TIMEOUT = 5.0
PARALLEL = 16


class PeerArgsError(ValueError):
    pass


def parse(args: Dict[str, Any]) -> Tuple[List[Tuple[str, int]], float]:
    """The peers to try (IP literals and ports only) and the per-connection timeout."""
    peers = args.get("peers")
    if not isinstance(peers, list) or len(peers) > MAX_PEERS:
        raise PeerArgsError("'peers' must be a list of at most %d entries" % MAX_PEERS)
    parsed = []
    for peer in peers:
        if not isinstance(peer, dict):
            raise PeerArgsError("each peer must be an object with 'host' and 'port'")
        host, port = peer.get("host"), peer.get("port")
        try:
            address = str(ipaddress.ip_address(host if isinstance(host, str) else ""))
        except ValueError:
            raise PeerArgsError("a peer's 'host' must be an IP address") from None
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise PeerArgsError("a peer's 'port' must be a number from 1 to 65535")
        parsed.append((address, port))
    timeout = args.get("timeout", 2.0)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise PeerArgsError("'timeout' must be a number of seconds")
    return parsed, min(max(float(timeout), 0.1), MAX_TIMEOUT)


def _reachable(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe(peers: List[Tuple[str, int]], timeout: float) -> List[str]:
    """ "host:port" of each peer that did not accept a connection, in the order given."""
    failed = {}  # type: Dict[int, str]
    lock = threading.Lock()
    queue = list(enumerate(peers))

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                index, (address, port) = queue.pop()
            if not _reachable(address, port, timeout):
                with lock:
                    failed[index] = "%s:%d" % (address, port)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(PARALLEL, len(peers)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [failed[i] for i in sorted(failed)]
