"""The control channel against a real websockets server (no dockerd: it reports it down)."""

from __future__ import annotations

import os
import time

from conftest import wait_until

from dockercloud_agent import EXIT_FINAL, __version__, channel
from dockercloud_agent.config import Config


def is_type(kind):
    return lambda m: m.get("type") == kind


def test_hello_heartbeats_commands_and_bad_messages(control_plane, agent_for):
    cp = control_plane
    agent = agent_for(cp)
    hello = cp.wait_for(is_type("hello"), what="hello")
    assert cp.auth_headers[0] == "Agent %s:%s" % (cp.node_uuid, cp.secret)
    assert hello["node_uuid"] == cp.node_uuid and hello["agent_version"] == __version__
    assert {"hostname", "os", "cpus", "memory_mb", "addresses"} <= set(hello["facts"])
    beat = cp.wait_for(is_type("heartbeat"), what="first heartbeat")  # right after hello
    assert beat["dockerd_running"] is False
    assert beat["containers"] == {"running": 0, "total": 0}
    assert abs(beat["time"] - time.time()) < 5 and len(beat["load"]) == 3
    assert set(beat["memory"]) == {"total_mb", "available_mb"}
    assert set(beat["disk"]) == {"total_gb", "free_gb"}

    result = cp.command("ping")
    assert result["ok"] is True and abs(result["data"]["time"] - time.time()) < 5
    assert set(result) == {"type", "id", "ok", "output", "error", "data"}

    result = cp.command("format_disk")
    assert result["ok"] is False and "unknown command 'format_disk'" in result["error"]

    after = cp.mark()
    cp.send("this is not json")
    cp.send([1, 2, 3])
    cp.send({"type": "command", "name": "ping"})  # no id: a logged warning only
    cp.send({"type": "command", "id": "m1", "args": {}})
    cp.send({"type": "command", "id": "m2", "name": "ping", "args": "nope"})
    cp.send({"type": "mystery", "id": "m3"})
    cp.send({"type": "ack", "seq": 12})
    for rid in ("m1", "m2", "m3"):
        bad = cp.wait_for(lambda m, r=rid: m.get("id") == r, after=after, what="error " + rid)
        assert bad["type"] == "result" and bad["ok"] is False and bad["error"]
    # no dockerd here: opening a tunnel stream is refused with the reason
    cp.send({"type": "tunnel_open", "id": "t1"})
    end = cp.wait_for(lambda m: m.get("id") == "t1", what="tunnel_close")
    assert end["type"] == "tunnel_close" and "docker socket" in end["error"]
    assert cp.command("ping")["ok"]  # still alive after all that

    # the server changes the heartbeat interval
    cp.send({"type": "config", "heartbeat_interval": 1})
    mark = cp.mark()
    cp.wait_for(is_type("heartbeat"), timeout=3, after=mark, what="heartbeat at 1s")
    mark = cp.mark()
    cp.wait_for(is_type("heartbeat"), timeout=3, after=mark, what="second heartbeat at 1s")
    assert Config.load(agent.paths).heartbeat_interval == 1
    assert cp.connections == 1


def test_reconnects_after_the_server_drops_the_connection(control_plane, agent_for):
    cp = control_plane
    agent_for(cp)
    cp.wait_for(is_type("hello"), what="first hello")
    mark = cp.mark()
    dropped = time.monotonic()
    cp.drop()
    hello = cp.wait_for(is_type("hello"), timeout=10, after=mark, what="hello after the drop")
    assert hello["node_uuid"] == cp.node_uuid
    assert time.monotonic() - dropped < 5  # a young connection: backoff at 1 s (+ jitter)
    assert cp.connections == 2
    assert cp.command("ping")["ok"]


def test_a_healthy_connection_lost_is_retried_at_once(control_plane, agent_for, monkeypatch):
    monkeypatch.setattr(channel, "HEALTHY_AFTER", 0.5)
    cp = control_plane
    agent = agent_for(cp)
    cp.wait_for(is_type("hello"), what="first hello")
    wait_until(lambda: time.monotonic() - agent.channel._opened > 0.6, 5, "a healthy connection")
    mark = cp.mark()
    dropped = time.monotonic()
    cp.drop()
    cp.wait_for(is_type("hello"), timeout=5, after=mark, what="hello after the drop")
    assert time.monotonic() - dropped < channel.FIRST_RETRY_SPREAD + 0.5
    assert cp.connections == 2


def test_backoff_at_once_after_a_healthy_connection_then_growing_then_at_once_again():
    def within(wait, base):
        return base <= wait <= base * 1.25

    backoff = channel.Backoff()
    waits = [backoff.after(0.0, now=0.0) for _ in range(7)]  # never connected: 1, 2, 4 ... 30 s
    assert all(within(w, b) for w, b in zip(waits, (1, 2, 4, 8, 16, 30, 30))), waits
    # A connection that was healthy for a while: at once, then 1, 2, 4 s and at most 5 s apart
    # while its server is likely restarting.
    assert backoff.after(channel.HEALTHY_AFTER, now=100.0) <= channel.FIRST_RETRY_SPREAD
    waits = [backoff.after(0.0, now=100.0 + i) for i in range(6)]
    assert all(within(w, b) for w, b in zip(waits, (1, 2, 4, 5, 5, 5))), waits
    # Past that window, the backoff grows again; a short connection does not reset it.
    late = 100.0 + channel.RECOVERY_WINDOW
    assert within(backoff.after(0.0, now=late), 5) and within(backoff.after(0.0, now=late), 10)
    assert within(backoff.after(channel.HEALTHY_AFTER / 2, now=late), 20)


def test_refused_then_accepted(control_plane, agent_for):
    cp = control_plane
    cp.reject = True
    agent = agent_for(cp)
    cp.wait_condition(lambda: cp.rejected >= 1, 10, "a refused handshake")
    wait_until(lambda: "401" in agent.channel.last_error, 5, "the agent to see the 401")
    cp.reject = False
    cp.wait_for(is_type("hello"), timeout=10, what="hello after the refusal")


def test_close_deregistered_stops_the_agent(control_plane, agent_for):
    cp = control_plane
    agent = agent_for(cp)
    cp.wait_for(is_type("hello"), what="hello")
    cp.send({"type": "close", "reason": "maintenance"})  # logged, keeps going
    assert cp.command("ping")["ok"]
    cp.send({"type": "close", "reason": "deregistered"})
    wait_until(agent.channel.stopped.is_set, 5, "the agent to stop")
    assert agent.exit_code == EXIT_FINAL
    # Terminated by the control plane: the revoked credentials are forgotten here too, as
    # after a `deregister` command (that command may be cut short by this close).
    assert not os.path.exists(agent.paths.config_file)
