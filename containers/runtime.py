"""What a container is on its node: the docker SDK calls that create, start, stop, remove it
and read its logs, through `nodes.docker_client` (mutual TLS, or the agent's tunnel).

Each call raises `RuntimeFailure` with a sentence the user reads in the Action's log.
"""

import shlex

import docker
import requests
from docker.errors import DockerException, ImageNotFound, NotFound

from nodes.docker_client import docker_client
from nodes.models import Node
from overlay.services import OverlayUnavailable, network_attach

from .models import Container

# The label that ties a docker container to its control plane record.
LABEL = "cloud.docker.container.uuid"
CALL_TIMEOUT = 30
PULL_TIMEOUT = 300
STOP_GRACE = 10


# What a call to a node's daemon raises when it fails: the daemon's refusal, or the way there.
FAILURES = (DockerException, requests.RequestException)


class RuntimeFailure(Exception):
    """A clear, user-facing reason a container operation failed on its node."""


def client_for(node: Node, timeout: float = CALL_TIMEOUT) -> docker.DockerClient:
    try:
        return docker_client(node, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 (no certificate, no tunnel: the node is not reachable)
        raise RuntimeFailure(f"The Docker daemon of {node} cannot be reached: {exc}") from None


def reason(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "the daemon's certificate is not the one issued to the node"
    if isinstance(exc, requests.Timeout):
        return "the daemon did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "the daemon did not answer (the node is not reachable)"
    return getattr(exc, "explanation", None) or str(exc) or type(exc).__name__


def command_args(run_command: str) -> list[str] | None:
    """The command as docker takes it; None: the image's own."""
    return shlex.split(run_command) or None if run_command else None


def _ensure_image(client: docker.DockerClient, image: str, log) -> None:
    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    log(f"The image {image} is not on the node: pulling it")
    try:
        client.images.pull(image)
    except FAILURES as exc:
        raise RuntimeFailure(
            f"The image {image} is not on the node and could not be pulled: {reason(exc)}"
        ) from None


def _remove_labelled(client: docker.DockerClient, container: Container) -> None:
    """A container left by an earlier run of this one (a retried or redelivered task)."""
    found = client.api.containers(all=True, filters={"label": f"{LABEL}={container.uuid}"})
    for item in found:
        client.api.remove_container(item["Id"], force=True)


def container_create(container: Container, log) -> str:
    """Create and start the container on its node, on the overlay at its address; its id."""
    node = container.node
    try:
        network = network_attach(node=node)
    except OverlayUnavailable as exc:
        raise RuntimeFailure(f"The overlay network is not ready on {node}: {exc}") from None
    client = client_for(node, PULL_TIMEOUT)
    try:
        _ensure_image(client, container.image, log)
        _remove_labelled(client, container)
        api = client.api
        created = api.create_container(
            container.image,
            command=command_args(container.run_command),
            name=container.name,
            labels={LABEL: str(container.uuid)},
            detach=True,
            host_config=api.create_host_config(network_mode=network),
            networking_config=api.create_networking_config(
                {network: api.create_endpoint_config(ipv4_address=container.private_ip)}
            ),
        )
        api.start(created["Id"])
        log(f"Started {container.name} on {node} at {container.private_ip} ({network})")
        return created["Id"]
    except FAILURES as exc:
        raise RuntimeFailure(
            f"Docker on {node} refused to run {container}: {reason(exc)}"
        ) from None
    finally:
        client.close()


def container_start(container: Container, log) -> str:
    """Start the container's stopped docker container, or create it anew if it is gone."""
    if container.docker_id:
        try:
            network_attach(node=container.node)
        except OverlayUnavailable as exc:
            raise RuntimeFailure(f"The overlay network is not ready: {exc}") from None
        client = client_for(container.node)
        try:
            client.api.start(container.docker_id)
            log(f"Started {container.name} on {container.node}")
            return container.docker_id
        except NotFound:
            log(f"{container.name} is no longer on {container.node}: running it again")
        except FAILURES as exc:
            raise RuntimeFailure(f"Docker refused to start {container}: {reason(exc)}") from None
        finally:
            client.close()
    return container_create(container, log)


def container_stop(container: Container) -> int | None:
    """Stop it; its exit code (None when the daemon does not say)."""
    client = client_for(container.node, CALL_TIMEOUT + STOP_GRACE)
    try:
        client.api.stop(container.docker_id, timeout=STOP_GRACE)
        code = client.api.inspect_container(container.docker_id)["State"].get("ExitCode")
        return code if isinstance(code, int) else None
    except NotFound:
        return None
    except FAILURES as exc:
        raise RuntimeFailure(f"Docker refused to stop {container}: {reason(exc)}") from None
    finally:
        client.close()


def container_exit_code(container: Container, docker_id: str) -> int | None:
    """Its exit code if it is not running (it exited already), else None."""
    client = client_for(container.node)
    try:
        state = client.api.inspect_container(docker_id).get("State") or {}
    except FAILURES as exc:
        raise RuntimeFailure(f"Docker could not say how {container} is: {reason(exc)}") from None
    finally:
        client.close()
    code = state.get("ExitCode")
    return None if state.get("Running") or not isinstance(code, int) else code


def container_remove(container: Container, node: Node, docker_id: str) -> None:
    """Remove it from `node` (where it ran): gone already is done."""
    if not docker_id:
        return
    client = client_for(node)
    try:
        client.api.remove_container(docker_id, force=True)
    except NotFound:
        pass
    except FAILURES as exc:
        raise RuntimeFailure(
            f"Docker on {node} refused to remove {container}: {reason(exc)}"
        ) from None
    finally:
        client.close()
