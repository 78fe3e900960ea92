"""The maintenance page, and maintenance on the node pages."""

from django.test import Client
from django.utils import timezone

from maintenance import selectors
from maintenance.models import ImageRemoval, NodeMaintenance
from tests.events.conftest import register_node

PAGE = "/orgs/acme/maintenance/"


def _browser(person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def test_members_see_the_page_and_admins_change_the_settings(owner, readonly_member, outsider):
    page = _browser(readonly_member).get(PAGE)
    assert page.status_code == 200 and b"Images that would be removed now" in page.content
    assert b'name="ssh_user"' not in page.content
    assert _browser(readonly_member).post(PAGE, {"ssh_user": "x"}).status_code == 403
    assert _browser(outsider).get(PAGE).status_code == 404

    admin = _browser(owner)
    assert b'name="ssh_user"' in admin.get(PAGE).content
    form = {"ssh_user": "deploy", "ssh_team": "", "log_files_kept": "3", "image_keep": "redis\n\n"}
    response = admin.post(PAGE, form)
    assert response.status_code == 302
    row = selectors.settings_get(organization=owner.org)
    assert (row.ssh_user, row.log_files_kept, row.image_keep) == ("deploy", 3, ["redis"])
    response = admin.post(PAGE, dict(form, ssh_user="bad user"))
    assert response.status_code == 200 and b"A user name" in response.content
    assert selectors.settings_get(organization=owner.org).ssh_user == "deploy"


def test_node_pages_show_clock_and_images(owner):
    node, _ = register_node(owner)
    node.clock_skew = 2.5
    node.save(update_fields=["clock_skew"])
    NodeMaintenance.objects.create(
        node=node,
        clock_flagged=True,
        images_candidates=[
            {"id": "sha256:a", "tags": ["old:1"], "size": 2048, "unused_seconds": 1}
        ],
        images_reclaimable=2048,
        images_checked_at=timezone.now(),
    )
    ImageRemoval.objects.create(
        organization=owner.org, node=node, node_name="web-1", image_id="sha256:b", tags=["gone:2"]
    )
    browser = _browser(owner)
    detail = browser.get(f"/orgs/acme/nodes/{node.uuid}/").content.decode()
    assert "Node maintenance" in detail and "still skewed after a sync" in detail
    assert "old:1" in detail and "gone:2" in detail
    listing = browser.get("/orgs/acme/nodes/").content.decode()
    assert "2.50 s" in listing and "skewed" in listing
    overview = browser.get(PAGE).content.decode()
    assert "old:1" in overview and "gone:2" in overview and "2.0\xa0KB" in overview
