"""The database unreachable: the API answers 503 in its error envelope and the portal a 503
page, each with Retry-After; never a 500 or a traceback. The outage is real: the connection
is pointed at a port nothing listens on."""

import socket

import pytest
from django.db import connections

pytestmark = pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="an outage of the PostgreSQL server"
)


@pytest.fixture
def database_down(transactional_db):
    """Call it to start the outage (after the test's own setup, which needs the database)."""
    connection = connections["default"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # closed again: connecting is refused
    saved = dict(connection.settings_dict)

    def start():
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(dead_port))

    yield start
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


@pytest.mark.parametrize("debug", [False, True])
def test_the_api_answers_503_in_its_envelope(owner, database_down, settings, debug):
    settings.DEBUG = debug  # Django would show its traceback page in debug
    database_down()
    response = owner.client().get("/api/infra/v1/acme/node/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json() == {
        "error": "The service is unavailable (its database cannot be reached). Retry later."
    }


def test_the_portal_answers_a_503_page(client, owner, database_down):
    client.force_login(owner.user)
    database_down()
    response = client.get("/orgs/acme/nodes/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert "cannot reach its database" in response.content.decode()
