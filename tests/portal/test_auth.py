"""Signup, login and its lockout, logout, password change and reset."""

import re
from ipaddress import ip_network

import pytest

from accounts.models import AuditEntry, Membership, Organization, User
from tests.conftest import PASSWORD

from .conftest import text

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an entirely different phrase 77"


def _signup(client, username="erin", email="erin@example.com", password=PASSWORD, **extra):
    data = {"username": username, "email": email, "password": password, "password2": password}
    return client.post("/signup/", data | extra)


@pytest.mark.smoke
def test_signup_creates_the_user_and_personal_org_and_logs_in(client):
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(username="erin")
    assert user.email == "erin@example.com"
    assert Membership.objects.get(user=user, organization__name="erin").role == "owner"
    assert Organization.objects.get(name="erin").personal_for == user
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert dashboard.context["user"] == user
    assert AuditEntry.objects.filter(action="user.signup", actor=user).exists()


@pytest.mark.parametrize(
    ("username", "message"),
    [("settings", "'settings' is a reserved name."), ("acme", "The name 'acme' is already taken.")],
)
def test_signup_with_reserved_or_taken_name_shows_the_error_and_creates_nothing(
    client, owner, username, message
):
    users, orgs = User.objects.count(), Organization.objects.count()
    response = _signup(client, username=username)
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [message]
    assert message in text(response)
    assert (User.objects.count(), Organization.objects.count()) == (users, orgs)
    assert "_auth_user_id" not in client.session


def test_signup_shows_password_errors_and_mismatch(client):
    response = _signup(client, password="short")
    assert "This password is too short" in text(response)
    response = _signup(client, password2="something else entirely 9")
    assert response.context["form"].errors["password2"] == ["The two passwords differ."]
    assert not User.objects.filter(username="erin").exists()


@pytest.mark.smoke
def test_login_with_password_reaches_the_dashboard(client, owner):
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    dashboard = client.get("/")
    assert dashboard.context["user"] == owner.user


@pytest.mark.smoke
def test_dashboard_lists_my_organizations_with_my_role(client, owner, readonly_member):
    client.force_login(readonly_member.user)
    response = client.get("/")
    assert response.status_code == 200
    rows = {o.name: o.role for o in response.context["organizations"]}
    assert rows == {"acme": "member", "bob": "owner"}
    assert "/orgs/acme/" in response.content.decode()


def test_anonymous_dashboard_redirects_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_wrong_password_shows_an_error_then_lockout_page_with_429(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        response = client.post("/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
        assert "enter a correct username and password" in text(response)
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many failed logins" in text(response)
    # Locked out: even the right password is refused for now.
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_login_lockout_behind_a_trusted_proxy_is_per_client(client, owner, settings):
    """Behind the load balancer every login comes from its address: the lockout must count
    the client it names in X-Forwarded-For, or one guesser locks alice out for everyone."""
    settings.DC_TRUSTED_PROXIES = (ip_network("10.0.0.0/24"),)
    settings.AXES_FAILURE_LIMIT = 3
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    guesser = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    for _ in range(3):
        client.post("/login/", {"username": "alice", "password": "wrong"}, **guesser)
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, **guesser)
    assert response.status_code == 429
    alice = {**proxy, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, **alice)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(owner.user.pk)


def test_logout_is_a_post_and_ends_the_session(client, owner):
    client.force_login(owner.user)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/")["Location"].startswith("/login/")


def test_password_change(client, owner):
    client.force_login(owner.user)
    response = client.post(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/password/change/done/"
    owner.user.refresh_from_db()
    assert owner.user.check_password(NEW_PASSWORD)


def test_password_reset_email_link_sets_a_new_password(client, owner, mailoutbox):
    response = client.post("/password/reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/password/reset/done/"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["alice@example.com"]
    link = re.search(r"https?://[^/\s]+(/password/reset/\S+/)", mailoutbox[0].body).group(1)

    # Django swaps the token in the URL for a session marker before showing the form.
    response = client.get(link)
    assert response.status_code == 302
    form_url = response["Location"]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/password/reset/complete/"

    client.logout()
    response = client.post("/login/", {"username": "alice", "password": NEW_PASSWORD})
    assert response.status_code == 302
    # The link works once.
    assert "not valid any more" in text(client.get(link, follow=True))


def test_password_reset_for_unknown_email_sends_nothing_and_looks_the_same(client, db, mailoutbox):
    response = client.post("/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/password/reset/done/"
    assert mailoutbox == []
