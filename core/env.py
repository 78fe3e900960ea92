"""Strict environment parsing: every setting comes from a `DC_` variable (or a standard one)."""

import ipaddress
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}"
    )


def env_int(name: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {raw!r}") from None
    return _bounded(name, value, low, high)


def _bounded(name: str, value, low, high):
    if (low is not None and value < low) or (high is not None and value > high):
        raise ImproperlyConfigured(f"{name} must be from {low} to {high}; got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """Read `NAME_FILE` first (for container secrets), then `NAME`."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    return os.environ.get(name, default)


def env_networks(name: str) -> tuple:
    """Comma-separated IP addresses or CIDR networks (`10.0.0.0/8, 2001:db8::1`), strictly:
    a network with host bits set or anything that is not an address fails the start."""
    raw = os.environ.get(name, "")
    if not raw.strip():
        return ()
    networks = []
    for item in raw.split(","):
        item = item.strip()
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or networks (10.0.0.0/8, 2001:db8::1); "
                f"{item!r}: {exc}"
            ) from None
    return tuple(networks)


def generated_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a generated secret from `path`, creating it (mode 600) with `make()` on first use.

    For the embedded default only: production gives its secrets through the environment.

    Processes started together (web, worker, beat) may all find it missing: each writes a
    file of its own and links it into place, so one wins and every one reads the winner's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_text().strip()


def env_float(
    name: str, default: float, *, low: float | None = None, high: float | None = None
) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name} must be a finite number; got {raw!r}")
    return _bounded(name, value, low, high)


def env_addresses(name: str, default_port: int) -> list[tuple[str, int]]:
    """Comma-separated `host[:port]` (`[2001:db8::1]:26379` for IPv6), strictly: an empty host
    or a port that is not 1-65535 fails the start."""
    addresses = []
    for item in env_list(name):
        host, port = item, str(default_port)
        if item.startswith("["):
            host, bracket, rest = item[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                host = ""
            elif rest:
                port = rest[1:]
        elif item.count(":") == 1:
            host, port = item.split(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(
                f"{name} must list host:port addresses (sentinel-1:26379, [2001:db8::1]:26379); "
                f"got {item!r}"
            )
        addresses.append((host, int(port)))
    return addresses
