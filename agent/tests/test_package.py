"""Packaging: the zipapp, Python 3.8 compatibility, the CLI basics, the install script."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from conftest import AGENT_DIR, REPO_DIR, python38

import dockercloud_agent

INSTALL_SH = REPO_DIR / "agentapi" / "install.sh"


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


def test_zipapp_is_reproducible_and_self_contained(pyz, tmp_path):
    import build_zipapp

    again = str(tmp_path / "again.pyz")
    digest = build_zipapp.build(again)
    with open(pyz, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest  # same sources, same bytes
    with open(again, "rb") as f:
        assert f.readline() == b"#!/usr/bin/env python3\n"
    names = zipfile.ZipFile(again).namelist()
    assert "__main__.py" in names
    assert "dockercloud_agent/__main__.py" in names and "dockercloud_agent/channel.py" in names
    package = AGENT_DIR / "dockercloud_agent"
    modules = {f"dockercloud_agent/{p.name}" for p in package.glob("*.py")}
    assert "dockercloud_agent/eventbuffer.py" in modules and modules <= set(names)  # all ship
    assert "websocket/_core.py" in names and "websocket/LICENSE" in names
    assert not [n for n in names if "/tests/" in n or n.endswith(".pyc") or "__pycache__" in n]
    assert os.access(again, os.X_OK)
    # runs with a python that has no websocket-client installed: only the vendored copy
    out = run("/usr/bin/env", "-i", "PATH=/usr/bin:/bin", sys.executable, "-I", again, "version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == dockercloud_agent.__version__


def test_python38_compiles_and_runs_the_zipapp(pyz, tmp_path):
    py38 = python38()
    if not py38:
        pytest.skip("python3.8 not available")
    sources = sorted((AGENT_DIR / "dockercloud_agent").glob("*.py")) + [
        AGENT_DIR / "build_zipapp.py"
    ]
    code = (
        "import py_compile, sys\n"
        "for i, f in enumerate(sys.argv[1:]):\n"
        "    py_compile.compile(f, cfile=%r + '/%%d.pyc' %% i, doraise=True)\n" % str(tmp_path)
    )
    out = run(py38, "-c", code, *map(str, sources))
    assert out.returncode == 0, out.stderr
    out = run(py38, "-I", pyz, "version")  # imports every module, websocket included
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == dockercloud_agent.__version__
    out = run(py38, "-I", pyz, "status", "--root", str(tmp_path))
    assert out.returncode == 1 and "registered: no" in out.stdout


def test_cli_without_registration(pyz, tmp_path):
    root = str(tmp_path)
    out = run(sys.executable, pyz, "--root", root, "status")
    assert (out.returncode, out.stdout.strip()) == (1, "registered: no")
    out = run(sys.executable, pyz, "status", "--uuid", "--root", root)
    assert (out.returncode, out.stdout) == (1, "")
    out = run(sys.executable, pyz, "run", "--root", root)
    assert out.returncode == dockercloud_agent.EXIT_FINAL
    assert "not registered" in out.stderr
    out = run(
        sys.executable, pyz, "register", "--root", root, "--server", "ftp://x", "--token", "t"
    )
    assert out.returncode == 1 and "http:// or https://" in out.stderr
    out = run(
        sys.executable,
        pyz,
        "register",
        "--root",
        root,
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "t",
    )
    assert out.returncode == 1 and "cannot reach" in out.stderr
    assert not os.path.exists(os.path.join(root, "etc/dockercloud/agent.json"))
    assert not os.path.exists(os.path.join(root, "etc/dockercloud/tls/key.pem"))


def test_install_script_is_posix_sh():
    text = INSTALL_SH.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "SERVER='@@SERVER@@'" in text and "TOKEN='@@TOKEN@@'" in text
    assert "set -eu" in text
    for shell in ("sh", "dash"):
        if shutil.which(shell):
            out = run(shell, "-n", str(INSTALL_SH))
            assert out.returncode == 0, out.stderr
    if shutil.which("shellcheck"):
        out = run("shellcheck", "-s", "sh", str(INSTALL_SH))
        assert out.returncode == 0, out.stdout
    # systemctl only behind the systemd check
    body = text.split("release_docker_service() {", 1)[1]
    assert "[ -d /run/systemd/system ]" in body.split("systemctl", 1)[0]


def test_install_script_without_sudo_says_how_to_run_it_as_root():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the script as another user")
    script = (
        INSTALL_SH.read_text()
        .replace("@@SERVER@@", "http://127.0.0.1:9")
        .replace("@@TOKEN@@", "tok")
    )
    sha = "ab" * 32
    # A PATH with no sudo on it, readable by the user the script runs as (pytest's tmp_path
    # is root's alone).
    tools = Path(tempfile.mkdtemp(prefix="dc-install-"))
    tools.chmod(0o755)
    for name in ("sh", "id"):
        (tools / name).symlink_to(shutil.which(name))
    # piped like `curl ... | sh -s -- --sha256 HEX`
    try:
        out = subprocess.run(
            [shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"]
            + ["sh", "-s", "--", "--sha256", sha],
            input=script,
            capture_output=True,
            text=True,
            timeout=30,
            cwd="/",
            env={"PATH": str(tools)},
        )
    finally:
        shutil.rmtree(tools)
    assert out.returncode == 1
    assert (
        "run it as root (this host has no sudo): su -c "
        "\"curl -fsSL 'http://127.0.0.1:9/install/tok' | sh -s -- --sha256 " + sha
    ) in out.stderr
