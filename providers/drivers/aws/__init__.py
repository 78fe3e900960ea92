"""Amazon EC2 through boto3.

A credential is either static keys (`access_key_id`, `secret_access_key`) or a role ARN that
the control plane assumes through STS with the organization's external id (as Docker Cloud's
linked AWS accounts did); the control plane's own AWS identity comes from boto3's standard
chain (AWS_ACCESS_KEY_ID/..., an instance profile). `DC_AWS_ENDPOINT_URL` points every client
at another endpoint (moto's server in tests).

Host ids are `<region>/<instance id>`. Instances carry the tag `dockercloud-node=<node uuid>`
and use the node uuid as RunInstances' ClientToken, so a retried create finds (or is given
back) the same instance.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError

from .. import (
    NODE_TAG,
    CredentialField,
    DriverError,
    HostInfo,
    HostState,
    NodeTypeInfo,
    ProviderDriver,
    RegionInfo,
)
from ..options import ProviderOption
from .catalog import NODE_TYPES, REGION_LABELS, REGIONS
from .iam import (
    HOME_REGION,
    IAM_POLICY,
    client_config,
    endpoint_url,
    platform_principal,
    platform_sts,
    policy_text,
    trust_policy,
)

__all__ = ["IAM_POLICY", "AwsDriver", "platform_principal", "policy_text", "trust_policy"]

UBUNTU_OWNER = "099720109477"  # Canonical
UBUNTU_SSM = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
UBUNTU_NAME = "ubuntu/images/hvm-ssd*/ubuntu-*-amd64-server-*"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
STATES = {
    "pending": HostState.PENDING,
    "running": HostState.RUNNING,
    "stopping": HostState.STOPPED,
    "stopped": HostState.STOPPED,
    "shutting-down": HostState.TERMINATED,
    "terminated": HostState.TERMINATED,
}
# Errors worth retrying: throttling and the provider's own trouble.
TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "InsufficientInstanceCapacity",
}

# Everything botocore raises for a call that did not work out.
AWS_ERRORS = (BotoCoreError, ClientError, ResponseParserError)


def _error(exc: Exception, doing: str) -> DriverError:
    if isinstance(exc, NoCredentialsError):
        return DriverError(
            f"AWS: cannot {doing}: the control plane has no AWS identity of its own to assume "
            "roles with (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance profile).",
            permanent=True,
        )
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", "Error"), err.get("Message", "")
        return DriverError(f"AWS: cannot {doing}: {code}: {message}", code not in TRANSIENT)
    if isinstance(exc, ResponseParserError):  # an endpoint that is no EC2 (or a proxy's page)
        return DriverError(
            f"AWS: cannot {doing}: the endpoint's answer is not an AWS API response "
            "(check the region)",
            permanent=False,
        )
    return DriverError(f"AWS: cannot {doing}: {exc}", permanent=False)


class AwsDriver(ProviderDriver):
    name = "aws"
    label = "Amazon Web Services"
    fields = (
        CredentialField("access_key_id", "Access key ID", required=False),
        CredentialField("secret_access_key", "Secret access key", required=False),
        CredentialField(
            "role_arn",
            "Role ARN",
            secret=False,
            required=False,
            help="Instead of keys: a role the control plane assumes with your external id.",
        ),
    )
    hint_field = "access_key_id"
    needs_external_id = True
    # What create_host passes to RunInstances. Each picks what the instance boots, which
    # network it sits in, which traffic reaches it or which AWS role it holds: none is free
    # (the default image is Canonical's current Ubuntu, looked up per region).
    options = (
        ProviderOption("image", r"ami-[0-9a-f]{8,17}", "an AMI id (ami-...)"),
        ProviderOption(
            "vpc.subnets", r"subnet-[0-9a-f]{8,17}", "a subnet id", many=True, max_items=16
        ),
        ProviderOption(
            "vpc.security_groups",
            r"sg-[0-9a-f]{8,17}",
            "a security group id",
            many=True,
            max_items=5,
        ),
        ProviderOption(
            "iam.instance_profile_name", r"[A-Za-z0-9_+=,.@-]{1,128}", "an instance profile name"
        ),
    )
    REGIONS = REGIONS
    NODE_TYPES = NODE_TYPES

    def __init__(self, values: dict[str, str] | None = None):
        super().__init__(values)
        self._clients: dict[str, object] = {}

    @classmethod
    def clean(cls, values: dict[str, str]) -> dict[str, str]:
        values = super().clean(values)
        keys = [values.get("access_key_id"), values.get("secret_access_key")]
        role = values.get("role_arn")
        if role and any(keys):
            raise DriverError("AWS: give either access keys or a role ARN, not both.", True)
        if not role and not all(keys):
            raise DriverError(
                "AWS: give access_key_id and secret_access_key, or role_arn.", permanent=True
            )
        if role and not (role.startswith("arn:aws") and ":role/" in role):
            raise DriverError(
                "AWS: role_arn must look like arn:aws:iam::<account>:role/<name>.", True
            )
        return values

    # -- sessions ----------------------------------------------------------------------------

    @cached_property
    def _credentials(self) -> dict[str, str]:
        """Static keys, or temporary ones from assuming the role (once per driver)."""
        if not self.values.get("role_arn"):
            return {
                "aws_access_key_id": self.values.get("access_key_id", ""),
                "aws_secret_access_key": self.values.get("secret_access_key", ""),
            }
        try:
            creds = platform_sts().assume_role(
                RoleArn=self.values["role_arn"],
                RoleSessionName="dockercloud",
                ExternalId=self.values.get("external_id", ""),
                DurationSeconds=3600,
            )["Credentials"]
        except AWS_ERRORS as exc:
            raise _error(exc, "assume the role") from None
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }

    @cached_property
    def _session(self) -> boto3.session.Session:
        return boto3.session.Session(**self._credentials)

    def _client(self, service: str, region: str):
        return self._session.client(
            service, region_name=region, endpoint_url=endpoint_url(), config=client_config()
        )

    def _ec2(self, region: str):
        if region not in self._clients:
            self._clients[region] = self._client("ec2", region)
        return self._clients[region]

    def _call(self, doing: str, func, **kwargs):
        try:
            return func(**kwargs)
        except AWS_ERRORS as exc:
            raise _error(exc, doing) from None

    # -- interface ---------------------------------------------------------------------------

    def validate(self) -> None:
        self._call("list regions", self._ec2(HOME_REGION).describe_regions)

    def regions(self) -> list[RegionInfo]:
        answer = self._call("list regions", self._ec2(HOME_REGION).describe_regions)
        # The commercial partition only (an endpoint like moto's also lists China and GovCloud,
        # which need credentials of their own).
        names = sorted(
            r["RegionName"]
            for r in answer["Regions"]
            if not r["RegionName"].startswith(("cn-", "us-gov-", "us-iso"))
        )
        # Clients are made one by one (a session is not thread-safe), then used in threads.
        clients = [self._ec2(name) for name in names]

        def zones(client) -> tuple[str, ...]:
            answer = self._call("list availability zones", client.describe_availability_zones)
            return tuple(sorted(z["ZoneName"] for z in answer["AvailabilityZones"]))

        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(zones, clients))
        return [
            RegionInfo(n, REGION_LABELS.get(n, n), azs) for n, azs in zip(names, found, strict=True)
        ]

    def availability_zones(self, region: str) -> list[str]:
        answer = self._call(
            "list availability zones", self._ec2(region).describe_availability_zones
        )
        return sorted(
            z["ZoneName"] for z in answer["AvailabilityZones"] if z.get("State") == "available"
        )

    def node_types(self, region: str | None = None) -> list[NodeTypeInfo]:
        ec2 = self._ec2(region or HOME_REGION)
        pages = self._call(
            "list instance types", ec2.get_paginator("describe_instance_types").paginate
        )
        types = []
        try:
            for page in pages:
                for t in page["InstanceTypes"]:
                    cpu = t.get("VCpuInfo", {}).get("DefaultVCpus", 0)
                    mem = t.get("MemoryInfo", {}).get("SizeInMiB", 0)
                    label = f"{t['InstanceType']} ({cpu} vCPU, {mem / 1024:g} GB)"
                    regions = (region,) if region else None
                    types.append(NodeTypeInfo(t["InstanceType"], label, regions, cpu, mem))
        except AWS_ERRORS as exc:
            raise _error(exc, "list instance types") from None
        return sorted(types, key=lambda t: t.name)

    def _image(self, region: str) -> str:
        try:
            ssm = self._client("ssm", region)
            return ssm.get_parameter(Name=UBUNTU_SSM)["Parameter"]["Value"]
        except AWS_ERRORS:
            pass  # not published there (or not allowed): search Canonical's images instead
        answer = self._call(
            "find an Ubuntu image",
            self._ec2(region).describe_images,
            Owners=[UBUNTU_OWNER],
            Filters=[
                {"Name": "name", "Values": [UBUNTU_NAME]},
                {"Name": "state", "Values": ["available"]},
            ],
        )
        images = sorted(answer["Images"], key=lambda i: i.get("CreationDate", ""))
        if not images:
            raise DriverError(f"AWS: no Ubuntu image found in {region}.", permanent=True)
        return images[-1]["ImageId"]

    def create_host(
        self,
        *,
        node_uuid: str,
        region: str,
        node_type: str,
        user_data: str,
        tags: dict[str, str] | None = None,
        availability_zone: str | None = None,
        disk: int | None = None,
        options: dict | None = None,
    ) -> HostInfo:
        existing = self.find_host(node_uuid=node_uuid, region=region)
        if existing is not None:
            return existing
        options = options or {}
        all_tags = {**(tags or {}), NODE_TAG: str(node_uuid), "Name": f"dockercloud-{node_uuid}"}
        params = {
            "ImageId": options.get("image") or self._image(region),
            "InstanceType": node_type,
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": user_data,
            "ClientToken": str(node_uuid),  # EC2's own idempotency for a retried call
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": str(v)} for k, v in all_tags.items()],
                }
            ],
        }
        if availability_zone:
            params["Placement"] = {"AvailabilityZone": availability_zone}
        if disk:
            params["BlockDeviceMappings"] = [
                {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": int(disk), "VolumeType": "gp3"}}
            ]
        vpc = options.get("vpc") or {}
        if vpc.get("subnets"):
            params["SubnetId"] = vpc["subnets"][0]
        if vpc.get("security_groups"):
            params["SecurityGroupIds"] = list(vpc["security_groups"])
        profile = (options.get("iam") or {}).get("instance_profile_name")
        if profile:
            params["IamInstanceProfile"] = {"Name": profile}
        answer = self._call("create the instance", self._ec2(region).run_instances, **params)
        return self._info(region, answer["Instances"][0])

    def _info(self, region: str, instance: dict) -> HostInfo:
        state = instance.get("State", {}).get("Name", "")
        private = [
            a["PrivateIpAddress"]
            for eni in instance.get("NetworkInterfaces", [])
            for a in eni.get("PrivateIpAddresses", [])
            if a.get("PrivateIpAddress")
        ] or ([instance["PrivateIpAddress"]] if instance.get("PrivateIpAddress") else [])
        return HostInfo(
            id=f"{region}/{instance['InstanceId']}",
            state=STATES.get(state, HostState.UNKNOWN),
            public_ip=instance.get("PublicIpAddress"),
            private_ips=private,
            provider_state=state,
            tags={t["Key"]: t["Value"] for t in instance.get("Tags", [])},
        )

    def find_host(self, *, node_uuid: str, region: str | None = None) -> HostInfo | None:
        region = region or HOME_REGION
        answer = self._call(
            "look for the node's instance",
            self._ec2(region).describe_instances,
            Filters=[
                {"Name": f"tag:{NODE_TAG}", "Values": [str(node_uuid)]},
                {"Name": "instance-state-name", "Values": LIVE_STATES},
            ],
        )
        instances = [i for r in answer["Reservations"] for i in r["Instances"]]
        if not instances:
            return None
        instances.sort(key=lambda i: str(i.get("LaunchTime", "")))
        return self._info(region, instances[0])

    @staticmethod
    def _split(host_id: str) -> tuple[str, str]:
        region, _, instance_id = host_id.partition("/")
        if not region or not instance_id.startswith("i-"):
            raise DriverError(f"AWS: {host_id!r} is not a host id of this driver.", permanent=True)
        return region, instance_id

    def get_host(self, host_id: str) -> HostInfo:
        region, instance_id = self._split(host_id)
        try:
            answer = self._ec2(region).describe_instances(InstanceIds=[instance_id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
                return HostInfo(id=host_id, state=HostState.TERMINATED, provider_state="gone")
            raise _error(exc, "describe the instance") from None
        except (BotoCoreError, ResponseParserError) as exc:
            raise _error(exc, "describe the instance") from None
        instances = [i for r in answer["Reservations"] for i in r["Instances"]]
        if not instances:
            return HostInfo(id=host_id, state=HostState.TERMINATED, provider_state="gone")
        return self._info(region, instances[0])

    def destroy_host(self, host_id: str) -> None:
        region, instance_id = self._split(host_id)
        try:
            self._ec2(region).terminate_instances(InstanceIds=[instance_id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
                return
            raise _error(exc, "terminate the instance") from None
        except (BotoCoreError, ResponseParserError) as exc:
            raise _error(exc, "terminate the instance") from None
