"""Cross-Origin-Opener-Policy goes only where browsers honour it: over plain http at a LAN
address every page would log a console error instead."""

import pytest
from django.urls import reverse


@pytest.mark.parametrize(
    "host, secure, sent",
    [
        ("10.0.0.5:8000", False, False),  # a first install browsed over the network
        ("cp.example.com", False, False),
        ("cp.example.com", True, True),  # https (directly or behind a trusted proxy)
        ("127.0.0.1:8000", False, True),  # loopback origins are trustworthy
        ("localhost:8000", False, True),
        ("[::1]:8000", False, True),
    ],
)
def test_the_opener_policy_only_where_the_origin_is_trustworthy(client, host, secure, sent):
    response = client.get(reverse("accounts:login"), HTTP_HOST=host, secure=secure)
    assert response.status_code == 200
    assert response.headers.get("Cross-Origin-Opener-Policy") == ("same-origin" if sent else None)
