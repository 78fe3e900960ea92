"""`make run HOST=0.0.0.0`: served to the network, the embedded default turns DEBUG off and
answers only its own host names (DNS rebinding, Host header poisoning of the install command),
or refuses to start and says which setting to set."""

import pytest
import requests

from tests.e2e.conftest import wait_for
from tests.webproc import embedded_env, make_run, serve

pytestmark = [pytest.mark.slow]
ALL = "0.0.0.0"  # noqa: S104 (the exposure under test)


def _exits(server, timeout: float = 45) -> str:
    """The output of a server that must refuse to start (and exit) within `timeout`."""
    server.start(healthy=False)
    try:
        wait_for(
            lambda: server.process.poll() is not None,
            timeout=timeout,
            message="the server to refuse to start",
            seen=lambda: server.output()[-500:],
        )
    finally:
        server.stop()
    assert server.process.returncode != 0
    return server.output()


def test_make_run_on_every_interface_answers_only_its_names_without_debug(tmp_path):
    env = embedded_env(tmp_path, DC_PUBLIC_URL="http://cp.example:8000")
    server = make_run(env, tmp_path / "server.log", host=ALL).start()
    try:
        forged = requests.get(f"{server.url}/login/", headers={"Host": "evil.example"}, timeout=5)
        missing = requests.get(f"{server.url}/no-such-page/", timeout=5)
        named = requests.get(f"{server.url}/login/", headers={"Host": "cp.example:8000"}, timeout=5)
        static = requests.get(f"{server.url}/static/js/live.js", timeout=5)
    finally:
        server.stop()
    assert forged.status_code == 400  # not a name of ours
    assert missing.status_code == 404
    assert "DEBUG = True" not in missing.text and "URLconf" not in missing.text
    assert named.status_code == 200
    assert static.status_code == 200 and "WebSocket" in static.text  # whitenoise still serves


def test_make_run_on_every_interface_without_its_address_refuses_saying_what_to_set(tmp_path):
    output = _exits(make_run(embedded_env(tmp_path), tmp_path / "server.log", host=ALL))
    assert "DC_PUBLIC_URL" in output and "DC_ALLOWED_HOSTS" in output


def test_serve_on_every_interface_with_loopback_settings_refuses(tmp_path):
    """`manage.py serve --host 0.0.0.0` without DC_BIND_HOST: the settings were made for a
    loopback bind (DEBUG on, every Host name), so it does not serve them to the network."""
    output = _exits(serve(embedded_env(tmp_path), tmp_path / "server.log", "--host", ALL))
    assert "DC_BIND_HOST=0.0.0.0" in output and "DC_PUBLIC_URL" in output


def test_debug_on_a_public_bind_refuses_to_start(tmp_path):
    env = embedded_env(
        tmp_path, DC_BIND_HOST=ALL, DC_PUBLIC_URL="http://cp.example:8000", DC_DEBUG="1"
    )
    output = _exits(serve(env, tmp_path / "server.log"))
    assert "DC_DEBUG" in output
