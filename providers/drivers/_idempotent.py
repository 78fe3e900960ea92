"""Idempotent host creation for drivers whose provider has no idempotency key of its own."""

from __future__ import annotations

from collections.abc import Callable

from . import DriverError, HostInfo


def create_once(find: Callable[[], HostInfo | None], create: Callable[[], HostInfo]) -> HostInfo:
    """The host `find` returns (the one tagged with the node uuid), else `create` one.

    A create that reached the provider but whose answer was lost (a timeout, a 5xx after the
    host was stored, a name conflict with it) left a tagged host: a failed create looks once
    more and takes that host rather than fail, or make a second one on the task's retry.
    """
    existing = find()
    if existing is not None:
        return existing
    try:
        return create()
    except DriverError as error:
        try:
            again = find()
        except DriverError:
            raise error from None  # the create's failure says more than the lookup's
        if again is None:
            raise
        return again
