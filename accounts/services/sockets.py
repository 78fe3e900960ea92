"""Closing live sockets whose credential stopped being valid."""


def sockets_close(*, reason: str, user_id: int | None = None, key_id: int | None = None) -> None:
    """After the commit, close the live sockets opened by a user (`user_id`: any session, key
    or password) or with one API key (`key_id`), in every web process: through the channel
    layer, as logging out does."""
    from nodes.events import emit_on_commit  # nodes depends on accounts, not the reverse
    from nodes.groups import group_for_apikey, group_for_user
    from nodes.payloads import credentials_revoked

    if key_id is not None:
        group = group_for_apikey(key_id)
    elif user_id is not None:
        group = group_for_user(user_id)
    else:
        raise ValueError("sockets_close needs user_id or key_id")
    emit_on_commit(group, credentials_revoked(reason=reason))
