"""The install command is `curl ... | sh` on every host: run as another user, the script raises
itself to root through sudo, or says how to run it when the host has no sudo."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the script as another user"),
]
NOBODY = [
    shutil.which("setpriv") or "/usr/bin/setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--",
]


def _command(owner, live_server) -> tuple[str, str]:
    response = owner.client().post(
        "/api/infra/v1/acme/token/", HTTP_HOST=live_server.url.split("//", 1)[1]
    )
    assert response.status_code == 201, response.content
    command = response.json()["command"]
    url, args = command.split(" | sh -s -- ")
    assert "sudo" not in command
    return url.split()[-1].strip("'"), args


@pytest.fixture
def tools():
    """A PATH of its own, readable by nobody (pytest's tmp_path is root's alone), with only the
    tools the script needs before it is root: whatever this machine has, no sudo unless a test
    puts one there."""
    folder = Path(tempfile.mkdtemp(prefix="dc-install-"))
    folder.chmod(0o755)
    for name in ("sh", "id", "curl", "cat"):
        (folder / name).symlink_to(shutil.which(name))
    yield folder
    shutil.rmtree(folder)


def _run_as_nobody(script: str, args: str, tools: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*NOBODY, "sh", "-s", "--", *args.split()],
        input=script,
        env={"PATH": str(tools), "HOME": "/"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_user_with_sudo_gets_the_installer_run_again_through_it(owner, live_server, tools):
    url, args = _command(owner, live_server)
    script = requests.get(url, timeout=10).text
    # The machine's sudoers are not ours to change: a stand-in records what the script asked
    # sudo to run and what it piped into it (the boundary that cannot run here).
    seen = tools / "seen"
    seen.mkdir()
    seen.chmod(0o777)
    stand_in = tools / "sudo"
    stand_in.write_text(f'#!/bin/sh\necho "$@" > {seen}/args\ncat > {seen}/stdin\nexit 7\n')
    stand_in.chmod(0o755)

    proc = _run_as_nobody(script, args, tools)

    assert proc.returncode == 7, proc.stderr  # sudo's run is the install's outcome
    assert "not root: running the installer through sudo" in proc.stdout
    assert (seen / "args").read_text().split() == ["sh", "-s", "--", *args.split()]
    assert (seen / "stdin").read_text() == script  # fetched again, whole


def test_without_sudo_the_script_says_how_to_run_it_as_root(owner, live_server, tools):
    url, args = _command(owner, live_server)
    script = requests.get(url, timeout=10).text

    proc = _run_as_nobody(script, args, tools)

    assert proc.returncode == 1
    assert f"run it as root (this host has no sudo): su -c \"curl -fsSL '{url}' | sh -s" in (
        proc.stderr
    )
