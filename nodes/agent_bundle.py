"""The agent the control plane hands out, as the node layer needs it: the install script's
arguments for hosts a provider boots, and the digest and version agent upgrades carry.

The agent's package and install script belong to `agentapi`, above this layer: it registers
its bundle here when the app starts (`AgentapiConfig.ready`), so nodes never import it.
"""

from typing import Protocol


class AgentBundle(Protocol):
    def install_args(self) -> str:
        """What the install script is run with (names the agent it may run)."""
        ...

    def digest(self) -> str:
        """The sha256 of the agent package served at /install/agent.pyz."""
        ...

    def version(self) -> str: ...


_bundle: AgentBundle | None = None


def register(bundle: AgentBundle) -> None:
    global _bundle
    _bundle = bundle


def agent_bundle() -> AgentBundle:
    if _bundle is None:
        raise RuntimeError("no agent bundle registered: is the agentapi app installed?")
    return _bundle
