"""The dashboard leads a new user to a first node, then shows the fleet at a glance: nodes and
clusters by state, work in progress, recent failures, nodes that need a look; the
organization's own only."""

import pytest

from nodes.models import Action, ActionState, Node, NodeState

pytestmark = pytest.mark.django_db


def test_a_new_organization_is_led_to_its_first_node(client, owner):
    client.force_login(owner.user)
    page = client.get("/orgs/acme/").content.decode()
    assert "Add your first node" in page
    assert "2377/tcp, 7946/tcp+udp and 4789/udp" in page
    assert 'href="/orgs/acme/nodes/#bring-your-own"' in page


def test_the_fleet_at_a_glance_counts_only_its_own(client, owner, outsider, settings):
    settings.DC_CLOCK_SKEW_MAX = 1.0
    Node.objects.create(organization=owner.org, hostname="ok-1", state=NodeState.DEPLOYED)
    Node.objects.create(
        organization=owner.org, hostname="skewed", state=NodeState.DEPLOYED, clock_skew=-4.5
    )
    Node.objects.create(organization=owner.org, hostname="lost", state=NodeState.UNREACHABLE)
    Node.objects.create(organization=outsider.org, hostname="theirs", state=NodeState.UNREACHABLE)
    Action.objects.create(
        organization=owner.org, action="Node Upgrade Docker", state=ActionState.FAILED,
        error="the agent did not answer within 600 s",
    )  # fmt: skip
    Action.objects.create(organization=owner.org, action="Node Health Check")
    client.force_login(owner.user)

    page = client.get("/orgs/acme/").content.decode()
    assert "Add your first node" not in page
    assert "<strong>2</strong> nodes deployed" in page
    assert "<strong>1</strong> unreachable" in page
    assert "<strong>1</strong> action in progress" in page
    assert "Node Upgrade Docker" in page and "the agent did not answer within 600 s" in page
    assert "lost" in page and "missed heartbeats" in page
    assert "skewed" in page and "clock off by -4.5 s" in page
    assert "theirs" not in page

    # The dashboard leads with the organization last looked at.
    assert "<strong>2</strong> nodes deployed" in client.get("/").content.decode()
