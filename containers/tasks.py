"""Celery tasks on containers: thin, take ids; each runs one verb's work under its Action."""

import logging

from celery import shared_task
from django.core.cache import cache

from nodes.events.render import node_uri
from nodes.models import NodeState
from nodes.selectors import node_by_id
from nodes.transitions import actions

from . import daemon, runtime, selectors
from .models import Container
from .services import container_ended, container_observed
from .transitions import container_move, container_set, container_uri, now

log = logging.getLogger(__name__)
DEPLOY_TIMEOUT = runtime.PULL_TIMEOUT + 3 * runtime.CALL_TIMEOUT
CALL_TIMEOUT = 2 * runtime.CALL_TIMEOUT + runtime.STOP_GRACE
GONE = (NodeState.TERMINATING, NodeState.TERMINATED)


def _run(action_id: int, container: Container, timeout: float, work) -> None:
    run_action(
        action_id, timeout, work, object_uri=container_uri(container), object_uuid=container.uuid
    )


def run_action(action_id: int, timeout: float, work, *, object_uri: str, object_uuid) -> None:
    """Start the action, run `work(log)`, finish it; a RuntimeFailure fails it with its text.
    A redelivered task finds its action started already and leaves it (to the reaper)."""
    started = actions.action_start(
        action_id=action_id, timeout=timeout, object_uri=object_uri, object_uuid=object_uuid
    )
    if not started:
        return

    def line(text: str) -> None:
        actions.action_log(action_id=action_id, line=text)

    try:
        work(line)
    except Exception as exc:  # noqa: BLE001 (any failure ends the action, with its reason)
        failure = _failure(exc)
        line(str(failure))
        actions.action_finish(action_id=action_id, success=False, error=str(failure))
        return
    actions.action_finish(action_id=action_id, success=True)


def _failure(exc: Exception) -> runtime.RuntimeFailure:
    """The user's sentence: a RuntimeFailure's own, else the kind of error (logged whole)."""
    if isinstance(exc, runtime.RuntimeFailure):
        return exc
    log.error("container task failed", exc_info=exc)
    return runtime.RuntimeFailure(f"Internal error ({type(exc).__name__}): see the server log")


def _gone(action_id: int) -> None:
    actions.action_finish(action_id=action_id, success=False, error="the container is gone")


@shared_task(acks_late=True, ignore_result=True)
def deploy_container(
    container_id: int, action_id: int, old_node_id: int | None = None, old_docker_id: str = ""
) -> None:
    """Run (or redeploy: remove from the old node first) the container at its address."""
    container = selectors.container_by_id(container_id=container_id)
    if container is None:
        return _gone(action_id)

    def work(log):
        old_node = node_by_id(node_id=old_node_id) if old_node_id else None
        if old_node is not None and old_docker_id:
            if old_node.state in GONE:
                log(f"{old_node} is {old_node.state.lower()}: nothing to remove there")
            else:
                try:
                    runtime.container_remove(container, old_node, old_docker_id)
                except runtime.RuntimeFailure:
                    # Still there, maybe running at its address: it stays the one on record.
                    container_set(container=container, node=old_node, docker_id=old_docker_id)
                    container_move(container=container, name="start_failed")
                    raise
                log(f"Removed {container.name} from {old_node}")
        docker_id = _or_stopped(container, lambda: runtime.container_create(container, log))
        _running(container, docker_id)

    _run(action_id, container, DEPLOY_TIMEOUT, work)


@shared_task(acks_late=True, ignore_result=True)
def start_container(container_id: int, action_id: int) -> None:
    container = selectors.container_by_id(container_id=container_id)
    if container is None:
        return _gone(action_id)

    def work(log):
        docker_id = _or_stopped(container, lambda: runtime.container_start(container, log))
        _running(container, docker_id)

    _run(action_id, container, DEPLOY_TIMEOUT, work)


@shared_task(acks_late=True, ignore_result=True)
def stop_container(container_id: int, action_id: int) -> None:
    container = selectors.container_by_id(container_id=container_id)
    if container is None:
        return _gone(action_id)

    def work(log):
        try:
            code = runtime.container_stop(container)
        except runtime.RuntimeFailure:
            container_move(container=container, name="stop_failed")
            raise
        container_move(container=container, name="stopped", exit_code=code, stopped_datetime=now())
        log(f"Stopped {container.name} (exit code {code})")

    _run(action_id, container, CALL_TIMEOUT, work)


@shared_task(acks_late=True, ignore_result=True)
def terminate_container(container_id: int, action_id: int) -> None:
    container = selectors.container_by_id(container_id=container_id)
    if container is None:
        return _gone(action_id)

    def work(log):
        node = container.node
        if node.state in GONE:
            log(f"{node} is {node.state.lower()}: nothing to remove there")
        else:
            runtime.container_remove(container, node, container.docker_id)
            log(f"Removed {container.name} from {node}")
        container_ended(container=container)
        log(f"{container.name} is terminated; {container.private_ip} is free again")

    _run(action_id, container, CALL_TIMEOUT, work)


def _or_stopped(container: Container, call):
    """`call()`; should it fail, the container is Stopped with the reason, which is raised."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 (any failure leaves it Stopped, with its reason)
        failure = _failure(exc)
        container_set(container=container, error=str(failure)[:4000])
        container_move(container=container, name="start_failed")
        raise failure from None


def _running(container: Container, docker_id: str) -> None:
    """Running, with the daemon's id; unless a terminate came meanwhile: then the container
    just made is removed (its address may already be another's)."""
    moment = now()
    fields = {"docker_id": docker_id, "error": "", "started_datetime": moment}
    fields |= {"exit_code": None, "stopped_datetime": None}
    if container.deployed_datetime is None:
        fields["deployed_datetime"] = moment
    if not container_move(container=container, name="started", **fields):
        runtime.container_remove(container, container.node, docker_id)
        raise runtime.RuntimeFailure(f"{container.name} was terminated meanwhile: removed again")
    # It may have exited already, its daemon's `die` seen before its id was on record.
    try:
        code = runtime.container_exit_code(container, docker_id)
    except runtime.RuntimeFailure as exc:
        log.info("container %s: %s", container.uuid, exc)  # the events will tell
        return
    if code is not None:
        container_move(container=container, name="stopped", exit_code=code, stopped_datetime=now())


SEEN_KEY = "containers:daemon-events-seen"


@shared_task(acks_late=True, ignore_result=True)
def follow_daemon_events() -> None:
    """Beat: containers that exited or were restarted by their daemon, from the nodes' events
    stored since the last pass (the first pass starts from now)."""
    last = cache.get(SEEN_KEY)
    if last is None:
        cache.set(SEEN_KEY, selectors.last_event_id(), timeout=None)
        return
    events = selectors.daemon_events_after(last_id=last, label=runtime.LABEL)
    for event in events:
        container_observed(event=event)
    if events:
        cache.set(SEEN_KEY, events[-1].pk, timeout=None)


@shared_task(acks_late=True, ignore_result=True)
def node_container_run(node_id: int, action_id: int, verb: str, docker_id: str) -> None:
    """A verb on any container of a node's daemon (containers.daemon), under its Action."""
    node = node_by_id(node_id=node_id)
    if node is None or verb not in daemon.VERBS:
        actions.action_finish(action_id=action_id, success=False, error="the node is gone")
        return
    run_action(
        action_id,
        daemon.TIMEOUT,
        lambda log: daemon.daemon_call(node, verb, docker_id, log),
        object_uri=node_uri(node.organization.name, node.uuid),
        object_uuid=node.uuid,
    )
