"""The install script for real, in a private mount namespace.

/etc and /var are overlays whose writes land in a temp dir, /run is a fresh tmpfs and
/var/lib/docker a temp dir, so the script and the agent use their real paths without touching
the machine's. The host already has python3, openssl, curl and dockerd: nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap

import pytest
from conftest import REPO_DIR, kill_pid, needs_dockerd, python38, wait_until
from test_e2e import free_port

from dockercloud_agent.dockerd import pid_alive, read_pidfile

INSTALL_SH = REPO_DIR / "agentapi" / "install.sh"


def in_ns(pid: int, path: str) -> str:
    """A path as seen from the mount namespace of ``pid``."""
    return "/proc/%d/root%s" % (pid, path)


@needs_dockerd
def test_install_script_registers_and_starts_the_agent(control_plane, pyz, short_tmp):
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("needs unshare and nsenter (util-linux)")
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
    script = os.path.join(t, "install.sh")
    with open(script, "w") as f:
        f.write(
            INSTALL_SH.read_text()
            .replace("@@SERVER@@", cp.http_url)
            .replace("@@TOKEN@@", "good-token")
        )
    bindir = os.path.join(t, "bin")
    os.makedirs(bindir)
    py = python38()
    if py:  # the oldest supported python3 is the one the script finds
        os.symlink(py, os.path.join(bindir, "python3"))
    env = {
        "PATH": bindir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
    }
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
        sh $T/install.sh
        rc=$?
        cat /run/dockercloud/supervise.pid > $T/supervise.pid 2>/dev/null
        exit $rc
        """
        % t
    )
    sup = None
    try:
        first = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        sup = read_pidfile(os.path.join(t, "supervise.pid"))
        assert first.returncode == 0, first.stdout + first.stderr
        last = first.stdout.strip().splitlines()[-1]
        assert last == "node registered: %s; agent running" % cp.node_uuid
        assert "starting the agent supervisor (no systemd here)" in first.stdout
        assert "Docker Engine found" in first.stdout
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
            ["nsenter", "--mount", "--target", str(sup), "sh", script],
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
