"""Names that become API namespaces: users' personal organizations and other organizations.

A namespace shares the path position of Docker Cloud resource names
(`/api/infra/v1/[<ns>/]node/`), so those names are reserved.
"""

import re

from django.core.exceptions import ValidationError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,29}$")
RESERVED = frozenset(
    {
        # Docker Cloud resources and subsystems (see DOCKERCLOUD_API.md, section 1.2)
        "node", "nodecluster", "nodetype", "provider", "region", "az", "tag", "token",
        "action", "events", "service", "container", "stack", "repository", "registry",
        "api", "infra", "audit", "app", "repo", "agent", "auth", "v1",
        # our own routes and obvious impersonations
        "root", "system", "dockercloud", "install", "static", "media", "ws",
        "healthz", "login", "logout", "signup", "orgs", "org", "user", "users", "me",
        "settings", "account", "accounts", "invitations", "credentials", "schema", "docs", "new",
        "overlay",
    }
)  # fmt: skip


def validate_namespace(value: str) -> None:
    """Raise ValidationError unless `value` can be a namespace (format and reserved words)."""
    if not NAME_RE.match(value or ""):
        raise ValidationError(
            "Use 2 to 30 characters: lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit.",
            code="invalid",
        )
    if value in RESERVED:
        raise ValidationError(f"'{value}' is a reserved name.", code="reserved")
