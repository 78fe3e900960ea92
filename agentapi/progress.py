"""What the control plane knows of an install command's progress before and after its host
registers: the script fetched, registration refused (and why), then the node's own state.

The first two live in the cache (a few bytes per known token, kept a day), keyed by the
token's digest: nothing to migrate, and no secret stored or shown.
"""

from django.core.cache import cache
from django.utils import timezone

from core import tokens
from nodes.models import Connection, NodeState, RegistrationToken

KEEP_SECONDS = 24 * 3600
MAX_REASON = 300


def _key(kind: str, digest: str) -> str:
    return f"agentapi:install:{kind}:{digest}"


def install_fetched(*, token: str) -> None:
    """A host fetched the install script with this (known) token."""
    cache.set(_key("fetched", tokens.digest(token)), timezone.now().timestamp(), KEEP_SECONDS)


def install_refused(*, token: str, reason: str) -> None:
    """Registration with this (known) token was refused: the install page says why."""
    cache.set(_key("refused", tokens.digest(token)), str(reason)[:MAX_REASON], KEEP_SECONDS)


def install_progress(*, token: RegistrationToken) -> dict:
    """The steps of the install page, each `{"key", "label", "done"}`, and a failure reason
    (or None). The token's row, looked up tenant-scoped by the caller."""
    found = cache.get_many([_key("fetched", token.digest), _key("refused", token.digest)])
    node = token.node
    fetched = node is not None or _key("fetched", token.digest) in found
    state = node.state if node is not None else None
    deployed = node is not None and node.deployed_datetime is not None
    connection = str(node.connection) if node is not None else ""
    reached = {
        Connection.DIRECT.value: "on port 2375",
        Connection.TUNNEL.value: "through the agent's tunnel (port 2375 was not reachable)",
    }
    daemon = reached.get(connection, "on port 2375 (or the agent's tunnel)")
    steps = [
        ("fetched", "Install script fetched with this command", fetched),
        ("registered", "Agent registered" + (f" as {node}" if node else ""), node is not None),
        ("daemon", f"Control plane reached its Docker daemon {daemon}", deployed),
        ("deployed", "Deployed", state == NodeState.DEPLOYED),
    ]
    failure = None
    if node is None:
        failure = found.get(_key("refused", token.digest))
        if failure is None and token.expires_at < timezone.now():
            failure = "The command expired before a host used it: ask for a new one."
    elif state in (NodeState.UNREACHABLE, NodeState.TERMINATING, NodeState.TERMINATED):
        failure = f"The node is {state.lower()}."
    return {
        "steps": [{"key": k, "label": label, "done": done} for k, label, done in steps],
        "failure": failure,
    }
