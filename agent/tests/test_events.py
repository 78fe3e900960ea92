"""Docker events: the on-disk buffer, the daemon follower, and the shipper over a real channel."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Dict, List

import pytest
from conftest import needs_dockerd, wait_until

from dockercloud_agent.agent import Agent
from dockercloud_agent.config import Config, Paths
from dockercloud_agent.events import EventBuffer, EventFollower, events_dir


def event(n: int) -> Dict[str, Any]:
    return {
        "type": "container",
        "action": "start",
        "actor": {"id": "c%d" % n, "attributes": {"name": "n%d" % n}},
        "scope": "local",
        "time_nano": 1700000000000000000 + n,
    }


def accounted(records: List[Dict[str, Any]]) -> int:
    """Events delivered plus events a gap says were lost."""
    return sum(r["gap"]["dropped"] if r["type"] == "gap" else 1 for r in records)


def test_numbers_persist_and_continue_after_a_restart(tmp_path):
    buf = EventBuffer(str(tmp_path), segment_events=3)
    assert [buf.append(event(i))["seq"] for i in range(1, 8)] == list(range(1, 8))
    assert [r["seq"] for r in buf.read(1, 100)] == list(range(1, 8))
    buf.close()
    again = EventBuffer(str(tmp_path), segment_events=3)
    assert again.next_seq == 8 and again.cursor == event(7)["time_nano"]
    assert [r["actor"]["id"] for r in again.read(5, 2)] == ["c5", "c6"]
    assert again.append(event(8))["seq"] == 8


def test_ack_deletes_whole_segments_and_is_remembered(tmp_path):
    buf = EventBuffer(str(tmp_path), segment_events=3)
    for i in range(1, 8):
        buf.append(event(i))
    buf.ack(4)
    assert buf.pending == 3 and buf.first_unacked() == 5
    assert [r["seq"] for r in buf.read(buf.first_unacked())] == [5, 6, 7]
    segments = sorted(n for n in os.listdir(str(tmp_path)) if n.startswith("seg-"))
    assert len(segments) == 2  # 1-3 is gone; 4-6 stays until 6 is acknowledged
    buf.ack(3)  # an older ack changes nothing
    buf.close()
    again = EventBuffer(str(tmp_path), segment_events=3)
    assert again.acked == 4 and [r["seq"] for r in again.read(5)] == [5, 6, 7]
    again.ack(7)
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith("seg-")]
    assert again.append(event(8))["seq"] == 8


def test_an_ack_beyond_what_we_know_moves_numbering_on(tmp_path):
    buf = EventBuffer(str(tmp_path))
    buf.append(event(1))
    buf.ack(41)  # the server stored up to 41: this host's buffer was wiped
    assert buf.append(event(2))["seq"] == 42


def test_full_buffer_drops_the_oldest_and_counts_them_in_a_gap(tmp_path):
    buf = EventBuffer(str(tmp_path), max_events=8, segment_events=2)
    for i in range(1, 31):
        buf.append(event(i))
    records = buf.read(1, 1000)
    gaps = [r for r in records if r["type"] == "gap"]
    assert gaps and buf.dropped > 0
    assert accounted(records) == 30  # nothing vanishes without being counted
    assert len(records) <= 8 + 1
    newest = [r["actor"]["id"] for r in records if r["type"] != "gap"]
    assert newest[-1] == "c30"
    first_gap = min(g["gap"]["first_seq"] for g in gaps)
    assert first_gap == 1
    assert sum(g["gap"]["dropped"] for g in gaps) == buf.dropped


def test_acknowledged_events_are_not_counted_as_lost(tmp_path):
    buf = EventBuffer(str(tmp_path), max_events=8, segment_events=2)
    for i in range(1, 6):
        buf.append(event(i))
    buf.ack(5)
    for i in range(6, 15):
        buf.append(event(i))
    records = buf.read(6, 1000)
    assert accounted(records) == 9


def test_a_torn_last_line_is_skipped(tmp_path):
    buf = EventBuffer(str(tmp_path), segment_events=10)
    for i in range(1, 4):
        buf.append(event(i))
    buf.close()
    segment = [n for n in os.listdir(str(tmp_path)) if n.startswith("seg-")][0]
    with open(os.path.join(str(tmp_path), segment), "ab") as f:
        f.write(b'{"seq": 4, "type": "cont')  # the machine died mid-write
    again = EventBuffer(str(tmp_path), segment_events=10)
    assert [r["seq"] for r in again.read(1)] == [1, 2, 3]
    assert again.append(event(4))["seq"] == 4
    assert [r["seq"] for r in again.read(1)] == [1, 2, 3, 4]


def test_another_registration_starts_afresh(tmp_path):
    buf = EventBuffer(str(tmp_path), owner="node-a")
    for i in range(1, 4):
        buf.append(event(i))
    buf.close()
    other = EventBuffer(str(tmp_path), owner="node-b")
    assert other.next_seq == 1 and other.read(1) == []
    other.append(event(9))
    other.close()
    assert EventBuffer(str(tmp_path), owner="node-b").next_seq == 2


# --- over the control channel (the fake control plane's real websocket server) ---------------
@pytest.fixture
def agent(control_plane, short_tmp):
    paths = Paths(short_tmp)
    paths.ensure_dirs()
    Config(
        {
            "server": control_plane.http_url,
            "ws_url": control_plane.ws_url,
            "node_uuid": control_plane.node_uuid,
            "secret": control_plane.secret,
            "heartbeat_interval": 15,
        }
    ).save(paths)
    agent = Agent(paths, Config.load(paths))
    shipper = threading.Thread(target=agent.events.shipper.run, args=(agent.events.stopped,))
    shipper.daemon = True
    shipper.start()
    channel = threading.Thread(target=agent.channel.run, daemon=True)
    channel.start()
    yield agent
    agent.events.stopped.set()
    agent.stop()
    channel.join(timeout=10)


def sent_seqs(cp, after: int = 0) -> List[int]:
    with cp._cond:
        messages = [m for _, m in cp.received[after:] if m.get("type") == "event"]
    return [e["seq"] for m in messages for e in m["events"]]


def test_events_wait_for_the_first_ack_then_replay_after_a_reconnect(control_plane, agent):
    cp = control_plane
    cp.wait_for(lambda m: m.get("type") == "hello", what="hello")
    for i in range(1, 4):
        agent.events.buffer.append(event(i))
        agent.events.shipper.notify()
    time.sleep(0.3)  # a bounded look: nothing may be sent before the server's first ack
    assert sent_seqs(cp) == []
    cp.send({"type": "ack", "seq": 0})
    cp.wait_condition(lambda: sent_seqs(cp) == [1, 2, 3], 5, "events 1-3")
    cp.send({"type": "ack", "seq": 2})  # 3 is not stored yet
    wait_until(lambda: agent.events.buffer.acked == 2, 5, "ack 2 applied")

    mark = cp.mark()
    cp.drop()
    wait_until(lambda: not agent.channel.connected.is_set(), 5, "the drop to be seen")
    for i in range(4, 7):  # while disconnected
        agent.events.buffer.append(event(i))
        agent.events.shipper.notify()
    cp.wait_for(lambda m: m.get("type") == "hello", after=mark, what="hello after the drop")
    cp.send({"type": "ack", "seq": 2})  # where this server resumes
    cp.wait_condition(lambda: sent_seqs(cp, mark) == [3, 4, 5, 6], 5, "replay of 3-6")
    agent.events.buffer.append(event(7))
    agent.events.shipper.notify()
    cp.wait_condition(lambda: sent_seqs(cp, mark) == [3, 4, 5, 6, 7], 5, "event 7 live")
    cp.send({"type": "ack", "seq": 7})
    wait_until(lambda: agent.events.buffer.pending == 0, 5, "everything acknowledged")
    sent = [m for _, m in cp.received if m.get("type") == "event"][-1]["events"][0]
    assert set(sent) == {"seq", "type", "action", "actor", "scope", "time_nano"}


# --- the daemon follower against a real dockerd ----------------------------------------------
@needs_dockerd
def test_follower_numbers_daemon_events_and_resumes_without_duplicates(dockerd, tmp_path):
    buf = EventBuffer(str(tmp_path / "events"))
    stopped = threading.Event()
    woken = threading.Event()
    follower = EventFollower(dockerd.api, buf, woken.set, stopped)
    thread = threading.Thread(target=follower.run, daemon=True)
    thread.start()
    wait_until(follower.connected.is_set, 10, "the follower to connect")
    names = ["dcev-%d-%d" % (os.getpid(), i) for i in range(3)]
    dockerd.api.call("POST", "/volumes/create", {"Name": names[0]})

    def volume_events():
        return [
            r["actor"]["id"]
            for r in buf.read(1, 1000)
            if r["type"] == "volume" and r["action"] == "create" and r["actor"]["id"] in names
        ]

    wait_until(lambda: volume_events() == names[:1], 10, "the first volume event")
    assert woken.is_set()
    stopped.set()
    follower.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    # While nobody follows, two more; a new follower (as after an agent restart) catches up.
    for name in names[1:]:
        dockerd.api.call("POST", "/volumes/create", {"Name": name})
    restarted = EventFollower(dockerd.api, buf, lambda: None, threading.Event())
    thread = threading.Thread(target=restarted.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: volume_events() == names, 10, "the missed volume events")
        time.sleep(0.3)  # a bounded look for duplicates arriving late
        assert volume_events() == names
        seqs = [r["seq"] for r in buf.read(1, 1000)]
        assert seqs == sorted(set(seqs))
        record = [r for r in buf.read(1, 1000) if r["actor"]["id"] == names[0]][0]
        assert json.dumps(record)  # plain JSON, as sent
    finally:
        restarted.stopped.set()
        restarted.stop()
        thread.join(timeout=10)
        for name in names:
            dockerd.api.call("DELETE", "/volumes/%s" % name)


def test_events_dir_is_under_the_state_dir(short_tmp):
    assert events_dir(Paths(short_tmp)) == os.path.join(short_tmp, "var/lib/dockercloud/events")
