"""The `use` permission: a team granted a credential deploys with it, and cannot change it."""

import pytest

from accounts import services as account_services
from accounts.audit import Actor
from accounts.models import AuditEntry
from nodes.models import NodeCluster
from providers import services
from providers.models import CredentialGrant

from ..conftest import Person, make_key, make_user

pytestmark = pytest.mark.django_db
CLUSTERS = "/api/infra/v1/acme/nodecluster/"
DO = {
    "region": "/api/infra/v1/region/digitalocean/ams3/",
    "node_type": "/api/infra/v1/nodetype/digitalocean/s-1vcpu-1gb/",
}
LAB = {
    "region": "/api/infra/v1/region/local/local/",
    "node_type": "/api/infra/v1/nodetype/local/lab/",
}


def _uri(credential) -> str:
    return f"/api/v1/orgs/acme/credentials/{credential.uuid}/"


def _grant(owner, credential, *teams):
    response = owner.client().patch(_uri(credential), {"use_teams": list(teams)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _cluster(person, credential=None, **placement):
    body = {"name": "web", **(placement or DO)}
    if credential is not None:
        body["credential"] = str(credential.uuid)
    return person.client().post(CLUSTERS, body, format="json")


def test_admin_grants_use_to_teams_and_it_is_audited(owner, readonly_member, do_credential):
    body = _grant(owner, do_credential, "viewers")
    assert body["use_teams"] == ["viewers"]
    assert owner.client().get(_uri(do_credential)).json()["use_teams"] == ["viewers"]
    entry = AuditEntry.objects.get(action="credential.grant")
    assert entry.actor == owner.user and entry.data["added"] == ["viewers"]
    # The same list again changes nothing and records nothing.
    _grant(owner, do_credential, "viewers")
    assert AuditEntry.objects.filter(action="credential.grant").count() == 1
    assert _grant(owner, do_credential)["use_teams"] == []
    assert not CredentialGrant.objects.exists()


def test_only_admins_grant_and_unknown_teams_are_a_400(
    owner, writer, readonly_member, outsider, do_credential
):
    response = writer.client().patch(_uri(do_credential), {"use_teams": ["viewers"]}, format="json")
    assert response.status_code == 403
    assert "admins" in response.json()["error"]
    # A team of another organization does not exist here.
    account_services.team_create(
        actor=Actor(user=outsider.user), organization=outsider.org, name="spies"
    )
    response = owner.client().patch(
        _uri(do_credential), {"use_teams": ["viewers", "spies"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"]["use_teams"] == ["No team named 'spies' in this organization."]
    assert not CredentialGrant.objects.exists()
    # On create too, checked before the provider is asked or anything stored.
    body = {"name": "x", "provider": "digitalocean", "fields": {"token": "t"}, "use_teams": ["?"]}
    assert (
        owner.client().post("/api/v1/orgs/acme/credentials/", body, format="json").status_code
        == 400
    )
    assert (
        outsider.client().patch(_uri(do_credential), {"use_teams": []}, format="json").status_code
        == 404
    )


def test_a_granted_read_team_deploys_with_the_credential_but_cannot_change_it(
    owner, readonly_member, do_credential, do_token
):
    assert _cluster(readonly_member, do_credential).status_code == 403
    _grant(owner, do_credential, "viewers")
    client = readonly_member.client()

    response = _cluster(readonly_member, do_credential)
    assert response.status_code == 201, response.content
    cluster = response.json()
    assert cluster["credential"] == str(do_credential.uuid)
    use = AuditEntry.objects.get(action="credential.use")
    assert use.actor == readonly_member.user and "web" in use.data["purpose"]
    # The only credential for the provider is picked without naming it, as the CLI does.
    assert _cluster(readonly_member).status_code == 201

    uri = cluster["resource_uri"]
    assert client.patch(uri, {"target_num_nodes": 3}, format="json").status_code == 202
    assert client.delete(uri).status_code == 202
    assert NodeCluster.objects.get(uuid=cluster["uuid"]).state == "Terminating"

    # Still read-only on the credential itself: no change, no delete, never the secret.
    assert client.patch(_uri(do_credential), {"name": "mine"}, format="json").status_code == 403
    assert client.delete(_uri(do_credential)).status_code == 403
    assert do_token not in client.get(_uri(do_credential)).content.decode()
    # And the grant is no licence for providers that need no credential.
    assert _cluster(readonly_member, **LAB).status_code == 403


def test_a_grant_covers_only_its_credential(owner, readonly_member, do_credential, do_token):
    other = services.credential_create(
        actor=Actor(user=owner.user),
        organization=owner.org,
        provider="digitalocean",
        name="do-other",
        fields={"token": do_token},
    )
    _grant(owner, do_credential, "viewers")
    assert _cluster(readonly_member, other).status_code == 403
    # Two credentials now: naming none is a 400 that says so.
    response = _cluster(readonly_member)
    assert response.status_code == 400 and "several credentials" in str(response.json())
    theirs = _cluster(owner, other).json()["resource_uri"]
    client = readonly_member.client()
    assert client.patch(theirs, {"target_num_nodes": 2}, format="json").status_code == 403
    assert client.delete(theirs).status_code == 403
    lab = _cluster(owner, **LAB).json()["resource_uri"]
    assert client.delete(lab).status_code == 403
    assert not NodeCluster.objects.filter(state="Terminating").exists()


def test_leaving_the_team_ends_the_grant(owner, readonly_member, do_credential):
    _grant(owner, do_credential, "viewers")
    team = owner.org.teams.get(name="viewers")
    account_services.team_set_members(actor=Actor(user=owner.user), team=team, usernames=[])
    assert _cluster(readonly_member, do_credential).status_code == 403


def test_a_granted_credential_can_still_be_deleted(owner, readonly_member, do_credential):
    _grant(owner, do_credential, "viewers")
    assert owner.client().delete(_uri(do_credential)).status_code == 204
    assert not CredentialGrant.objects.exists()


def test_a_grant_in_one_organization_is_nothing_in_another(owner, outsider, do_credential):
    """Erin may deploy with acme's credential; as a plain member of globex she still may not
    create clusters there."""
    user = make_user("erin")
    erin = Person(user=user, org=owner.org, key=make_key(user))
    by_owner, by_outsider = Actor(user=owner.user), Actor(user=outsider.user)
    account_services.membership_add(actor=by_owner, organization=owner.org, username="erin")
    team = account_services.team_create(
        actor=by_owner, organization=owner.org, name="ops", permission="read"
    )
    account_services.team_set_members(actor=by_owner, team=team, usernames=["erin"])
    _grant(owner, do_credential, "ops")
    account_services.membership_add(actor=by_outsider, organization=outsider.org, username="erin")
    response = erin.client().post(
        "/api/infra/v1/globex/nodecluster/", {"name": "x", **LAB}, format="json"
    )
    assert response.status_code == 403
    assert _cluster(erin, do_credential).status_code == 201


def test_a_grant_covers_the_nodes_of_its_clusters_only(
    owner, readonly_member, do_credential, do_token, monkeypatch
):
    """Terminate and upgrade a node of a cluster that deploys with the granted credential;
    not a BYO node, not another credential's, and nothing beyond those two verbs."""
    from nodes import services as node_services
    from nodes.models import Node
    from nodes.transitions import liveness

    from ..nodes.test_registration import FACTS, make_csr

    for task in ("upgrade_docker", "upgrade_agent", "health_check", "terminate_node"):
        monkeypatch.setattr(f"nodes.tasks.{task}.delay", lambda *ids: None)
    by_owner = Actor(user=owner.user)

    def deployed_node(cluster_uuid=None) -> Node:
        _, token = node_services.registration_token_create(actor=by_owner, organization=owner.org)
        node = node_services.node_register(
            token=token, csr=make_csr(), facts=FACTS, remote_ip="10.250.0.9"
        )["node"]
        liveness.node_set_reached(node_id=node.pk, connection="direct")
        if cluster_uuid:
            Node.objects.filter(pk=node.pk).update(
                node_cluster=NodeCluster.objects.get(uuid=cluster_uuid), provider="digitalocean"
            )
        return node

    other = services.credential_create(
        actor=by_owner,
        organization=owner.org,
        provider="digitalocean",
        name="do-other",
        fields={"token": do_token},
    )
    granted = deployed_node(_cluster(owner, do_credential).json()["uuid"])
    not_granted = deployed_node(_cluster(owner, other).json()["uuid"])
    byo = deployed_node()
    client = readonly_member.client()

    def node_uri(node, verb=""):
        return f"/api/infra/v1/acme/node/{node.uuid}/" + (f"{verb}/" if verb else "")

    assert client.post(node_uri(granted, "docker-upgrade")).status_code == 403
    _grant(owner, do_credential, "viewers")
    for node in (not_granted, byo):
        assert client.post(node_uri(node, "docker-upgrade")).status_code == 403
        assert client.delete(node_uri(node)).status_code == 403
    assert client.post(node_uri(granted, "health-check")).status_code == 403
    assert client.post(node_uri(granted, "agent-upgrade")).status_code == 403
    assert client.patch(node_uri(granted), {"nickname": "x"}, format="json").status_code == 403
    assert client.post(node_uri(granted, "docker-upgrade")).status_code == 202
    Node.objects.filter(pk=granted.pk).update(state="Deployed")
    assert client.delete(node_uri(granted)).status_code == 202
    assert Node.objects.get(pk=granted.pk).state == "Terminating"
    assert not Node.objects.filter(pk__in=[not_granted.pk, byo.pk], state="Terminating").exists()
