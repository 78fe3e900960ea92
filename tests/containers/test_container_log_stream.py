"""The container log stream the Docker Cloud SDK opens: who may open it, and how it ends.
(Its lines from a real daemon: tests/e2e/test_containers_overlay.py, through the stock CLI.)"""

import base64

import pytest

from containers.models import Container

from ..events.conftest import (  # noqa: F401 (the websocket tests' fixtures)
    api_socket,
    layer,
    run,
    short_lived_connections,
)
from .conftest import deployed_node

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]


def basic(user: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()


@pytest.fixture
def container(owner) -> Container:
    node = deployed_node(owner)
    return Container.objects.create(
        organization=owner.org, name="web", image="local/busybox:lab", node=node
    )


def test_the_stream_is_the_organizations_only(owner, readonly_member, outsider, container):
    logs = f"/api/app/v1/acme/container/{container.uuid}/logs/?follow=false&tail=10"

    async def scenario():
        own = api_socket(logs, basic("alice", owner.key))
        assert (await own.connect())[0]
        closed = await own.receive_close()  # never run on a node yet: no lines, then the end
        reader = api_socket(logs.replace("/acme", ""), basic("bob", readonly_member.key))
        refused_reader = await reader.connect()  # bob's own namespace: not there
        member = api_socket(logs, basic("bob", readonly_member.key))
        accepted_member = (await member.connect())[0]
        await member.receive_close()
        foreign = api_socket(logs, basic("carol", outsider.key))
        theirs = api_socket(logs.replace("/acme", "/globex"), basic("carol", outsider.key))
        anonymous = api_socket(logs, None)
        return (
            closed, refused_reader, accepted_member,
            await foreign.connect(), await theirs.connect(), await anonymous.connect(),
        )  # fmt: skip

    closed, reader, member, foreign, theirs, anonymous = run(scenario)
    assert closed == 1000 and member
    assert reader == foreign == theirs == (False, 404)
    assert anonymous == (False, 401)
