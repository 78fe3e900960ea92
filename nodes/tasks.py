"""Celery tasks on nodes: thin, idempotent, take ids."""

import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from accounts.audit import SYSTEM
from providers.drivers import DriverError

from . import clusters, reaper, selectors, services
from . import docker_client as docker_client_module
from .agent_bundle import agent_bundle
from .agent_rpc import AgentUnavailable, agent_command, signed_upgrade_args
from .docker_client import daemon_ping, direct_client, docker_client, tunnel_client
from .lifecycle import node_destroy
from .models import Connection, NodeState
from .transitions import actions, liveness
from .transitions.nodes import node_agent_upgraded, node_upgrade_done

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 4
AGENT_UPGRADE_TIMEOUT = 60
# The longest a health check takes: a direct ping and a tunnelled one, each capped twice.
HEALTH_CHECK_TIMEOUT = 4 * PROBE_TIMEOUT
# A provider's destroy call (its client's own timeouts and retries), or the agent's deregister.
TERMINATE_TIMEOUT = 300


# A probe lasts at most two capped pings (2 x 2 x PROBE_TIMEOUT) and a tunnel's opening: a lock
# older than this belongs to a worker that died.
PROBE_RUNNING_TTL = 60


# What a failed probe says to the user: fixed phrases, never the exception's text (it may hold
# addresses of the control plane's own, file paths or a header).
PROBE_FAILURES = (
    ("timed out", "no answer within {timeout} s"),
    ("timeout", "no answer within {timeout} s"),
    ("connection refused", "connection refused"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("certificate", "its TLS certificate is not the one this node registered"),
    ("ssl", "the TLS handshake failed"),
)


def _probe_error(make_client, node) -> str | None:
    """None if the daemon answered its ping this way, else why not (for the user)."""
    try:
        client = make_client(node, timeout=PROBE_TIMEOUT)
        try:
            return None if daemon_ping(client) else "its answer to /_ping was not Docker's"
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 (any failure means "not this way")
        log.info("node %s: %s probe failed: %s", node.uuid, make_client.__name__, exc)
        text = str(exc).lower()
        for needle, said in PROBE_FAILURES:
            if needle in text:
                return said.format(timeout=PROBE_TIMEOUT)
        return type(exc).__name__


def _answers(make_client, node) -> bool:
    return _probe_error(make_client, node) is None


def probe_reason(node, error: str) -> str:
    """Why a node whose daemon did not answer is Unreachable."""
    if node.connection == Connection.TUNNEL:
        return f"the daemon behind the agent's tunnel did not answer: {error}"
    address = f"{node.public_ip or 'an unknown address'}:{docker_client_module.DOCKER_PORT}"
    return f"the daemon at {address} did not answer: {error}"


@shared_task(acks_late=True, ignore_result=True)
def probe_node(node_id: int) -> None:
    """Reach the daemon over mutual TLS on node:2375, else through the tunnel; mark Deployed.

    One at a time per node, in every worker: queued through `services.node_probe_request`,
    whose gate this closes for DC_PROBE_INTERVAL seconds once done.
    """
    node = selectors.node_by_id(node_id=node_id)
    if node is None or node.state in (NodeState.TERMINATING, NodeState.TERMINATED):
        return
    running = f"{services.probe_gate(node.uuid)}:running"
    if not cache.add(running, "1", timeout=PROBE_RUNNING_TTL):
        return  # a duplicate (a gate that expired while the queue was long)
    try:
        _probe(node)
    finally:
        cache.set(services.probe_gate(node.uuid), "done", timeout=settings.DC_PROBE_INTERVAL)
        cache.delete(running)


def _probe(node) -> None:
    if node.public_ip and _answers(direct_client, node):
        mode = Connection.DIRECT
    elif _answers(tunnel_client, node):
        mode = Connection.TUNNEL
    else:
        log.info("node %s: daemon not reachable yet", node.uuid)
        return
    if liveness.node_set_reached(node_id=node.pk, connection=mode):
        log.info("node %s deployed (%s)", node.uuid, mode)
        if node.node_cluster_id:
            reconcile_cluster.delay(node.node_cluster_id)


@shared_task(acks_late=True, ignore_result=True)
def sweep_unreachable() -> None:
    flipped = liveness.nodes_sweep_unreachable()
    if flipped:
        log.info("nodes unreachable (missed heartbeats): %s", flipped)


def _action_run(action_id: int, timeout: float, work) -> None:
    """Start the action, run `work(log)`, and finish it; a raised error fails it with its text.

    `timeout` bounds the work: should this worker die, the reaper fails the action and returns
    its node once that and DC_ACTION_GRACE have passed. A redelivered task finds its action
    started already and leaves it to the reaper (running it twice could upgrade twice).
    """
    if not actions.action_start(action_id=action_id, timeout=timeout):
        return  # canceled, or started by a worker that is running it or died (the reaper's)

    def log(line: str) -> None:
        actions.action_log(action_id=action_id, line=line)

    try:
        work(log)
    except TaskFailure as exc:
        log(str(exc))
        actions.action_finish(action_id=action_id, success=False, error=str(exc))
        return
    actions.action_finish(action_id=action_id, success=True)


class TaskFailure(Exception):
    """A clear, user-facing reason an action failed."""


def _reported(result: dict, key: str, kind):
    """A value of an agent's result data, if of the expected kind (an agent may send any)."""
    value = (result.get("data") or {}).get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


@shared_task(acks_late=True, ignore_result=True)
def upgrade_docker(node_id: int, action_id: int) -> None:
    node = selectors.node_by_id(node_id=node_id)
    if node is None:
        actions.action_finish(action_id=action_id, success=False, error="the node is gone")
        return
    timeout = settings.DC_DOCKER_UPGRADE_TIMEOUT

    def work(log):
        log(f"Upgrading Docker on {node} (now {node.docker_version or 'unknown'})")
        try:
            result = agent_command(node.uuid, "upgrade_docker", timeout=timeout)
        except AgentUnavailable as exc:
            node_upgrade_done(node_id=node.pk, docker_version=None)
            raise TaskFailure(f"The node's agent is not answering: {exc}") from None
        for line in (result.get("output") or "").splitlines():
            log(line)
        version = _reported(result, "docker_version", str)
        node_upgrade_done(node_id=node.pk, docker_version=version)
        if not result.get("ok"):
            raise TaskFailure(f"Docker upgrade failed: {result.get('error') or 'no reason given'}")
        log(f"Docker {version} is running")

    _action_run(action_id, timeout, work)


def _agent_started(node) -> float | None:
    """When the node's running agent image started (its `ping`), None if it does not say."""
    result = agent_command(node.uuid, "ping", timeout=PROBE_TIMEOUT)
    return _reported(result, "started", int | float) if result.get("ok") else None


@shared_task(acks_late=True, ignore_result=True)
def upgrade_agent(node_id: int, action_id: int) -> None:
    """Install the control plane's agent on the node; done once the new image answers."""
    bundle = agent_bundle()
    node = selectors.node_by_id(node_id=node_id)
    if node is None:
        actions.action_finish(action_id=action_id, success=False, error="the node is gone")
        return

    def work(log):
        sha256 = bundle.digest()
        log(f"Installing agent {sha256[:12]} on {node} (now {node.agent_version or 'unknown'})")
        args = signed_upgrade_args(
            node_uuid=node.uuid, url="/install/agent.pyz", sha256=sha256, version=bundle.version()
        )
        try:
            before = _agent_started(node)
            result = agent_command(node.uuid, "upgrade_agent", args, timeout=AGENT_UPGRADE_TIMEOUT)
        except AgentUnavailable as exc:
            raise TaskFailure(f"The node's agent is not answering: {exc}") from None
        for line in (result.get("output") or "").splitlines():
            log(line)
        if not result.get("ok"):
            raise TaskFailure(f"Agent upgrade failed: {result.get('error') or 'no reason given'}")
        version = _reported(result, "agent_version", str) or "unknown"
        deadline = time.monotonic() + AGENT_UPGRADE_TIMEOUT
        while True:  # the agent re-executes itself and reconnects
            try:
                started = _agent_started(node)
            except AgentUnavailable:
                started = None
            if started is not None and (before is None or started > before):
                break
            if time.monotonic() > deadline:
                raise TaskFailure(
                    f"The agent did not come back within {AGENT_UPGRADE_TIMEOUT} s of the upgrade"
                )
            time.sleep(0.5)
        node_agent_upgraded(node_id=node.pk, agent_version=version)
        log(f"Agent {version} is running")

    # A ping, the upgrade, and the wait for the new agent: each bounded.
    _action_run(action_id, PROBE_TIMEOUT + 2 * AGENT_UPGRADE_TIMEOUT, work)


@shared_task(acks_late=True, ignore_result=True)
def health_check(node_id: int, action_id: int) -> None:
    node = selectors.node_by_id(node_id=node_id)
    if node is None:
        actions.action_finish(action_id=action_id, success=False, error="the node is gone")
        return

    def work(log):
        error = _probe_error(docker_client, node)
        if error is None:
            liveness.node_set_reached(node_id=node.pk, connection=node.connection or "direct")
            log(f"The Docker daemon of {node} answered ({node.connection or 'direct'})")
            return
        reason = probe_reason(node, error)
        liveness.node_set_unreachable(node_id=node.pk, reason=reason)
        raise TaskFailure(f"{reason}: the node is Unreachable")

    _action_run(action_id, HEALTH_CHECK_TIMEOUT, work)


@shared_task(acks_late=True, ignore_result=True)
def terminate_node(node_id: int, action_id: int) -> None:
    node = selectors.node_by_id(node_id=node_id)
    if node is None:
        actions.action_finish(action_id=action_id, success=True)
        return

    def work(log):
        try:
            node_destroy(node=node, actor=SYSTEM, log=log)
        except DriverError as exc:
            raise TaskFailure(f"The provider did not destroy the host: {exc.message}") from None
        log(f"{node} is terminated")

    _action_run(action_id, TERMINATE_TIMEOUT, work)


@shared_task(acks_late=True, ignore_result=True)
def reconcile_cluster(cluster_id: int) -> None:
    """One reconciler pass for one cluster; a mutex keeps two workers off the same cluster."""
    lock = f"reconcile-cluster:{cluster_id}"
    # The lock outlives a crashed worker by at most this long; a pass takes seconds.
    if not cache.add(lock, "1", timeout=settings.DC_RECONCILE_LOCK_SECONDS):
        return  # another worker is on it; beat comes back soon
    try:
        cluster = selectors.cluster_by_id(cluster_id=cluster_id)
        if cluster is None:
            return
        try:
            clusters.reconcile(cluster)
        except DriverError as exc:
            clusters.cluster_log(cluster, f"provider error: {exc.message}")
            if exc.permanent:
                clusters.cluster_fail_stuck(cluster, exc.message)
    finally:
        cache.delete(lock)


@shared_task(acks_late=True, ignore_result=True)
def reconcile_all() -> None:
    """Beat: every cluster still moving gets a pass (stuck ones: `reap_actions`)."""
    for cluster_id in selectors.active_cluster_ids():
        reconcile_cluster.delay(cluster_id)


@shared_task(acks_late=True, ignore_result=True)
def reap_actions() -> None:
    """Beat: fail the actions no worker finished by their deadline; return their objects."""
    reaped = reaper.actions_reap()
    if reaped:
        log.warning("actions past their deadline failed: %s", reaped)


@shared_task(acks_late=True, ignore_result=True)
def prune_events() -> None:
    """Beat (hourly): drop events older than DC_EVENT_RETENTION_DAYS, in batches."""
    from .events.services import events_prune

    deleted = events_prune()
    if deleted:
        log.info("pruned %d events older than %d days", deleted, settings.DC_EVENT_RETENTION_DAYS)
