"""The aws driver's built-in catalog: regions (with their usual zone names) and node types.

The catalog refresh uses it without calling AWS; a credential's live lists come from
`AwsDriver.regions()` / `node_types()`. Zone letters are the common ones (AWS maps zone names
per account).
"""

from .. import NodeTypeInfo, RegionInfo

AZ_LETTERS = {
    "us-east-1": "abcdef",
    "us-east-2": "abc",
    "us-west-1": "ac",
    "us-west-2": "abcd",
    "ca-central-1": "abd",
    "sa-east-1": "abc",
    "eu-west-1": "abc",
    "eu-west-2": "abc",
    "eu-west-3": "abc",
    "eu-central-1": "abc",
    "eu-north-1": "abc",
    "ap-northeast-1": "acd",
    "ap-northeast-2": "abcd",
    "ap-southeast-1": "abc",
    "ap-southeast-2": "abc",
    "ap-south-1": "abc",
}
REGION_LABELS = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "sa-east-1": "South America (São Paulo)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-north-1": "Europe (Stockholm)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-south-1": "Asia Pacific (Mumbai)",
}

REGIONS = tuple(
    RegionInfo(name, REGION_LABELS[name], tuple(f"{name}{z}" for z in zones))
    for name, zones in AZ_LETTERS.items()
)
NODE_TYPES = tuple(
    NodeTypeInfo(name, f"{name} ({cpu} vCPU, {mem // 1024} GB)", None, cpu, mem)
    for name, cpu, mem in [
        ("t3.micro", 2, 1024),
        ("t3.small", 2, 2048),
        ("t3.medium", 2, 4096),
        ("t3.large", 2, 8192),
        ("t3.xlarge", 4, 16384),
        ("m5.large", 2, 8192),
        ("m5.xlarge", 4, 16384),
        ("m5.2xlarge", 8, 32768),
        ("c5.large", 2, 4096),
        ("c5.xlarge", 4, 8192),
        ("r5.large", 2, 16384),
    ]
)
