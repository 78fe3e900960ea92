"""The contract every provider driver keeps, one suite run against each provider's nearest
real thing: `local` (lab hosts: needs root), `aws` (moto's server), `digitalocean` and
`hetzner` (the stand-ins in standins.py, through the official clients).

Driver-specific behaviour (pagination, what the provider records, a create whose answer is
lost) is tested beside each driver: test_local_driver.py, test_aws.py, test_rest_drivers.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import pytest

from providers.drivers import (
    NODE_TAG,
    DriverError,
    HostState,
    ProviderDriver,
    get_driver,
    get_driver_class,
)
from providers.drivers.options import OptionError

USER_DATA = "#!/bin/sh\necho contract\n"  # output: the host's cloud-init log only
LIVE_AWS_STATES = ["pending", "running", "stopping", "stopped"]


@dataclass
class Case:
    driver: ProviderDriver
    region: str
    node_type: str
    count_hosts: Callable[[str], int]  # the provider's live hosts tagged with a node uuid
    bad_driver: ProviderDriver | None = None  # refused credentials (None: the driver has none)
    secrets: tuple[str, ...] = ()  # never in a message
    prefix: str = ""  # how the driver's messages start


def _local(request) -> Case:
    import lab
    from providers.drivers.local import LocalDriver

    request.getfixturevalue("lab_hosts")  # the lab's skip logic and its shared session lock

    def count(node: str) -> int:
        return sum(h.name == LocalDriver.host_name(node) for h in lab.list_hosts())

    return Case(get_driver("local"), "local", "lab", count)


def _aws(request) -> Case:
    aws = request.getfixturevalue("aws")
    keys = aws.keys
    region = "eu-west-1"

    def count(node: str) -> int:
        ec2 = boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=aws.url,
            aws_access_key_id=keys["access_key_id"],
            aws_secret_access_key=keys["secret_access_key"],
        )
        answer = ec2.describe_instances(
            Filters=[
                {"Name": f"tag:{NODE_TAG}", "Values": [node]},
                {"Name": "instance-state-name", "Values": LIVE_AWS_STATES},
            ]
        )
        return sum(len(r["Instances"]) for r in answer["Reservations"])

    bad_secret = "x" * 40
    return Case(
        get_driver("aws", keys),
        region,
        "t3.micro",
        count,
        bad_driver=get_driver("aws", {**keys, "secret_access_key": bad_secret}),
        secrets=(keys["secret_access_key"], bad_secret),
        prefix="AWS: ",
    )


def _digitalocean(request) -> Case:
    api = request.getfixturevalue("do_api")

    def count(node: str) -> int:
        return sum(f"{NODE_TAG}:{node}" in d["tags"] for d in api.droplets.values())

    bad = "dop_v1_" + "0" * 64
    return Case(
        get_driver("digitalocean", {"token": api.token}),
        "ams3",
        "s-1vcpu-1gb",
        count,
        bad_driver=get_driver("digitalocean", {"token": bad}),
        secrets=(api.token, bad),
        prefix="DigitalOcean: ",
    )


def _hetzner(request) -> Case:
    api = request.getfixturevalue("hetzner_api")

    def count(node: str) -> int:
        return sum(s["labels"].get(NODE_TAG) == node for s in api.servers.values())

    bad = "h" * 64
    return Case(
        get_driver("hetzner", {"token": api.token}),
        "fsn1",
        "cx22",
        count,
        bad_driver=get_driver("hetzner", {"token": bad}),
        secrets=(api.token, bad),
        prefix="Hetzner Cloud: ",
    )


CASES = {"local": _local, "aws": _aws, "digitalocean": _digitalocean, "hetzner": _hetzner}


@pytest.fixture(
    params=[
        pytest.param("local", marks=pytest.mark.lab),
        pytest.param("aws", marks=pytest.mark.django_db),  # the `aws` fixture makes an org
        "digitalocean",
        "hetzner",
    ]
)
def case(request) -> Case:
    return CASES[request.param](request)


def _eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _assert_safe(error: DriverError, case: Case) -> None:
    assert error.message.strip(), "an empty message"
    for secret in case.secrets:
        assert secret not in error.message and secret not in str(error)


def test_validate_accepts_good_credentials(case):
    case.driver.validate()


def test_validate_refuses_bad_credentials_clearly(case):
    if case.bad_driver is None:  # the lab: nothing to refuse, as the catalog says
        assert not case.driver.fields
        return
    with pytest.raises(DriverError) as info:
        case.bad_driver.validate()
    assert info.value.permanent
    assert info.value.message.startswith(case.prefix)
    _assert_safe(info.value, case)


def test_lists_regions_and_node_types(case):
    regions = case.driver.regions()
    assert regions and all(r.name and r.label for r in regions)
    assert case.region in {r.name for r in regions}
    types = case.driver.node_types()
    assert types and all(t.name and t.label for t in types)
    assert case.node_type in {t.name for t in types}


def test_host_lifecycle(case):
    """Create (idempotently), find, destroy (idempotently)."""
    driver, node = case.driver, str(uuid.uuid4())
    kwargs = dict(node_uuid=node, region=case.region, node_type=case.node_type)
    host = driver.create_host(**kwargs, user_data=USER_DATA, tags={"cluster": "web"})
    destroyed = False
    try:
        assert host.id and host.state in (HostState.PENDING, HostState.RUNNING)
        assert host.tags[NODE_TAG] == node and host.tags["cluster"] == "web"
        seen = driver.get_host(host.id)
        assert seen.id == host.id and seen.state in (HostState.PENDING, HostState.RUNNING)

        assert driver.create_host(**kwargs, user_data=USER_DATA).id == host.id
        assert case.count_hosts(node) == 1
        assert driver.find_host(node_uuid=node, region=case.region).id == host.id

        driver.destroy_host(host.id)
        destroyed = True
        _eventually(
            lambda: driver.get_host(host.id).state == HostState.TERMINATED,
            "the destroyed host is not reported terminated",
        )
        driver.destroy_host(host.id)  # already gone: fine
        assert driver.find_host(node_uuid=node, region=case.region) is None
        assert case.count_hosts(node) == 0
    finally:
        if not destroyed:
            driver.destroy_host(host.id)


@pytest.mark.parametrize("field", ["region", "node_type"])
def test_unknown_region_or_node_type_is_a_driver_error(case, field):
    node = str(uuid.uuid4())
    placement = {"region": case.region, "node_type": case.node_type, field: "no-such-place-9"}
    with pytest.raises(DriverError) as info:
        case.driver.create_host(node_uuid=node, user_data=USER_DATA, **placement)
    _assert_safe(info.value, case)
    assert case.count_hosts(node) == 0


@pytest.mark.parametrize("name", list(CASES))
def test_provider_options_are_declared_and_anything_else_is_refused(name):
    """Each driver declares the `provider_options` keys its create_host passes on (what each
    passes is tested beside it: test_aws.py, test_rest_drivers.py, test_provider_options.py);
    its free values are valid ones, and an undeclared key is refused naming the declared."""
    cls = get_driver_class(name)
    paths = [o.path for o in cls.options]
    assert len(set(paths)) == len(paths)
    for option in cls.options:
        for value in option.free:
            assert option.check_value(value) == value
    for unknown in ({"user_data": "x"}, {"ssh_keys": ["k"]}):
        with pytest.raises(OptionError) as info:
            cls.clean_options(unknown)
        assert all(path in str(info.value) for path in paths)
    with pytest.raises(OptionError):
        cls.clean_options({"image": {"nested": "x"}})
    assert cls.clean_options(None) == cls.clean_options({}) == {}
