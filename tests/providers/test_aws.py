"""The aws driver and AWS credentials against moto's real server (IAM checks switched on)."""

import uuid

import pytest

from accounts.audit import Actor
from accounts.models import AuditEntry
from providers import selectors, services
from providers.drivers import DriverError, HostState, get_driver
from providers.models import Credential

pytestmark = pytest.mark.django_db

USER_DATA = "#!/bin/sh\necho hello > /tmp/hello\n"


def _post(owner, fields, name="aws-main"):
    return owner.client().post(
        "/api/v1/orgs/acme/credentials/",
        {"name": name, "provider": "aws", "fields": fields},
        format="json",
    )


def test_access_keys_are_validated_and_stored(owner, aws):
    response = _post(owner, aws.keys)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["hint"] == aws.keys["access_key_id"][-4:]
    assert body["fields"] == {"access_key_id": "$encrypted$", "secret_access_key": "$encrypted$"}
    assert aws.keys["secret_access_key"] not in response.content.decode()
    credential = Credential.objects.get(uuid=body["uuid"])
    assert credential.get_secret("secret_access_key") == aws.keys["secret_access_key"]
    assert aws.keys["secret_access_key"] not in credential.secret_encrypted


def test_wrong_keys_are_a_clear_400_and_nothing_is_stored(owner, aws):
    wrong = {**aws.keys, "secret_access_key": "x" * 40}
    response = _post(owner, wrong)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("fields: AWS: cannot list regions:"), error
    assert "x" * 40 not in response.content.decode()
    assert not Credential.objects.exists()
    assert not AuditEntry.objects.filter(action="credential.create").exists()


def test_unknown_access_key_is_refused(owner, aws):
    response = _post(
        owner, {"access_key_id": "AKIAUNKNOWN000000000", "secret_access_key": "y" * 40}
    )
    assert response.status_code == 400
    assert "AWS: cannot list regions" in response.json()["error"]
    assert not Credential.objects.exists()


def test_role_arn_is_assumed_with_the_organization_external_id(owner, aws):
    response = _post(owner, {"role_arn": aws.role_arn})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["fields"] == {"role_arn": aws.role_arn}
    assert body["external_id"] == aws.external_id
    driver = services.driver_for(Credential.objects.get(uuid=body["uuid"]))
    assert "eu-west-1a" in driver.availability_zones("eu-west-1")


def test_role_with_another_external_id_is_refused(owner, aws, outsider):
    """The trust policy names acme's external id: globex cannot use acme's role."""
    response = outsider.client().post(
        "/api/v1/orgs/globex/credentials/",
        {"name": "stolen", "provider": "aws", "fields": {"role_arn": aws.role_arn}},
        format="json",
    )
    assert response.status_code == 400
    assert "cannot assume the role" in response.json()["error"]
    assert not Credential.objects.exists()


def test_keys_and_role_together_are_refused(owner, aws):
    response = _post(owner, {**aws.keys, "role_arn": aws.role_arn})
    assert response.status_code == 400
    assert "either access keys or a role ARN" in response.json()["error"]


@pytest.fixture
def driver(owner, aws):
    credential = services.credential_create(
        actor=Actor(user=owner.user),
        organization=owner.org,
        provider="aws",
        name="aws",
        fields=aws.keys,
    )
    access = selectors.credential_for_use  # the API a deploy goes through
    assert access
    return services.credential_use(actor=Actor(user=owner.user), credential=credential)


def test_lists_regions_zones_and_node_types(driver):
    regions = {r.name: r for r in driver.regions()}
    assert {"us-east-1", "eu-west-1"} <= set(regions)
    assert "us-east-1a" in regions["us-east-1"].availability_zones
    types = {t.name: t for t in driver.node_types("eu-west-1")}
    assert types["t3.micro"].cpu == 2 and types["t3.micro"].memory == 1024


def test_create_is_idempotent_and_reports_state_and_addresses(driver):
    node = str(uuid.uuid4())
    first = driver.create_host(
        node_uuid=node,
        region="eu-west-1",
        node_type="t3.micro",
        user_data=USER_DATA,
        tags={"cluster": "web"},
        disk=30,
    )
    again = driver.create_host(
        node_uuid=node, region="eu-west-1", node_type="t3.micro", user_data=USER_DATA
    )
    assert again.id == first.id
    assert first.id.startswith("eu-west-1/i-")
    assert first.tags["dockercloud-node"] == node and first.tags["cluster"] == "web"
    assert driver.find_host(node_uuid=node, region="eu-west-1").id == first.id
    info = driver.get_host(first.id)
    assert info.state in (HostState.PENDING, HostState.RUNNING)
    assert info.public_ip and info.private_ips
    other = driver.create_host(
        node_uuid=str(uuid.uuid4()), region="eu-west-1", node_type="t3.micro", user_data=USER_DATA
    )
    assert other.id != first.id

    driver.destroy_host(first.id)
    assert driver.get_host(first.id).state == HostState.TERMINATED
    assert driver.find_host(node_uuid=node, region="eu-west-1") is None
    driver.destroy_host(first.id)  # already gone: still fine


def test_a_refused_call_is_a_permanent_driver_error(aws):
    """A user allowed to describe but not to run instances: validation passes, create fails."""
    driver = get_driver("aws", aws.describe_only_keys)
    driver.validate()
    with pytest.raises(DriverError) as info:
        driver.create_host(
            node_uuid=str(uuid.uuid4()),
            region="eu-west-1",
            node_type="t3.micro",
            user_data=USER_DATA,
        )
    assert info.value.permanent
    assert "AWS: cannot create the instance" in info.value.message
    assert driver.get_host("eu-west-1/i-0123456789abcdef0").state == HostState.TERMINATED
    with pytest.raises(DriverError):
        driver.get_host("not-a-host-id")


def test_platform_principal_for_the_trust_policy(aws):
    from providers.drivers.aws import platform_principal

    assert platform_principal() == aws.platform_arn
