"""The local driver: lab hosts on this machine (real ones under `pytest.mark.lab`)."""

import uuid

import pytest

from providers.drivers import DriverError, HostState, get_driver
from providers.drivers.local import LocalDriver
from tests.e2e.conftest import wait_for


def _wait_user_data(host) -> None:
    ran = "cat /var/lib/dockercloud/user-data-ran"
    wait_for(lambda: host.run(ran, check=False).returncode == 0, timeout=20,
             interval=0.1, message="the user data to run")  # fmt: skip


USER_DATA = """#!/bin/sh
echo "booting $(hostname)"
echo "ran as $(id -u)" > /var/lib/dockercloud/user-data-ran
"""


@pytest.mark.lab
def test_creates_a_lab_host_that_runs_the_user_data_and_is_idempotent(lab_hosts):
    """(`lab_hosts` holds the lab's shared session lock; the driver makes its own host.)"""
    import lab

    driver = get_driver("local")
    driver.validate()
    node = str(uuid.uuid4())
    host = None
    try:
        info = driver.create_host(
            node_uuid=node,
            region="local",
            node_type="lab",
            user_data=USER_DATA,
            tags={"cluster": "web"},
        )
        host = lab.get_host(info.id)
        assert info.id == LocalDriver.host_name(node) and info.state == HostState.RUNNING
        assert info.public_ip == host.address and info.tags["dockercloud-node"] == node
        again = driver.create_host(node_uuid=node, region="local", node_type="lab", user_data="x")
        assert again.id == info.id
        assert driver.find_host(node_uuid=node).id == info.id

        _wait_user_data(host)
        assert host.run("cat /var/lib/dockercloud/user-data-ran").stdout == "ran as 0\n"
        log = host.run("cat /var/log/cloud-init-output.log").stdout
        assert log.startswith(f"booting {info.id}")
        # The second create did not run the user data again.
        assert log.count("booting") == 1

        driver.destroy_host(info.id)
        assert driver.get_host(info.id).state == HostState.TERMINATED
        assert driver.find_host(node_uuid=node) is None
        with pytest.raises(lab.LabError):
            lab.get_host(info.id)
        driver.destroy_host(info.id)  # gone: fine
        host = None
    finally:
        if host is not None:
            host.destroy()


@pytest.mark.lab
def test_a_host_whose_creator_died_before_booting_it_is_booted_by_the_next_create(lab_hosts):
    """A crash between making the host and starting its user data: the host is there, but a
    cloud VM is never without its user data. find_host says none, and create boots it."""
    import lab

    driver = get_driver("local")
    node = str(uuid.uuid4())
    host = lab.create_host(LocalDriver.host_name(node))  # what the dead creator got done
    try:
        assert driver.find_host(node_uuid=node) is None
        info = driver.create_host(
            node_uuid=node, region="local", node_type="lab", user_data=USER_DATA
        )
        assert info.id == host.name and info.tags["dockercloud-node"] == node
        assert driver.find_host(node_uuid=node).id == host.name
        _wait_user_data(host)
    finally:
        host.destroy()


def test_unavailable_lab_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("lab.prereq.lab_available", lambda: (False, "lab tests need root"))
    driver = get_driver("local")
    with pytest.raises(DriverError) as info:
        driver.create_host(
            node_uuid=str(uuid.uuid4()), region="local", node_type="lab", user_data="true"
        )
    assert info.value.permanent
    assert info.value.message == (
        "The local lab provider is unavailable on this machine: lab tests need root."
    )


def test_never_in_production(settings):
    settings.PRODUCTION = True
    ok, reason = LocalDriver.availability()
    assert not ok and "not available in production" in reason


def test_wrong_placement_and_cloud_config_are_refused(monkeypatch):
    monkeypatch.setattr("lab.prereq.lab_available", lambda: (True, ""))
    driver = get_driver("local")
    node = str(uuid.uuid4())
    with pytest.raises(DriverError, match="region 'local'"):
        driver.create_host(node_uuid=node, region="x", node_type="lab", user_data="true")
    with pytest.raises(DriverError, match="shell-script user data"):
        driver.create_host(
            node_uuid=node, region="local", node_type="lab", user_data="#cloud-config\n{}"
        )
    with pytest.raises(DriverError, match="not a host of the local provider"):
        driver.destroy_host("dcl-abc")
