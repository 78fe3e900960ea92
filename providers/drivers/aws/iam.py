"""What the portal shows to link an AWS account, and the control plane's own AWS identity."""

import json

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

HOME_REGION = "us-east-1"  # where credentials are checked and the account's regions are listed

# What the role (or the user of static keys) needs, and nothing more: the portal shows it.
IAM_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DockercloudDescribe",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeRegions",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
            ],
            "Resource": "*",
        },
        {
            "Sid": "DockercloudNodes",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateTags", "ec2:TerminateInstances"],
            "Resource": "*",
        },
        {
            "Sid": "DockercloudUbuntuImage",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": "arn:aws:ssm:*::parameter/aws/service/canonical/*",
        },
    ],
}


def trust_policy(*, principal: str, external_id: str) -> dict:
    """The role's trust policy: only the control plane, and only with this organization's id."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def endpoint_url() -> str | None:
    return getattr(settings, "DC_AWS_ENDPOINT_URL", "") or None


def client_config() -> Config:
    return Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10)


def platform_sts():
    """STS as the control plane itself (boto3's standard chain, read afresh each time)."""
    session = boto3.session.Session()
    return session.client(
        "sts", region_name=HOME_REGION, endpoint_url=endpoint_url(), config=client_config()
    )


def platform_principal() -> str | None:
    """The control plane's own AWS identity as a trust-policy principal, or None without one."""
    try:
        arn = platform_sts().get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError):
        return None
    # An assumed role (an instance profile) is trusted as its role, not as one session.
    if ":assumed-role/" in arn:
        account = arn.split(":")[4]
        role = arn.split(":assumed-role/")[1].split("/")[0]
        return f"arn:aws:iam::{account}:role/{role}"
    return arn


def policy_text(policy: dict) -> str:
    return json.dumps(policy, indent=2)
