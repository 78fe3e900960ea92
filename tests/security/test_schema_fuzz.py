"""The OpenAPI schema against a running server, through Schemathesis with every check.

A real `manage.py serve` (the embedded default: SQLite, one process) gets thousands of
generated requests: valid ones, invalid ones, missing and wrong credentials, and sequences
that follow the API's links. No answer may be a server error, a status or content type the
schema does not document, or a body that does not match its schema; invalid input must be
refused and valid input accepted (`schemathesis.toml` at the repository's root lists the few
operations whose validity depends on the server's state, and why).

`DC_FUZZ_EXAMPLES` (default 10) and `DC_FUZZ_SEED` (default fixed, so CI is repeatable; set
`random` for a new one) tune the run.
"""

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SEED = "29112026"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        **kwargs,
    )


SETUP = """
from accounts import services
from accounts.audit import Actor
user = services.user_signup(username="fuzzer", email="f@example.com", password="{password}")
services.organization_create(actor=Actor(user=user), name="fuzzorg")
print(services.apikey_create(actor=Actor(user=user), user=user, label="fuzz")[1])
"""


@pytest.fixture
def server(tmp_path):
    """The embedded default on a free port, stopped by pid at the end."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))},
        "DC_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "dockercloud.settings",
    }
    _manage(env, "migrate", "--noinput")
    script = SETUP.format(password=base64.b64encode(os.urandom(18)).decode())
    key = _manage(env, "shell", "-c", script).stdout.strip().splitlines()[-1]
    port = _free_port()
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 (closed below, after the process)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the server did not start: {(tmp_path / 'serve.log').read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield url, f"fuzzer:{key}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_the_fuzzer_with_every_check_finds_nothing(server, tmp_path):
    url, credentials = server
    seed = os.environ.get("DC_FUZZ_SEED", SEED)
    auth = base64.b64encode(credentials.encode()).decode()
    argv = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{url}/api/schema/?format=json",
        "--url",
        url,
        "--checks",
        "all",
        "--max-examples",
        os.environ.get("DC_FUZZ_EXAMPLES", "10"),
        "--workers",
        "1",
        "--no-color",
        "-H",
        f"Authorization: Basic {auth}",
        *([] if seed == "random" else ["--seed", seed]),
    ]
    # Run from the repository, so Schemathesis reads its schemathesis.toml.
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    report = proc.stdout + proc.stderr
    (tmp_path / "schemathesis.txt").write_text(report)
    assert proc.returncode == 0, report[-12000:]
    assert "0 failures" in report or " passed" in report, report[-3000:]
