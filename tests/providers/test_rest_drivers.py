"""What is particular to the digitalocean (pydo) and hetzner (hcloud) drivers, against the
stand-ins of standins.py: listings and their pagination, what the provider is sent (user
data, tags, labels), a create whose answer is lost, and how errors read and fail (fast,
without the clients' long retry loops). The interface every driver keeps is in
test_driver_contract.py.
"""

import time
import uuid

import pytest

from providers.drivers import DriverError, HostState, get_driver
from providers.drivers.digitalocean import node_tag

from .standins import do_error, hetzner_error

USER_DATA = "#!/bin/sh\ncurl -fsSL http://cp/install/dcr_x | sh\n"


@pytest.fixture
def do(do_api, do_token):
    return get_driver("digitalocean", {"token": do_token})


@pytest.fixture
def hetzner(hetzner_api):
    return get_driver("hetzner", {"token": hetzner_api.token})


def _fails_fast(call, standin, token: str) -> DriverError:
    started, asked = time.monotonic(), len(standin.requests)
    with pytest.raises(DriverError) as info:
        call()
    assert time.monotonic() - started < 2, "the client retried"
    assert len(standin.requests) == asked + 1, "the client retried"
    assert token not in info.value.message
    return info.value


# -- DigitalOcean ------------------------------------------------------------------------------


def test_digitalocean_lists_available_regions_and_sizes(do):
    assert [r.name for r in do.regions()] == ["nyc3", "ams3"]  # "old1" is not available
    sizes = {t.name: t for t in do.node_types()}
    assert sizes["s-1vcpu-1gb"].regions == ("nyc3", "ams3")
    assert sizes["s-2vcpu-4gb"].label == "4 GB, 2 vCPU" and sizes["s-2vcpu-4gb"].memory == 4096
    assert [t.name for t in do.node_types("nyc3")] == ["s-1vcpu-1gb"]


def test_digitalocean_follows_pages_to_find_the_droplet(do, do_api):
    """The lookup by tag reads every page (200 droplets a page, `links.pages.next`)."""
    node = str(uuid.uuid4())
    made = [
        do_api.add_droplet(f"d{n}", "ams3", do_api.sizes[0], "x", [node_tag(node)])["id"]
        for n in range(250)
    ]
    do_api.droplets[made[0]] = do_api.droplets.pop(made[0])  # the first made, listed last
    assert do.find_host(node_uuid=node).id == str(made[0])
    pages = [q["page"] for q in do_api.requested("GET", "/droplets")]
    assert pages == ["1", "2"]


def test_digitalocean_sends_user_data_and_tags(do, do_api):
    node = str(uuid.uuid4())
    host = do.create_host(
        node_uuid=node,
        region="ams3",
        node_type="s-1vcpu-1gb",
        user_data=USER_DATA,
        tags={"cluster": "web app"},
    )
    droplet = do_api.droplets[int(host.id)]
    assert do_api.user_data[int(host.id)] == USER_DATA
    assert droplet["tags"] == [f"dockercloud-node:{node}", "cluster:web_app"]
    assert droplet["image"] == {"slug": "ubuntu-24-04-x64"}
    assert host.state == HostState.PENDING
    do_api.boot(int(host.id))
    info = do.get_host(host.id)
    assert info.state == HostState.RUNNING and info.provider_state == "active"
    assert info.public_ip.startswith("203.0.113.") and info.private_ips[0].startswith("10.10.")


def test_digitalocean_passes_the_image_option_on(do, do_api):
    """The one provider option the driver declares reaches the droplet create."""
    assert [o.path for o in do.options] == ["image"]
    host = do.create_host(
        node_uuid=str(uuid.uuid4()),
        region="ams3",
        node_type="s-1vcpu-1gb",
        user_data="x",
        options={"image": "debian-12-x64"},
    )
    assert do_api.droplets[int(host.id)]["image"]["slug"] == "debian-12-x64"


def test_digitalocean_lost_answer_finds_the_droplet(do, do_api):
    """The create reached DigitalOcean but its answer was an error: the driver looks again
    and takes the tagged droplet instead of failing (and making a second on retry)."""
    do_api.fail_next_create_after_storing = True
    node = str(uuid.uuid4())
    host = do.create_host(node_uuid=node, region="ams3", node_type="s-1vcpu-1gb", user_data="x")
    assert len(do_api.droplets) == 1 and host.id == str(next(iter(do_api.droplets)))


def test_digitalocean_error_messages(do, do_api, do_token):
    with pytest.raises(DriverError) as info:
        get_driver("digitalocean", {"token": "wrong"}).validate()
    assert info.value.permanent
    assert info.value.message == (
        "DigitalOcean: cannot check the token: Unable to authenticate you (HTTP 401)"
    )
    with pytest.raises(DriverError) as info:
        do.create_host(node_uuid=str(uuid.uuid4()), region="ams3", node_type="", user_data="x")
    assert info.value.permanent
    assert info.value.message == (
        "DigitalOcean: cannot create the droplet: size is required (HTTP 422)"
    )
    with pytest.raises(DriverError, match="not a droplet id"):
        do.get_host("not-a-number")


def test_digitalocean_server_errors_fail_fast_and_are_transient(do, do_api, do_token):
    """azure-core, under pydo, would retry a 5xx up to 10 times with backoff."""
    do_api.failures.append(do_error(503, "service_unavailable", "Try again later"))
    error = _fails_fast(do.validate, do_api, do_token)
    assert not error.permanent
    assert error.message == "DigitalOcean: cannot check the token: Try again later (HTTP 503)"

    do_api.failures.append(do_error(429, "too_many_requests", "API Rate limit exceeded."))
    assert not _fails_fast(do.regions, do_api, do_token).permanent

    do_api.stop()
    with pytest.raises(DriverError) as info:
        do.validate()
    assert not info.value.permanent  # unreachable: worth a retry
    assert info.value.message.startswith("DigitalOcean: cannot check the token: ")


def test_digitalocean_endpoint_setting_with_or_without_v2(do_api, do_token, settings):
    settings.DC_DIGITALOCEAN_API_URL = do_api.url.removesuffix("/v2") + "/"
    get_driver("digitalocean", {"token": do_token}).validate()
    assert do_api.requests[-1][1] == "/v2/account"


# -- Hetzner Cloud -----------------------------------------------------------------------------


def test_hetzner_lists_locations_and_server_types(hetzner):
    assert [(r.name, r.label) for r in hetzner.regions()] == [
        ("fsn1", "Falkenstein"),
        ("nbg1", "Nuremberg"),
        ("ash", "Ashburn, VA"),
    ]
    types = {t.name: t for t in hetzner.node_types()}
    assert set(types) == {"cx22", "cpx11"}  # cx11 is deprecated where it was offered
    assert types["cx22"].memory == 4096 and types["cx22"].regions == ("fsn1", "nbg1")
    assert types["cx22"].label == "CX22 (2 vCPU, 4 GB)" and types["cx22"].disk == 40
    assert [t.name for t in hetzner.node_types("ash")] == ["cpx11"]


def test_hetzner_follows_pages_to_find_the_server(hetzner, hetzner_api):
    """hcloud reads every page of the label-selector lookup (50 servers a page)."""
    node, (cx22, fsn1) = str(uuid.uuid4()), (hetzner_api.server_types[0], hetzner_api.locations[0])
    made = [
        hetzner_api.add_server(f"s{n}", cx22, fsn1, {"dockercloud-node": node})["id"]
        for n in range(60)
    ]
    hetzner_api.servers[made[0]] = hetzner_api.servers.pop(made[0])  # the first, listed last
    assert hetzner.find_host(node_uuid=node).id == str(made[0])
    pages = [q["page"] for q in hetzner_api.requested("GET", "/servers")]
    assert pages == ["1", "2"]


def test_hetzner_sends_user_data_and_labels(hetzner, hetzner_api):
    node = str(uuid.uuid4())
    host = hetzner.create_host(
        node_uuid=node,
        region="fsn1",
        node_type="cx22",
        user_data=USER_DATA,
        tags={"cluster": "web/app"},
    )
    server = hetzner_api.servers[int(host.id)]
    assert server["labels"] == {"cluster": "web_app", "dockercloud-node": node}
    assert hetzner_api.user_data[int(host.id)] == USER_DATA
    assert server["image"]["name"] == "ubuntu-24.04" and server["location"]["name"] == "fsn1"
    assert host.state == HostState.PENDING and host.public_ip.startswith("198.51.100.")
    hetzner_api.boot(int(host.id))
    assert hetzner.get_host(host.id).state == HostState.RUNNING


def test_hetzner_passes_the_image_option_on(hetzner, hetzner_api):
    """The one provider option the driver declares reaches the server create."""
    assert [o.path for o in hetzner.options] == ["image"]
    host = hetzner.create_host(
        node_uuid=str(uuid.uuid4()),
        region="fsn1",
        node_type="cx22",
        user_data="x",
        options={"image": "debian-12"},
    )
    assert hetzner_api.servers[int(host.id)]["image"]["name"] == "debian-12"


def test_hetzner_lost_answer_finds_the_server(hetzner, hetzner_api):
    hetzner_api.fail_next_create_after_storing = True
    node = str(uuid.uuid4())
    host = hetzner.create_host(node_uuid=node, region="fsn1", node_type="cx22", user_data="x")
    assert len(hetzner_api.servers) == 1 and host.id == str(next(iter(hetzner_api.servers)))


def test_hetzner_error_messages(hetzner):
    with pytest.raises(DriverError) as info:
        get_driver("hetzner", {"token": "wrong"}).validate()
    assert info.value.permanent
    assert info.value.message == (
        "Hetzner Cloud: cannot check the token: unable to authenticate (HTTP 401)"
    )
    with pytest.raises(DriverError) as info:
        hetzner.create_host(
            node_uuid=str(uuid.uuid4()), region="fsn1", node_type="nope", user_data="x"
        )
    assert info.value.permanent
    assert info.value.message == (
        "Hetzner Cloud: cannot create the server: invalid input in field 'server_type' (HTTP 400)"
    )
    with pytest.raises(DriverError, match="not a server id"):
        hetzner.destroy_host("dc-1")


def test_hetzner_server_errors_fail_fast_and_are_transient(hetzner, hetzner_api):
    """hcloud would retry a 502 (and rate limits) 5 times, with up to a minute's backoff."""
    token = hetzner_api.token
    hetzner_api.failures.append(hetzner_error(502, "bad_gateway", "bad gateway"))
    error = _fails_fast(hetzner.validate, hetzner_api, token)
    assert not error.permanent
    assert error.message == "Hetzner Cloud: cannot check the token: bad gateway (HTTP 502)"

    hetzner_api.failures.append(hetzner_error(429, "rate_limit_exceeded", "limit exceeded"))
    assert not _fails_fast(hetzner.regions, hetzner_api, token).permanent

    hetzner_api.stop()
    with pytest.raises(DriverError) as info:
        hetzner.validate()
    assert not info.value.permanent
    assert info.value.message.startswith("Hetzner Cloud: cannot check the token: ")
