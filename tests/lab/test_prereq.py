"""The lab CLI checks the machine before doing anything and names what to install."""

from pathlib import Path

import pytest

from lab import __main__ as lab_cli
from lab import prereq


def test_a_missing_tool_is_named_with_its_debian_package(monkeypatch, capsys):
    monkeypatch.setattr(prereq, "_which", lambda tool: None if tool == "iptables" else "/x")
    monkeypatch.setattr(prereq.os, "geteuid", lambda: 0)
    created = []
    monkeypatch.setattr(lab_cli.hosts, "create_host", lambda **kw: created.append(kw))

    assert lab_cli.main(["up", "1"]) == 1

    err = capsys.readouterr().err
    assert "apt-get install -y iptables" in err and "Traceback" not in err
    assert created == []  # checked before anything was made


def test_not_root_is_said_first(monkeypatch, capsys):
    monkeypatch.setattr(prereq.os, "geteuid", lambda: 1000)
    assert lab_cli.main(["ls"]) == 1
    assert "the lab needs root" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("tool", "package"),
    [("dockerd", "docker.io"), ("nsenter", "util-linux"), ("ip", "iproute2")],
)
def test_each_tool_names_its_package(monkeypatch, tool, package):
    monkeypatch.setattr(prereq, "_which", lambda name: None if name == tool else "/x")
    monkeypatch.setattr(prereq.os, "geteuid", lambda: 0)
    ok, reason = prereq.lab_available()
    assert not ok and f"apt-get install -y {package}" in reason


def test_sshd_is_checked_only_when_asked(monkeypatch):
    monkeypatch.setattr(prereq, "_which", lambda name: None if name == "sshd" else "/x")
    monkeypatch.setattr(prereq, "BUSYBOX", Path("/"))
    monkeypatch.setattr(prereq.os, "geteuid", lambda: 0)
    assert prereq.lab_available()[0]
    assert "openssh-server" in prereq.lab_available(sshd=True)[1]
