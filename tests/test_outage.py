"""The database unreachable: the API answers 503 in its error envelope and the portal a 503
page, each with Retry-After; never a 500 or a traceback. The outage is real: the connection
is pointed at a port nothing listens on."""

import pytest
from django.db import connections

pytestmark = pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="an outage of the PostgreSQL server"
)


@pytest.mark.parametrize("debug", [False, True])
def test_the_api_answers_503_in_its_envelope(owner, database_cut, settings, debug):
    settings.DEBUG = debug  # Django would show its traceback page in debug
    database_cut(True)
    response = owner.client().get("/api/infra/v1/acme/node/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json() == {
        "error": "The service is unavailable (its database cannot be reached). Retry later."
    }


def test_the_portal_answers_a_503_page(client, owner, database_cut):
    client.force_login(owner.user)
    database_cut(True)
    response = client.get("/orgs/acme/nodes/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert "cannot reach its database" in response.content.decode()
