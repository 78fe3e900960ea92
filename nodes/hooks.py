"""What the apps above do when a node's life changes, without the node layer importing them.

`overlay` joins a node to its organization's swarm once it is Deployed and takes it out before
it ends; `containers` marks a node's containers ended with it. They register here when they
start (their `AppConfig.ready`).
"""

import functools
import logging
from collections.abc import Callable

from django.db import transaction

from .models import Node

logger = logging.getLogger(__name__)

Log = Callable[[str], None]

_deployed: list[Callable[[int], None]] = []
_ending: list[Callable[[Node, Log], None]] = []
_ended: list[Callable[[Node], None]] = []


def on_deployed(hook: Callable[[int], None]) -> None:
    """`hook(node_id)` after the commit that made a node Deployed (from Deploying or
    Unreachable). It should only queue work: it runs in the request or task that moved it."""
    _deployed.append(hook)


def on_ending(hook: Callable[[Node, Log], None]) -> None:
    """`hook(node, log)` while a node is Terminating, before its host is destroyed or its
    agent deregistered. A failure is logged and does not stop the termination."""
    _ending.append(hook)


def on_ended(hook: Callable[[Node], None]) -> None:
    """`hook(node)` in the transaction that made a node Terminated."""
    _ended.append(hook)


def node_deployed(node_id: int) -> None:
    for hook in _deployed:
        transaction.on_commit(functools.partial(hook, node_id))


def node_ending(node: Node, log: Log) -> None:
    for hook in _ending:
        try:
            hook(node, log)
        except Exception as exc:  # noqa: BLE001 (the termination goes on; the log says why)
            logger.warning("node %s: %s failed while ending: %s", node.uuid, hook.__module__, exc)
            log(f"{hook.__module__}: {exc}")


def node_ended(node: Node) -> None:
    for hook in _ended:
        hook(node)
