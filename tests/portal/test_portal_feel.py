"""How the portal feels across its pages: times as <time> for the reader's timezone, a favicon,
empty lists that say what to do next, a confirmation before every destructive verb, field
errors beside their field. (Console errors, overflow, h1s and labels are checked in a real
browser by tests/browser/test_phone_width.py.)"""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template

from nodes.models import NodeCluster

from .conftest import text

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"
DESTRUCTIVE = re.compile(r"terminate|remove|revoke|delete|leave", re.IGNORECASE)


def _render(source: str, **context) -> str:
    return Template(source).render(Context(context))


def test_times_render_as_utc_time_elements_for_the_browser_to_localise():
    moment = datetime(2026, 11, 29, 23, 46, 14, 123, tzinfo=UTC)
    assert _render("{{ t|when }}", t=moment) == (
        '<time datetime="2026-11-29T23:46:14.000123Z" title="2026-11-29 23:46:14 UTC" '
        'data-precision="second">2026-11-29 23:46:14 UTC</time>'
    )
    assert ">2026-11-29</time>" in _render('{{ t|when:"date" }}', t=moment)
    assert ">2026-11-29 23:46 UTC</time>" in _render('{{ t|when:"minute" }}', t=moment)
    assert 'datetime="2026-11-29T23:46:14Z"' in _render("{{ t|when }}", t="2026-11-29T23:46:14Z")
    assert _render('{{ t|when|default:"never" }}', t=None) == "never"
    assert _render("{{ t|when }}", t="<b>not a time</b>") == "&lt;b&gt;not a time&lt;/b&gt;"


def test_no_template_formats_a_time_itself():
    """Times go through `when` (one place to change how they look), never `|date`."""
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if "|date:" in path.read_text()
    ]
    assert offenders == []


def test_every_destructive_form_asks_first():
    """A form that terminates, removes, revokes, deletes or leaves (or whose button is marked
    danger) has data-confirm, which static/js/portal.js asks before submitting."""
    unconfirmed = []
    for path in TEMPLATES.rglob("*.html"):
        for form in re.findall(r"<form\b.*?</form>", path.read_text(), re.DOTALL):
            opening = form.split(">", 1)[0]
            action = re.search(r'action="([^"]*)"', opening)
            destructive = 'class="danger"' in form or (
                action is not None and DESTRUCTIVE.search(action.group(1))
            )
            if destructive and "data-confirm=" not in opening:
                unconfirmed.append(f"{path.relative_to(TEMPLATES)}: {opening[:120]}")
    assert unconfirmed == []


def test_the_favicon_is_linked_from_every_page_and_served(client, owner):
    page = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content if icon.streaming else [icon.content])


EMPTY = {  # page: what its empty list says to do next
    "/orgs/acme/containers/": "bring a node in",
    "/orgs/acme/credentials/": "Add one below",
    "/orgs/acme/clusters/": "Create one with the form below",  # the lab needs no credential
    "/orgs/acme/events/": "No events yet: nodes and containers report theirs here",
    "/orgs/acme/nodes/": "Bring your own host below",
    "/orgs/acme/teams/": "Create one below",
    "/orgs/acme/invitations/": "Invite someone by email below",
    "/orgs/acme/service-accounts/": "Create one below",
    "/orgs/acme/maintenance/": "None yet: unused images are removed here",
    "/settings/sshkeys/": "Add your public key below",
}


def test_empty_lists_say_what_to_do_next(client, owner):
    client.force_login(owner.user)
    for path, advice in EMPTY.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert advice in text(response), path


def test_a_refused_container_run_shows_the_error_beside_its_field(client, owner):
    client.force_login(owner.user)
    response = client.post(
        "/orgs/acme/containers/", {"name": "bad name!", "image": "local/busybox:lab"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    error = re.search(r'<span class="field-error" id="c-(\w+)-error">([^<]+)</span>', page)
    assert error is not None, text(response)
    assert 'aria-invalid="true"' in page
    assert 'value="local/busybox:lab"' in page  # what was typed is kept


def test_a_refused_cluster_verb_shows_its_error_beside_the_field(client, owner):
    cluster = NodeCluster.objects.create(
        organization=owner.org, name="web", provider="local", region="lab", node_type="s"
    )
    client.force_login(owner.user)
    page = f"/orgs/acme/clusters/{cluster.uuid}/"
    response = client.post(page + "scale/", {"target_num_nodes": "many"}, follow=True)
    html = response.content.decode()
    assert (
        '<span class="field-error" id="target_num_nodes-error" role="alert">'
        "Give a number of nodes.</span>"
    ) in html
    assert (
        '<ul class="messages">' not in html
        or "Give a number" not in html.split('<ul class="messages">')[1].split("</ul>")[0]
    )  # beside its field, not also on top
    response = client.post(page + "tags/", {"tags": "x" * 101}, follow=True)
    assert 'id="tags-error"' in response.content.decode()
