"""Channel-layer group names, from one place.

Names hold only ASCII letters, digits, hyphens, underscores and periods (under 100 characters),
so they are built from integer primary keys and UUIDs, never from user-chosen names.
"""

import hashlib


def agent_group(node_uuid) -> str:
    """The group holding the websocket of a node's agent (whatever web process has it)."""
    return f"agent.{node_uuid}"


def group_for_org(org_id: int) -> str:
    """Every event of one organization: its fleet pages and its Docker Cloud event streams."""
    return f"events.org.{int(org_id)}"


def group_for_node(org_id: int, node_id: int) -> str:
    """The events of one node (its portal page)."""
    return f"events.node.{int(org_id)}.{int(node_id)}"


def group_for_action(org_id: int, action_id: int) -> str:
    """New log lines and the end of one action (followed action logs)."""
    return f"action.{int(org_id)}.{int(action_id)}"


def group_for_member(org_id: int, user_id: int) -> str:
    """Every event socket a user holds on one organization: closed when they leave it."""
    return f"member.{int(org_id)}.{int(user_id)}"


def group_for_session(session_key: str) -> str:
    """The portal sockets one login session opened (closed when it logs out). A digest: a
    session key is a credential, and group names show in Redis."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()


def group_for_user(user_id: int) -> str:
    """Every live socket a user holds, however opened (session, API key or password): closed
    when the user is deactivated or changes password."""
    return f"user.{int(user_id)}"


def group_for_apikey(key_id: int) -> str:
    """The live sockets opened with one API key: closed when it is revoked."""
    return f"apikey.{int(key_id)}"
