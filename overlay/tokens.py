"""The swarm's join tokens: encrypted at rest with the organization's data key, never logged,
never in a task argument, an API answer or an error."""

from providers.crypto import org_decrypt, org_encrypt

from .models import OrgOverlay


def store(overlay: OrgOverlay, client) -> None:
    """Read the current tokens from a manager and keep them (encrypted) on the overlay."""
    client.swarm.reload()
    tokens = client.swarm.attrs.get("JoinTokens") or {}
    org = overlay.organization
    overlay.worker_token_encrypted = org_encrypt(org, tokens.get("Worker", ""))
    overlay.manager_token_encrypted = org_encrypt(org, tokens.get("Manager", ""))
    overlay.save(
        update_fields=["swarm_id", "network_id", "worker_token_encrypted",
                       "manager_token_encrypted", "updated"]
    )  # fmt: skip


def rotate(overlay: OrgOverlay, client) -> None:
    """New join tokens (a node left: what it knew no longer lets anyone in)."""
    client.swarm.reload()
    attrs = client.swarm.attrs
    # The low-level call with the swarm's own spec: the SDK's `update` would send a fresh one.
    client.api.update_swarm(
        version=attrs["Version"]["Index"],
        swarm_spec=attrs["Spec"],
        rotate_worker_token=True,
        rotate_manager_token=True,
    )
    overlay.rotate_pending = False
    overlay.save(update_fields=["rotate_pending", "updated"])
    store(overlay, client)


def rotate_soon(overlay: OrgOverlay) -> None:
    """A node left: its tokens must change, now or on the next pass if the swarm cannot yet."""
    overlay.rotate_pending = True
    overlay.save(update_fields=["rotate_pending", "updated"])


def worker(overlay: OrgOverlay) -> str:
    return org_decrypt(overlay.organization, overlay.worker_token_encrypted)


def scrub(overlay: OrgOverlay, text: str) -> str:
    """`text` without either token (a daemon's error may quote what it was given)."""
    for field in ("worker_token_encrypted", "manager_token_encrypted"):
        sealed = getattr(overlay, field)
        if sealed:
            secret = org_decrypt(overlay.organization, sealed)
            if secret:
                text = text.replace(secret, "[token]")
    return text
