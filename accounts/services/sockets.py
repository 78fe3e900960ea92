"""Closing live sockets whose credential stopped being valid."""

from realtime.emit import emit_on_commit
from realtime.groups import group_for_apikey, group_for_session, group_for_user
from realtime.payloads import credentials_revoked, session_ended


def sockets_close(*, reason: str, user_id: int | None = None, key_id: int | None = None) -> None:
    """After the commit, close the live sockets opened by a user (`user_id`: any session, key
    or password) or with one API key (`key_id`), in every web process: through the channel
    layer, as logging out does."""
    if key_id is not None:
        group = group_for_apikey(key_id)
    elif user_id is not None:
        group = group_for_user(user_id)
    else:
        raise ValueError("sockets_close needs user_id or key_id")
    emit_on_commit(group, credentials_revoked(reason=reason))


def session_sockets_close(*, session_key: str) -> None:
    """After the commit, close the portal sockets opened with this session (it logged out):
    another tab of it stops receiving. Its other sessions (other browsers) keep theirs."""
    emit_on_commit(group_for_session(session_key), session_ended())
