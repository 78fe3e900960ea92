"""The `provider_options` a driver accepts, and what a value must look like.

A node cluster's `provider_options` reach the provider's create call (RunInstances, a droplet
or server create) for every host the cluster makes. Each driver declares, as `ProviderOption`s,
exactly the keys its `create_host` passes on, and which values are the vetted defaults anyone
who may deploy can choose (`free`). Any other value picks a custom image, network, firewall or
instance role: who may choose it is the caller's business (`providers.options`).

`options_clean` checks shape only (known keys, types, sizes, nesting) and flattens the
options to dotted paths (`{"vpc": {"subnets": [...]}}` -> `{"vpc.subnets": [...]}`);
`options_nest` builds the stored, Docker Cloud-shaped object back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_VALUE_LENGTH = 255


class OptionError(ValueError):
    """The options are malformed; the message names the key and what is accepted."""


@dataclass(frozen=True)
class ProviderOption:
    """One key of `provider_options` (a dotted path into the object) a driver passes on."""

    path: str
    pattern: str  # what one value looks like (a full match)
    help: str = ""
    many: bool = False  # a list of values (security groups), else one string
    max_items: int = 1
    free: tuple[str, ...] = ()  # values anyone who may deploy may choose: the defaults

    def check_value(self, value) -> str:
        if not isinstance(value, str) or not 0 < len(value) <= MAX_VALUE_LENGTH:
            raise OptionError(f"{self.path}: give a string of 1 to {MAX_VALUE_LENGTH} characters.")
        if not re.fullmatch(self.pattern, value):
            raise OptionError(f"{self.path}: {value[:64]!r} is not {self.help or 'valid'}.")
        return value

    def check(self, value) -> str | list[str]:
        if not self.many:
            return self.check_value(value)
        if not isinstance(value, list) or len(value) > self.max_items:
            raise OptionError(f"{self.path}: give a list of at most {self.max_items} values.")
        return list(dict.fromkeys(self.check_value(v) for v in value))

    def values(self, checked: str | list[str]) -> list[str]:
        return checked if isinstance(checked, list) else [checked]


def _absent(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _unknown(options: tuple[ProviderOption, ...], path: str) -> OptionError:
    if not options:
        return OptionError(f"Unknown option {path[:64]!r}: this provider takes none.")
    accepted = ", ".join(o.path for o in options)
    return OptionError(f"Unknown option {path[:64]!r}; accepted: {accepted}.")


def options_clean(options: tuple[ProviderOption, ...], raw) -> dict[str, str | list[str]]:
    """`raw` checked against the declared options, as {dotted path: value}.

    Empty values (null, "", [], {}) count as not given. Raises OptionError.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise OptionError("Expected a JSON object.")
    by_path = {o.path: o for o in options}
    groups = {
        ".".join(parts[:i])
        for parts in (o.path.split(".") for o in options)
        for i in range(1, len(parts))
    }
    found: dict[str, str | list[str]] = {}

    def walk(obj: dict, prefix: str) -> None:
        for key, value in obj.items():
            path = f"{prefix}{key}"
            if _absent(value):
                continue
            if path in by_path:
                found[path] = by_path[path].check(value)
            elif path in groups and isinstance(value, dict):
                walk(value, f"{path}.")
            elif path in groups:
                raise OptionError(f"{path}: expected a JSON object.")
            else:
                raise _unknown(options, str(path))

    walk(raw, "")
    return found


def options_nest(flat: dict[str, str | list[str]]) -> dict:
    """{"vpc.subnets": [...]} -> {"vpc": {"subnets": [...]}} (the shape drivers read)."""
    nested: dict = {}
    for path, value in sorted(flat.items()):
        *parents, leaf = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested
