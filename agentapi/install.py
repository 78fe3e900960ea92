"""The install command: the one line that turns a Linux host into a node.

It carries the sha256 of the agent the control plane serves, and the install script runs the
agent it downloads only if the digest matches: the command is what the user trusts (it came
from the portal or the API), whatever carries the download.
"""

import shlex

from .artifact import agent_pyz, agent_version


def install_args() -> str:
    """The install script's arguments: which agent it may run."""
    _, sha256 = agent_pyz()
    return f"--sha256 {sha256}"


def install_command(base: str, token: str) -> str:
    """`curl -fsSL BASE/install/TOKEN | sh -s -- --sha256 HEX`: the same on every host, the
    script raises itself to root (through sudo when it runs as another user)."""
    url = shlex.quote(f"{base}/install/{token}")
    return f"curl -fsSL {url} | sh -s -- {install_args()}"


class Bundle:
    """The node layer's view of the agent served here (nodes.agent_bundle)."""

    def install_args(self) -> str:
        return install_args()

    def digest(self) -> str:
        return agent_pyz()[1]

    def version(self) -> str:
        return agent_version()
