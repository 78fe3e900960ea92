"""The install script for real, in a private mount namespace.

/etc and /var are overlays whose writes land in a temp dir, /run is a fresh tmpfs and
/var/lib/docker a temp dir, so the script and the agent use their real paths without touching
the machine's. The host already has python3, openssl, curl and dockerd: nothing is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import textwrap
import zipfile

import pytest
from conftest import REPO_DIR, kill_pid, needs_dockerd, python38, wait_until
from test_e2e import free_port

from dockercloud_agent.dockerd import pid_alive, read_pidfile

INSTALL_SH = REPO_DIR / "agentapi" / "install.sh"


def in_ns(pid: int, path: str) -> str:
    """A path as seen from the mount namespace of ``pid``."""
    return "/proc/%d/root%s" % (pid, path)


def write_script(cp, t: str) -> str:
    script = os.path.join(t, "install.sh")
    with open(script, "w") as f:
        f.write(
            INSTALL_SH.read_text()
            .replace("@@SERVER@@", cp.http_url)
            .replace("@@TOKEN@@", "good-token")
        )
    return script


def script_env(t: str) -> dict:
    bindir = os.path.join(t, "bin")
    os.makedirs(bindir, exist_ok=True)
    py = python38()
    if py and not os.path.exists(os.path.join(bindir, "python3")):
        # the oldest supported python3 is the one the script finds
        os.symlink(py, os.path.join(bindir, "python3"))
    return {
        "PATH": bindir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
    }


def run_in_private_root(t: str, args: str, env: dict) -> subprocess.CompletedProcess:
    """``sh install.sh ARGS`` as root in a mount namespace of its own (see the module doc)."""
    setup = textwrap.dedent(
        """\
        set -e
        T=%s
        mkdir -p $T/etc-up $T/etc-work $T/var-up $T/var-work $T/docker
        mount -t tmpfs tmpfs /run
        mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/etc-up,workdir=$T/etc-work /etc
        mount -t overlay overlay -o lowerdir=/var,upperdir=$T/var-up,workdir=$T/var-work /var
        mkdir -p /var/lib/docker
        mount --bind $T/docker /var/lib/docker
        set +e
        sh $T/install.sh %s
        rc=$?
        cat /run/dockercloud/supervise.pid > $T/supervise.pid 2>/dev/null
        exit $rc
        """
        % (t, args)
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def needs_namespaces() -> None:
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("needs unshare and nsenter (util-linux)")


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@needs_dockerd
def test_install_script_registers_and_starts_the_agent(control_plane, pyz, short_tmp):
    needs_namespaces()
    cp = control_plane
    t = short_tmp
    cp.daemon = {
        "tcp": "tcp://127.0.0.1:%d" % free_port(),
        "log_opts": {"max-size": "10m", "max-file": "3"},
        "extra_args": [
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--shutdown-timeout=3",
        ],
    }
    with open(pyz, "rb") as f:
        cp.files["/install/agent.pyz"] = f.read()
    script = write_script(cp, t)
    env = script_env(t)
    bindir = os.path.join(t, "bin")
    py = python38()
    sha256 = sha256_of(pyz)
    sup = None
    try:
        first = run_in_private_root(t, "--sha256 " + sha256, env)
        sup = read_pidfile(os.path.join(t, "supervise.pid"))
        assert first.returncode == 0, first.stdout + first.stderr
        last = first.stdout.strip().splitlines()[-1]
        assert last == "node registered: %s; agent running" % cp.node_uuid
        assert "starting the agent supervisor (no systemd here)" in first.stdout
        assert "Docker Engine found" in first.stdout
        assert "agent verified (sha256 %s)" % sha256 in first.stdout
        assert sup and pid_alive(sup)
        hello = cp.wait_for(lambda m: m.get("type") == "hello", timeout=30, what="hello")
        assert hello["node_uuid"] == cp.node_uuid
        cp.wait_for(lambda m: m.get("dockerd_running") is True, timeout=30, what="dockerd up")
        dockerd_pid = read_pidfile(in_ns(sup, "/run/dockercloud/dockerd.pid"))
        assert pid_alive(dockerd_pid)
        assert os.stat(in_ns(sup, "/etc/dockercloud/agent.json")).st_mode & 0o777 == 0o600
        assert os.path.exists(in_ns(sup, "/var/lib/dockercloud/dockercloud-agent.pyz"))
        assert not os.path.exists("/run/dockercloud/supervise.pid") or (
            read_pidfile("/run/dockercloud/supervise.pid") != sup
        )  # the machine's /run is untouched
        if py:
            with open("/proc/%d/cmdline" % sup, "rb") as f:
                assert f.read().split(b"\0")[0] == os.path.join(bindir, "python3").encode()

        # run it again: keeps the registration, replaces the supervisor, adopts dockerd
        mark = cp.mark()
        again = subprocess.run(
            ["nsenter", "--mount", "--target", str(sup), "sh", script, "--sha256", sha256],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already registered" in again.stdout
        assert "stopping the previous agent supervisor (pid %d)" % sup in again.stdout
        assert again.stdout.strip().endswith("node registered: %s; agent running" % cp.node_uuid)
        assert len(cp.register_requests) == 1
        old_sup = sup
        assert not pid_alive(old_sup)
        sup = wait_until(
            lambda: read_pidfile(in_ns(dockerd_pid, "/run/dockercloud/supervise.pid")),
            10,
            "the new supervisor",
        )
        assert sup != old_sup and pid_alive(sup)
        cp.wait_for(lambda m: m.get("type") == "hello", timeout=30, after=mark, what="hello")
        assert read_pidfile(in_ns(sup, "/run/dockercloud/dockerd.pid")) == dockerd_pid

        # leave the machine as it was: deregister stops dockerd, the supervisor exits
        assert cp.command("deregister", timeout=60)["ok"]
        wait_until(
            lambda: not pid_alive(sup) and not pid_alive(dockerd_pid),
            60,
            "the supervisor and dockerd to exit",
        )
    finally:
        if sup and pid_alive(sup):
            agent_pid = read_pidfile(in_ns(sup, "/run/dockercloud/agent.pid"))
            dockerd_pid = read_pidfile(in_ns(sup, "/run/dockercloud/dockerd.pid"))
            containerd = read_pidfile(in_ns(sup, "/run/docker/containerd/containerd.pid"))
            kill_pid(sup)
            kill_pid(agent_pid)
            kill_pid(dockerd_pid, timeout=30)
            kill_pid(containerd)


@needs_dockerd
def test_install_script_refuses_an_agent_that_is_not_the_one_the_command_names(
    control_plane, pyz, short_tmp
):
    """Whatever sits between the host and the control plane serves its own agent.pyz: the
    script must not run it (not even to ask its version), nor register, nor install it."""
    needs_namespaces()
    cp, t = control_plane, short_tmp
    marker = os.path.join(t, "evil-ran")
    evil = os.path.join(t, "evil.pyz")
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("__main__.py", "open(%r, 'w').write('ran')\n" % marker)
    with open(evil, "rb") as f:
        cp.files["/install/agent.pyz"] = f.read()
    write_script(cp, t)
    genuine = sha256_of(pyz)
    out = run_in_private_root(t, "--sha256 " + genuine, script_env(t))
    assert out.returncode == 1, out.stdout + out.stderr
    assert (
        "has sha256 %s, but the install command expects %s: not running it"
        % (sha256_of(evil), genuine)
    ) in out.stderr
    assert not os.path.exists(marker)
    assert cp.register_requests == []
    installed = os.path.join(t, "var-up", "lib", "dockercloud")
    assert not [n for n in os.listdir(installed) if n.startswith("dockercloud-agent.pyz")]


@pytest.mark.parametrize(
    "args,message",
    [
        ("", "this install command does not say which agent to trust (no --sha256)"),
        ("--sha256", "--sha256 needs the agent's sha256"),
        ("--sha256 abc", "--sha256 must be 64 lowercase hex digits, got 'abc'"),
        ("--sha256 " + "A" * 64, "--sha256 must be 64 lowercase hex digits"),
        ("--token x", "unknown argument '--token'"),
    ],
)
def test_install_script_wants_the_agents_sha256(control_plane, short_tmp, args, message):
    """Checked first: nothing on the host changes and nothing is downloaded without it."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    needs_namespaces()
    write_script(control_plane, short_tmp)
    out = run_in_private_root(short_tmp, args, script_env(short_tmp))
    assert out.returncode == 1
    assert out.stdout == "" and message in out.stderr
