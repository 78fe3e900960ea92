"""What the agent sends stays within what the control plane accepts (agentapi/limits.py and
nodes/events/services.py there): event messages of bounded size, events as it keeps them."""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, List

from conftest import wait_until

from dockercloud_agent.events import EventBuffer, EventShipper
from dockercloud_agent.wire import MAX_ATTRIBUTES, MAX_MESSAGE, wire_batch, wire_event

SERVER_MAX_EVENT_MESSAGE = 4 * 1024 * 1024  # characters


def fat_event(n: int) -> Dict[str, Any]:
    """A container event whose image and compose project carry many long labels."""
    labels = {"label.%03d" % i: "v%d-" % n + "\u00e9" * 1500 for i in range(100)}
    labels["with.nul"] = "a\x00b"
    labels["with.surrogate"] = "x\ud800y"
    return {
        "type": "container",
        "action": "create\x00",
        "actor": {"id": "c%d" % n, "attributes": labels},
        "scope": "local",
        "time_nano": 1700000000000000000 + n,
    }


def test_a_record_goes_out_as_the_control_plane_keeps_it():
    wire = wire_event(dict(fat_event(1), seq=7))
    attributes = wire["actor"]["attributes"]
    assert len(attributes) == MAX_ATTRIBUTES
    assert all(len(v) <= 1000 for v in attributes.values())
    assert wire["action"] == "create" and wire["seq"] == 7
    text = json.dumps(wire)
    assert "\\u0000" not in text and "\\ud800" not in text
    gap = {"seq": 9, "type": "gap", "action": "dropped", "time_nano": 1, "gap": {"dropped": 3}}
    assert wire_event(dict(gap, actor={"id": "", "attributes": {}})) == dict(
        gap, actor={"id": "", "attributes": {}}
    )


def test_the_shipper_sends_a_backlog_in_messages_within_the_bound(tmp_path):
    buffer = EventBuffer(str(tmp_path), max_events=10000)
    for n in range(300):
        buffer.append(fat_event(n))
    sent: List[str] = []
    shipper = EventShipper(buffer, lambda message: bool(sent.append(json.dumps(message))) or True)
    stopped = threading.Event()
    thread = threading.Thread(target=shipper.run, args=(stopped,), daemon=True)
    thread.start()
    shipper.on_connect()
    shipper.on_ack(0)
    try:
        wait_until(lambda: shipper.sent == 300, 20, "the backlog to be sent")
    finally:
        stopped.set()
        shipper.notify()
        thread.join(timeout=5)
    assert len(sent) > 1  # a batch of SEND_BATCH such events would be megabytes
    assert all(len(text) <= MAX_MESSAGE + 100 for text in sent)
    assert max(len(text) for text in sent) < SERVER_MAX_EVENT_MESSAGE
    seqs = [e["seq"] for text in sent for e in json.loads(text)["events"]]
    assert seqs == list(range(1, 301))


def test_one_record_larger_than_a_message_still_goes_out_alone():
    big = [dict(fat_event(n), seq=n) for n in (1, 2)]
    for record in big:
        record["actor"]["attributes"] = {
            "k%03d" % i: "\U0001f600" * 1000 for i in range(MAX_ATTRIBUTES)
        }
    first = wire_batch(big)
    assert [r["seq"] for r in first] == [1]
    size = len(json.dumps({"type": "event", "events": first}))
    assert MAX_MESSAGE < size < SERVER_MAX_EVENT_MESSAGE
