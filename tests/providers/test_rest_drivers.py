"""The digitalocean and hetzner drivers against local stand-ins of their REST APIs.

Neither provider offers a local emulator: `standins.py` implements the documented shapes of
DigitalOcean's API v2 and Hetzner Cloud's API v1 (auth errors, pagination, tag and label
lookups, 404s) as small HTTP servers on 127.0.0.1, and the drivers talk real HTTP to them.
"""

import uuid

import pytest

from providers.drivers import DriverError, HostState, get_driver

USER_DATA = "#!/bin/sh\ncurl -fsSL http://cp/install/dcr_x | sh\n"


@pytest.fixture
def do(do_api, do_token):
    return get_driver("digitalocean", {"token": do_token})


@pytest.fixture
def hetzner(hetzner_api):
    return get_driver("hetzner", {"token": hetzner_api.token})


def test_digitalocean_validates_the_token(do, do_api):
    do.validate()
    with pytest.raises(DriverError) as info:
        get_driver("digitalocean", {"token": "wrong"}).validate()
    assert info.value.permanent
    assert info.value.message == (
        "DigitalOcean: cannot check the token: Unable to authenticate you (HTTP 401)"
    )


def test_digitalocean_lists_regions_and_sizes_across_pages(do, do_api):
    regions = do.regions()
    assert [r.name for r in regions] == ["nyc3", "ams3"]  # "old1" is not available
    sizes = {t.name: t for t in do.node_types()}
    assert sizes["s-1vcpu-1gb"].regions == ("nyc3", "ams3")
    assert [t.name for t in do.node_types("nyc3")] == ["s-1vcpu-1gb"]
    # Pagination: follow links.pages.next.
    for n in range(5):
        do_api.droplets[n] = {"id": n, "status": "active", "tags": ["x"], "networks": {}}
    found = do._all("/droplets", "droplets", "list", {"per_page": 2})
    assert len(found) == 5


def test_digitalocean_create_is_idempotent(do, do_api):
    node = str(uuid.uuid4())
    kwargs = dict(node_uuid=node, region="ams3", node_type="s-1vcpu-1gb", user_data=USER_DATA)
    first = do.create_host(**kwargs, tags={"cluster": "web app"})
    assert do.create_host(**kwargs).id == first.id
    assert len(do_api.droplets) == 1
    droplet = do_api.droplets[int(first.id)]
    assert droplet["user_data"] == USER_DATA
    assert f"dockercloud-node:{node}" in droplet["tags"] and "cluster:web_app" in droplet["tags"]
    assert first.state == HostState.PENDING
    do_api.boot(int(first.id))
    info = do.get_host(first.id)
    assert info.state == HostState.RUNNING
    assert info.public_ip.startswith("203.0.113.") and info.private_ips[0].startswith("10.10.")
    do.destroy_host(first.id)
    assert do.get_host(first.id).state == HostState.TERMINATED
    do.destroy_host(first.id)  # gone: fine
    assert do.find_host(node_uuid=node) is None


def test_digitalocean_lost_answer_finds_the_droplet(do, do_api):
    """The create reached DigitalOcean but its answer was an error: the retry inside the
    driver finds the tagged droplet instead of failing (or making a second)."""
    do_api.fail_next_create_after_storing = True
    node = str(uuid.uuid4())
    host = do.create_host(node_uuid=node, region="ams3", node_type="s-1vcpu-1gb", user_data="x")
    assert len(do_api.droplets) == 1 and host.id == str(next(iter(do_api.droplets)))


def test_digitalocean_errors(do, do_api):
    with pytest.raises(DriverError) as info:
        do.create_host(node_uuid=str(uuid.uuid4()), region="ams3", node_type="", user_data="x")
    assert info.value.permanent and "size is required (HTTP 422)" in info.value.message
    with pytest.raises(DriverError):
        do.get_host("not-a-number")
    do_api.stop()
    with pytest.raises(DriverError) as info:
        do.validate()
    assert not info.value.permanent  # unreachable: worth a retry


def test_hetzner_validates_the_token(hetzner):
    hetzner.validate()
    with pytest.raises(DriverError) as info:
        get_driver("hetzner", {"token": "wrong"}).validate()
    assert info.value.permanent
    assert info.value.message == (
        "Hetzner Cloud: cannot check the token: unable to authenticate (HTTP 401)"
    )


def test_hetzner_lists_locations_and_server_types(hetzner):
    assert [r.name for r in hetzner.regions()] == ["fsn1", "nbg1", "ash"]
    types = {t.name: t for t in hetzner.node_types()}
    assert set(types) == {"cx22", "cpx11"}  # cx11 is deprecated
    assert types["cx22"].memory == 4096 and types["cx22"].regions == ("fsn1", "nbg1")
    assert [t.name for t in hetzner.node_types("ash")] == ["cpx11"]


def test_hetzner_create_is_idempotent(hetzner, hetzner_api):
    node = str(uuid.uuid4())
    kwargs = dict(node_uuid=node, region="fsn1", node_type="cx22", user_data=USER_DATA)
    first = hetzner.create_host(**kwargs, tags={"cluster": "web/app"})
    assert hetzner.create_host(**kwargs).id == first.id
    assert len(hetzner_api.servers) == 1
    server = hetzner_api.servers[int(first.id)]
    assert server["labels"] == {"cluster": "web_app", "dockercloud-node": node}
    assert server["user_data"] == USER_DATA
    assert first.state == HostState.PENDING and first.public_ip.startswith("198.51.100.")
    hetzner_api.boot(int(first.id))
    assert hetzner.get_host(first.id).state == HostState.RUNNING
    hetzner.destroy_host(first.id)
    assert hetzner.get_host(first.id).state == HostState.TERMINATED
    hetzner.destroy_host(first.id)


def test_hetzner_errors(hetzner):
    with pytest.raises(DriverError) as info:
        hetzner.create_host(
            node_uuid=str(uuid.uuid4()), region="fsn1", node_type="nope", user_data="x"
        )
    assert info.value.permanent
    assert info.value.message == (
        "Hetzner Cloud: cannot create the server: invalid server type (HTTP 400)"
    )
