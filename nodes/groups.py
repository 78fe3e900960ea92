"""Channel-layer group names, from one place."""


def agent_group(node_uuid) -> str:
    """The group holding the websocket of a node's agent (whatever web process has it)."""
    return f"agent.{node_uuid}"
