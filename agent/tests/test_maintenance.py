"""Node maintenance in the agent: authorized_keys block, clock, log cap, unused images."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest

from dockercloud_agent import sshkeys
from dockercloud_agent.clock import Clock, ClockError
from dockercloud_agent.config import Config
from dockercloud_agent.images import ImageTracker, kept
from dockercloud_agent.logcap import daemon_log_opts, parse_size, rotate

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


# --- authorized_keys ------------------------------------------------------------------------
def test_managed_block_leaves_other_lines_untouched(tmp_path):
    path = tmp_path / "authorized_keys"
    mine = 'ssh-rsa AAAAB3NzaC1yc2E owner@laptop\n# a comment\ncommand="x" ssh-ed25519 AAAA y'
    path.write_text(mine)  # no final newline
    template = str(tmp_path / "{user}-keys")
    os.rename(path, tmp_path / "root-keys")
    path = tmp_path / "root-keys"

    sshkeys.set_authorized_keys({"user": "root", "keys": [ED + " alice", ED + " alice"]}, template)
    text = path.read_text()
    assert text.startswith(mine + "\n" + sshkeys.BEGIN + "\n")
    assert text.count(ED) == 1 and text.endswith(sshkeys.END + "\n")
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    # Lines added after the block by hand stay where they are when the block changes.
    path.write_text(text + "ssh-ed25519 BBBB later\n")
    sshkeys.set_authorized_keys({"user": "root", "keys": [ED + " bob"]}, template)
    text = path.read_text()
    assert "alice" not in text and ED + " bob\n" in text
    assert text.startswith(mine + "\n")
    assert text.endswith(sshkeys.END + "\nssh-ed25519 BBBB later\n")

    result = sshkeys.set_authorized_keys({"user": "root", "keys": []}, template)
    assert path.read_text() == mine + "\nssh-ed25519 BBBB later\n"
    assert result["changed"] is True and result["keys"] == 0


def test_keys_that_could_break_out_of_the_block_are_refused(tmp_path):
    template = str(tmp_path / "keys")
    for keys in ([ED + "\nssh-rsa AAAA evil"], ["not-a-key AAAA"], "x", [ED] * 1001):
        with pytest.raises(sshkeys.KeysError):
            sshkeys.set_authorized_keys({"user": "root", "keys": keys}, template)
    for user in ("-oProxyCommand", "a/b", "", "x" * 33):
        with pytest.raises(sshkeys.KeysError):
            sshkeys.set_authorized_keys({"user": user, "keys": []}, template)
    assert not os.path.exists(template)


def test_default_path_is_the_users_home():
    home = pwd.getpwnam("root").pw_dir
    assert sshkeys.keys_path("root")[0] == os.path.join(home, ".ssh", "authorized_keys")
    with pytest.raises(sshkeys.KeysError):
        sshkeys.keys_path("no-such-user-here")


# --- clock ----------------------------------------------------------------------------------
class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_heartbeat_echoes_the_probe_once_with_the_offset_clock():
    wall = Wall(1000.0)
    clock = Clock(Config({"clock_offset": 5.0}), lambda: None, wall)
    assert clock.heartbeat_fields() == {"time": 1005.0}
    clock.on_probe({"type": "clock", "server_time": 999.0})
    wall.now = 1010.0
    assert clock.heartbeat_fields() == {
        "time": 1015.0,
        "clock": {"server_time": 999.0, "received": 1005.0},
    }
    assert "clock" not in clock.heartbeat_fields()
    clock.on_probe({"server_time": "soon"})
    assert "clock" not in clock.heartbeat_fields()


def test_recorded_sync_writes_the_command_and_clears_the_offset(tmp_path):
    record = tmp_path / "sync.log"
    config = Config({"clock_offset": 30, "clock_sync_record": str(record)})
    saved = []
    clock = Clock(config, lambda: saved.append(dict(config.data)), Wall(100.0))
    data = clock.sync({"command": "chronyc -a makestep"})
    assert data == {"command": "chronyc -a makestep", "recorded": True, "offset_cleared": 30.0}
    assert record.read_text() == "chronyc -a makestep\n"
    assert clock.now() == 100.0 and saved[-1]["clock_offset"] == 0.0
    with pytest.raises(ClockError):
        clock.sync({"command": "x" * 1001})


def test_sync_runs_the_command_and_reports_failure():
    clock = Clock(Config({}), lambda: None)
    assert clock.sync({"command": "echo synced"})["output"] == "synced\n"
    with pytest.raises(ClockError, match="status 3"):
        clock.sync({"command": "exit 3"})


# --- container logs -------------------------------------------------------------------------
def _json_log(path, lines: int) -> None:
    with open(path, "w") as f:
        for i in range(lines):
            f.write(json.dumps({"log": "line %06d %s\n" % (i, "x" * 80), "stream": "stdout"}))
            f.write("\n")


def test_rotation_keeps_the_cap_and_the_kept_files_on_a_json_log_open_for_appending(tmp_path):
    path = str(tmp_path / "c-json.log")
    _json_log(path, 30000)  # ~3.5 MB
    cap = 1024 * 1024
    with open(path, "a") as writer:  # as the daemon holds it
        assert rotate(path, cap, keep=1) is True
        assert os.path.getsize(path) == 0
        kept_copy = Path(path + ".1").read_text().splitlines()
        assert os.path.getsize(path + ".1") <= cap
        assert json.loads(kept_copy[-1])["log"].startswith("line 029999")
        assert all(json.loads(line) for line in kept_copy)  # whole lines only
        writer.write('{"log":"after\\n"}\n')
        writer.flush()
        assert Path(path).read_text() == '{"log":"after\\n"}\n'  # appends land at the start

    assert rotate(path, cap, keep=1) is False  # under the cap: left alone
    _json_log(path, 30000)
    Path(path + ".2").write_text("older copy the daemon left")
    assert rotate(path, cap, keep=1) is True
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1"]
    _json_log(path, 30000)
    assert rotate(path, cap, keep=0) is True  # nothing kept: the copy goes too
    assert os.listdir(tmp_path) == ["c-json.log"] and os.path.getsize(path) == 0


def test_sizes_and_daemon_options():
    assert parse_size("10m") == 10 * 1024 * 1024 and parse_size("512k") == 512 * 1024
    assert parse_size("") is None and parse_size("lots") is None
    assert daemon_log_opts(10 * 1024 * 1024, 1) == {"max-size": "10240k", "max-file": "2"}


# --- images ---------------------------------------------------------------------------------
class FakeDaemon:
    """The three calls the tracker makes, over a list of images and containers."""

    def __init__(self) -> None:
        self.images = [
            {"Id": "sha256:aaa", "RepoTags": ["app:1"], "Size": 100},
            {"Id": "sha256:bbb", "RepoTags": ["redis:7", "cache:latest"], "Size": 200},
            {"Id": "sha256:ccc", "RepoTags": ["<none>:<none>"], "Size": 300},
            {"Id": "sha256:ddd", "RepoTags": ["db:1"], "Size": 400},
        ]
        self.containers_ = [{"Id": "c1", "ImageID": "sha256:ddd", "State": "exited"}]
        self.deleted = []

    def call(self, method, path, timeout=None):
        if method == "GET":
            return self.images
        self.deleted.append(path)
        name = path.split("/images/", 1)[1]
        for image in self.images:
            tags = [t for t in image["RepoTags"] if t != name.replace("%2F", "/")]
            if image["Id"] == name or tags != image["RepoTags"]:
                image["RepoTags"] = tags
                if not tags or image["Id"] == name:
                    self.images.remove(image)
                return []
        raise AssertionError(path)

    def containers(self, all=True, timeout=None):
        return self.containers_


def test_unused_images_are_removed_after_the_window_and_survive_a_restart(tmp_path):
    daemon, now = FakeDaemon(), Wall(10000.0)
    state = str(tmp_path / "images.json")
    tracker = ImageTracker(daemon, state, now)
    args = {"unused_seconds": 1800, "keep": []}
    assert tracker.cleanup(dict(args, dry_run=True))["candidates"] == []  # first seen: now
    now.now += 1000
    tracker.on_event(
        {"type": "container", "action": "destroy", "actor": {"attributes": {"image": "app:1"}}}
    )
    tracker.refresh()
    now.now += 1000  # 2000 s since first seen, 1000 s since app:1 was used
    tracker = ImageTracker(daemon, state, now)  # the agent restarted: the record is on disk
    report = tracker.cleanup(dict(args, dry_run=True, keep=["redis"]))
    assert [c["id"] for c in report["candidates"]] == ["sha256:ccc"]
    assert daemon.deleted == []

    report = tracker.cleanup(args)
    assert [(c["id"], c["size"]) for c in report["removed"]] == [
        ("sha256:bbb", 200),
        ("sha256:ccc", 300),
    ]
    assert daemon.deleted == ["/images/cache:latest", "/images/redis:7", "/images/sha256:ccc"]
    now.now += 1000
    report = tracker.cleanup(args)
    # app:1 went unused for 2000 s; db:1 is a stopped container's, so it stays.
    assert [c["id"] for c in report["removed"]] == ["sha256:aaa"]
    assert [i["Id"] for i in daemon.images] == ["sha256:ddd"]
    assert json.loads(Path(state).read_text())["last_used"].keys() == {"sha256:ddd"}


def test_keep_list_patterns_and_bad_arguments(tmp_path):
    image = {"Id": "sha256:abcdef", "RepoTags": ["mycorp/api:2"]}
    assert kept(image, ["mycorp/*"]) and kept(image, ["mycorp/api"]) and kept(image, ["sha256:ab"])
    assert not kept(image, ["mycorp/api:1", "api"])
    tracker = ImageTracker(FakeDaemon(), str(tmp_path / "i.json"), Wall(0))
    for args in ({"unused_seconds": 10}, {"unused_seconds": 600, "keep": [""]}, {"keep": []}):
        with pytest.raises(ValueError):
            tracker.cleanup(args)


def test_the_lab_offset_ages_images_without_changing_the_uses_recorded(tmp_path):
    state = tmp_path / "images.json"
    tracker = ImageTracker(FakeDaemon(), str(state), Wall(100.0), age_offset=lambda: 3600.0)
    found = tracker.cleanup({"unused_seconds": 1800, "dry_run": True})["candidates"]
    assert [c["id"] for c in found] == ["sha256:aaa", "sha256:bbb", "sha256:ccc"]
    assert json.loads(state.read_text())["last_used"]["sha256:aaa"] == 100.0


def test_a_use_seen_in_events_survives_a_restart_before_the_next_pass(tmp_path):
    daemon, now = FakeDaemon(), Wall(10000.0)
    state = str(tmp_path / "images.json")
    ImageTracker(daemon, state, now).refresh()  # every image first seen at 10000
    now.now = 12000.0
    tracker = ImageTracker(daemon, state, now)
    tracker.on_event(
        {"type": "container", "action": "start", "actor": {"attributes": {"image": "app:1"}}}
    )
    now.now = 12100.0
    restarted = ImageTracker(daemon, state, now)  # no pass ran in between
    found = restarted.cleanup({"unused_seconds": 1800, "dry_run": True})["candidates"]
    assert "sha256:aaa" not in [c["id"] for c in found]
    assert [c["id"] for c in found] == ["sha256:bbb", "sha256:ccc"]
