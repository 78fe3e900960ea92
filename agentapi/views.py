"""Agent-facing HTTP: the install script, the agent artifact, and registration."""

import json
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core import signing
from core.clientip import client_ip
from core.publicurl import public_base
from nodes import selectors as node_selectors
from nodes import services as node_services

from . import progress
from .artifact import agent_pyz

log = logging.getLogger(__name__)
SCRIPT = (settings.BASE_DIR / "agentapi" / "install.sh").read_text()


def _failing_script(message: str) -> HttpResponse:
    body = f"#!/bin/sh\necho 'dockercloud install: {message}' >&2\nexit 1\n"
    return HttpResponse(body, content_type="text/x-shellscript", status=200)


@require_GET
def install_script(request, token: str):
    """The POSIX sh installer with this token baked in; an unknown token gets a script that says so.

    A used or expired token still gets the installer: re-running it on a registered host must
    work (it skips registration), and on a new host registration refuses with a clear message.
    Answering 200 with a failing script (rather than 4xx) makes `curl -fsSL ... | sh` print our
    message instead of curl's bare "404".
    """
    if not node_selectors.registration_token_exists(token=token):
        return _failing_script("unknown registration token; create a new install command")
    progress.install_fetched(token=token)
    body = SCRIPT.replace("@@SERVER@@", public_base(request)).replace("@@TOKEN@@", token)
    return HttpResponse(body, content_type="text/x-shellscript")


@require_GET
def agent_artifact(request):
    path, sha256 = agent_pyz()
    # About 70 KB: one read, so ASGI serves it without a synchronous file iterator.
    response = HttpResponse(path.read_bytes(), content_type="application/zip")
    response["X-Checksum-Sha256"] = sha256
    return response


@csrf_exempt
@require_POST
def register(request):
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The body must be JSON."}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"error": "The body must be a JSON object."}, status=400)
    try:
        result = node_services.node_register(
            token=str(body.get("token") or ""),
            csr=str(body.get("csr") or ""),
            facts=body.get("facts") or {},
            remote_ip=client_ip(request),
        )
    except node_services.RegistrationRefused as exc:
        log.info("registration refused from %s: %s", client_ip(request), exc)
        token = str(body.get("token") or "")
        if exc.status != 401 and node_selectors.registration_token_exists(token=token):
            progress.install_refused(token=token, reason=str(exc))
        return JsonResponse({"error": str(exc)}, status=exc.status)
    node = result["node"]
    base = public_base(request)
    # http -> ws, https -> wss: the agent reaches the websocket where it reached us.
    ws_base = "ws" + base.removeprefix("http")
    return JsonResponse(
        {
            "node_uuid": str(node.uuid),
            "secret": result["secret"],
            "cert": result["cert"],
            "ca_cert": result["ca_cert"],
            # The agent runs only upgrades signed with this key's private half.
            "signing_key": signing.public_key_b64(),
            "ws_url": f"{ws_base}/ws/agent/",
            "heartbeat_interval": node.heartbeat_interval,
            "daemon": {
                "tcp": "tcp://0.0.0.0:2375",
                # The current file and the rotated ones kept (`maintenance` pushes the
                # organization's own count once the node is Deployed).
                "log_opts": {"max-size": "10m", "max-file": str(settings.DC_LOG_FILES_KEPT + 1)},
                "extra_args": [],
            },
            "upgrade_docker_command": settings.DC_UPGRADE_DOCKER_COMMAND,
        },
        status=201,
    )
