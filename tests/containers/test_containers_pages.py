"""The Containers pages: list, run form, detail, verbs; another organization gets 404."""

import pytest
from django.test import Client

from containers.models import Container
from nodes.models import Action

from .conftest import deployed_node

pytestmark = pytest.mark.django_db
PAGES = "/orgs/acme/containers/"


def _login(person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def _run_form(client, captured, **form):
    with captured(execute=True):
        return client.post(PAGES, {"name": "web", "image": "local/busybox:lab", **form})


def test_the_owner_runs_inspects_and_stops_a_container_from_the_pages(
    owner, queued, django_capture_on_commit_callbacks
):
    node = deployed_node(owner)
    client = _login(owner)
    listing = client.get(PAGES)
    assert listing.status_code == 200 and b"Run a container" in listing.content
    assert b'href="/orgs/acme/containers/"' in client.get("/orgs/acme/").content  # org nav
    response = _run_form(client, django_capture_on_commit_callbacks, node=str(node.uuid))
    container = Container.objects.get(name="web")
    assert response.status_code == 302 and str(container.uuid) in response["Location"]
    page = client.get(f"{PAGES}{container.uuid}/").content.decode()
    assert container.private_ip in page and "Container Run" in page and "Terminate" in page
    assert "web" in client.get(PAGES).content.decode()
    Container.objects.filter(pk=container.pk).update(state="Running")
    with django_capture_on_commit_callbacks(execute=True):
        stopped = client.post(f"{PAGES}{container.uuid}/stop/")
    assert stopped.status_code == 302
    assert Container.objects.get(pk=container.pk).state == "Stopping"
    assert Action.objects.filter(action="Container Stop", object_uuid=container.uuid).exists()
    assert [q[0] for q in queued] == ["deploy_container", "stop_container"]
    # A refused verb is a message, and leaves no action behind.
    client.post(f"{PAGES}{container.uuid}/start/", follow=True)
    assert not Action.objects.filter(action="Container Start").exists()
    # A bad form re-renders with its error; nothing is made.
    bad = _run_form(client, django_capture_on_commit_callbacks, name="bad name!")
    assert bad.status_code == 200 and b"letters, digits" in bad.content


def test_another_organization_gets_404_on_every_container_page(
    owner, outsider, queued, django_capture_on_commit_callbacks
):
    deployed_node(owner)
    _run_form(_login(owner), django_capture_on_commit_callbacks)
    container = Container.objects.get(name="web")
    other = _login(outsider)
    one = f"{PAGES}{container.uuid}/"
    for path in (PAGES, one, one + "logs/"):
        assert other.get(path).status_code == 404, path
    for path in (PAGES, one + "stop/", one + "redeploy/", one + "terminate/"):
        assert other.post(path, {"name": "x", "image": "y"}).status_code == 404, path
    own = f"/orgs/globex/containers/{container.uuid}/"
    assert other.get(own).status_code == 404
    assert other.post(own + "terminate/").status_code == 404
    assert Container.objects.get(pk=container.pk).state == "Starting"
    assert len(queued) == 1


def test_a_read_member_sees_the_pages_but_cannot_act(
    owner, readonly_member, queued, django_capture_on_commit_callbacks
):
    deployed_node(owner)
    _run_form(_login(owner), django_capture_on_commit_callbacks)
    container = Container.objects.get(name="web")
    reader = _login(readonly_member)
    listing = reader.get(PAGES)
    assert listing.status_code == 200 and b"Run a container" not in listing.content
    assert reader.get(f"{PAGES}{container.uuid}/").status_code == 200
    assert reader.post(PAGES, {"name": "x", "image": "y"}).status_code == 403
    assert reader.post(f"{PAGES}{container.uuid}/terminate/").status_code == 403
    assert Container.objects.count() == 1 and len(queued) == 1
