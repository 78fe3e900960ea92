"""The maintenance settings API, the image report and a node's maintenance state."""

import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from accounts import services as accounts
from accounts.audit import Actor
from accounts.models import AuditEntry
from maintenance import selectors
from maintenance.models import ImageRemoval, NodeMaintenance
from tests.events.conftest import register_node

URL = "/api/v1/orgs/acme/maintenance/"


def public_key(comment: str = "") -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.decode() + (f" {comment}" if comment else "")


def test_defaults_then_an_admin_changes_them(owner, settings):
    settings.DC_CLOCK_SKEW_MAX = 1.0
    body = owner.client().get(URL).json()
    assert body["ssh_user"] == "root" and body["ssh_team"] is None
    assert body["effective"] == {
        "clock_skew_max": 1.0,
        "image_unused_minutes": settings.DC_IMAGE_UNUSED_MINUTES,
        "log_files_kept": settings.DC_LOG_FILES_KEPT,
    }
    team = accounts.team_create(
        actor=Actor(user=owner.user), organization=owner.org, name="ops", permission="read"
    )
    change = {
        "ssh_user": "deploy",
        "ssh_team": str(team.uuid),
        "clock_skew_max": 0.5,
        "image_unused_minutes": 90,
        "image_keep": ["redis", "mycorp/*"],
        "log_files_kept": 2,
    }
    response = owner.client().patch(URL, change, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in change} == change
    assert body["effective"]["clock_skew_max"] == 0.5
    assert body["effective"]["log_files_kept"] == 2
    entry = AuditEntry.objects.get(action="maintenance.update")
    assert entry.organization == owner.org and entry.data["ssh_user"] == "deploy"
    # null puts a default back
    body = owner.client().patch(URL, {"clock_skew_max": None}, format="json").json()
    assert body["effective"]["clock_skew_max"] == 1.0 and body["ssh_user"] == "deploy"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"ssh_user": "-oProxyCommand=x"}, "ssh_user"),
        ({"ssh_user": "a b"}, "ssh_user"),
        ({"clock_skew_max": 0}, "clock_skew_max"),
        ({"clock_skew_max": "soon"}, "clock_skew_max"),
        ({"clock_sync_command": "a\nb"}, "clock_sync_command"),
        ({"log_files_kept": 21}, "log_files_kept"),
        ({"image_unused_minutes": 0}, "image_unused_minutes"),
        ({"image_keep": "redis"}, "image_keep"),
        ({"image_keep": [""]}, "image_keep"),
        ({"ssh_team": str(uuid.uuid4())}, "ssh_team"),
        ({"secret_sauce": 1}, "secret_sauce"),
    ],
)
def test_bad_values_are_400_with_the_field_and_change_nothing(owner, change, field):
    response = owner.client().patch(URL, change, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert owner.client().get(URL).json()["ssh_user"] == "root"


def test_another_organizations_team_is_not_accepted(owner, outsider):
    theirs = accounts.team_create(
        actor=Actor(user=outsider.user), organization=outsider.org, name="ops", permission="read"
    )
    response = owner.client().patch(URL, {"ssh_team": str(theirs.uuid)}, format="json")
    assert response.status_code == 400 and "ssh_team" in response.json()["fields"]


def test_members_read_admins_write_outsiders_get_404(owner, readonly_member, writer, outsider):
    assert readonly_member.client().get(URL).status_code == 200
    for person in (readonly_member, writer):
        assert person.client().patch(URL, {"ssh_user": "x"}, format="json").status_code == 403
    for path in ("", "images/", f"nodes/{uuid.uuid4()}/"):
        assert outsider.client().get(URL + path).status_code == 404
    assert outsider.client().patch(URL, {"ssh_user": "x"}, format="json").status_code == 404
    node, _ = register_node(owner)
    assert (
        outsider.client().get(f"/api/v1/orgs/globex/maintenance/nodes/{node.uuid}/").status_code
        == 404
    )


def test_image_report_and_node_state(owner):
    node, _ = register_node(owner)
    NodeMaintenance.objects.create(
        node=node,
        images_candidates=[
            {"id": "sha256:aa", "tags": ["x:1"], "size": 50, "unused_seconds": 4000}
        ],
        images_reclaimable=50,
        clock_flagged=True,
        clock_skew_before=5.0,
        clock_skew_after=3.0,
    )
    ImageRemoval.objects.create(
        organization=owner.org, node=node, node_name="web-1", image_id="sha256:bb", size=7
    )
    body = owner.client().get(URL + "images/").json()
    assert body["reclaimable_bytes"] == 50
    assert body["nodes"][0]["candidates"][0]["tags"] == ["x:1"]
    assert [h["image_id"] for h in body["history"]] == ["sha256:bb"]
    body = owner.client().get(f"{URL}nodes/{node.uuid}/").json()
    assert body["clock_flagged"] is True and body["clock_skew_after"] == 3.0
    assert body["images"]["reclaimable_bytes"] == 50 and body["history"][0]["size"] == 7


def test_key_block_holds_members_keys_or_one_teams(owner, readonly_member, writer):
    actor = Actor(user=owner.user)
    for person in (owner, readonly_member, writer):
        accounts.sshkey_add(actor=actor, user=person.user, label="k", public_key=public_key("x"))
    row = selectors.settings_get(organization=owner.org)
    lines = selectors.authorized_keys(organization=owner.org, row=row)
    assert sorted(line.split()[-1] for line in lines) == [
        "alice@dockercloud", "bob@dockercloud", "dave@dockercloud",
    ]  # fmt: skip
    assert all(len(line.split()) == 3 for line in lines)  # the user's own comment is not kept
    row.ssh_team = readonly_member.user.teams.get()
    assert [x.split()[-1] for x in selectors.authorized_keys(organization=owner.org, row=row)] == [
        "bob@dockercloud"
    ]
    membership = owner.org.memberships.get(user=readonly_member.user)
    accounts.membership_remove(actor=actor, membership=membership)
    assert selectors.authorized_keys(organization=owner.org, row=row) == []
