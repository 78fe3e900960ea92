"""Provider fixtures: stand-in REST APIs, moto's real server for AWS, and a catalog."""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests

from accounts.audit import Actor
from providers import services
from providers.drivers.aws import IAM_POLICY, trust_policy

from .standins import DigitalOceanStandIn, HetznerStandIn


@pytest.fixture
def do_token() -> str:
    return "dop_v1_" + secrets.token_hex(32)


@pytest.fixture
def do_api(settings, do_token):
    """The DigitalOcean stand-in; the driver talks to it (settings.DC_DIGITALOCEAN_API_URL)."""
    standin = DigitalOceanStandIn(do_token).start()
    settings.DC_DIGITALOCEAN_API_URL = standin.url
    yield standin
    standin.stop()


@pytest.fixture
def hetzner_api(settings):
    standin = HetznerStandIn(secrets.token_urlsafe(48)).start()
    settings.DC_HETZNER_API_URL = standin.url
    yield standin
    standin.stop()


@pytest.fixture
def do_credential(owner, do_api, do_token):
    """A validated DigitalOcean credential of `acme`."""
    return services.credential_create(
        actor=Actor(user=owner.user),
        organization=owner.org,
        provider="digitalocean",
        name="do-main",
        fields={"token": do_token},
    )


# -- AWS: moto's standalone server (real HTTP on a free local port) ----------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url():
    """One `moto_server` process for the session, stopped (by pid) at the end."""
    port = _free_port()
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        # As EC2 does: refuse an instance type that does not exist.
        env={**os.environ, "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class AwsAccount:
    """Moto's account with IAM checks on: the platform's user, a tenant user, a tenant role."""

    def __init__(self, url: str):
        self.url = url

    def client(self, service: str, key_id="testing", secret="testing"):  # noqa: S107
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def user(self, name: str, policy: dict) -> tuple[str, str, str]:
        iam = self.client("iam")
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return arn, key["AccessKeyId"], key["SecretAccessKey"]

    def role(self, name: str, trust: dict, policy: dict) -> str:
        iam = self.client("iam")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        return arn["Arn"]


@pytest.fixture
def aws(moto_url, settings, monkeypatch, owner):
    """A fresh moto account for `acme`: `aws.keys` (a user with exactly the portal's IAM
    policy), `aws.role_arn` (a role with the portal's trust policy for acme's external id),
    the control plane's own identity in the environment; then IAM checks are switched on."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=30)
    requests.post(f"{moto_url}/moto-api/reset-auth", data=b"inf", timeout=30)
    settings.DC_AWS_ENDPOINT_URL = moto_url
    account = AwsAccount(moto_url)
    platform_policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    platform_arn, platform_id, platform_secret = account.user("dockercloud", platform_policy)
    _, key_id, key_secret = account.user("tenant", IAM_POLICY)
    describe_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
    }
    _, ro_id, ro_secret = account.user("viewer", describe_only)
    account.describe_only_keys = {"access_key_id": ro_id, "secret_access_key": ro_secret}
    external_id = services.external_id_ensure(organization=owner.org)
    account.platform_arn = platform_arn
    account.keys = {"access_key_id": key_id, "secret_access_key": key_secret}
    account.role_arn = account.role(
        "dockercloud-nodes",
        trust_policy(principal=platform_arn, external_id=external_id),
        IAM_POLICY,
    )
    account.external_id = external_id
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", platform_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", platform_secret)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    requests.post(f"{moto_url}/moto-api/reset-auth", data=b"0", timeout=30)
    yield account
    requests.post(f"{moto_url}/moto-api/reset-auth", data=b"inf", timeout=30)
