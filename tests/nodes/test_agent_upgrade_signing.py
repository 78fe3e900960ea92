"""The upgrade the control plane signs is the one the agent accepts, and only for that node.

The agent's own suite (agent/tests/test_upgrade.py) refuses every forgery; this checks the
two ends agree: the key handed out at registration, the signed text, the agent's checker.
"""

import base64
import importlib
import sys

import pytest
from django.conf import settings

from agentapi.artifact import agent_pyz, agent_version
from nodes.agent_rpc import signed_upgrade_args

from .test_registration import new_token, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_upgrade(monkeypatch):
    """The agent's own module (pure Python, its own package beside the control plane's)."""
    monkeypatch.syspath_prepend(str(settings.BASE_DIR / "agent"))
    module = importlib.import_module("dockercloud_agent.upgrade")
    yield module
    for name in [n for n in sys.modules if n.startswith("dockercloud_agent")]:
        del sys.modules[name]


def test_the_agent_accepts_what_the_upgrade_task_signs_for_it(owner, client, agent_upgrade):
    answer = register(client, new_token(owner)["token"]).json()
    key = base64.b64decode(answer["signing_key"])
    node = answer["node_uuid"]
    _, sha256 = agent_pyz()
    version = agent_version()
    args = signed_upgrade_args(
        node_uuid=node, url="/install/agent.pyz", sha256=sha256, version=version
    )
    assert args["url"] == "/install/agent.pyz"
    assert agent_upgrade.check_upgrade(args, node, key, version) == (sha256, version)

    other = register(client, new_token(owner)["token"]).json()["node_uuid"]
    with pytest.raises(agent_upgrade.UpgradeRefused, match="signature does not verify"):
        agent_upgrade.check_upgrade(args, other, key, version)  # sent to another node
