"""A node's hour of samples (nodes.metrics): one a minute, bounded, read back for the charts."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from nodes import metrics

NODE_ID = 987_654_321  # no real node: the keys are this test's own
AT = datetime(2026, 11, 29, 12, 0, 30, tzinfo=UTC)
BEAT = {
    "load": [0.5, 0.25, 0.1],
    "memory": {"total_mb": 2048, "available_mb": 1024},
    "disk": {"total_gb": 40.0, "free_gb": 30.5},
}


@pytest.fixture(autouse=True)
def _fresh():
    minute = int(AT.timestamp() // 60)
    keys = [metrics._key(NODE_ID, minute + d) for d in range(-120, 120)]
    cache.delete_many(keys)
    metrics._kept.clear()
    yield
    cache.delete_many(keys)
    metrics._kept.clear()


def test_one_sample_a_minute_the_first_kept():
    metrics.metric_record(node_id=NODE_ID, metric=BEAT, at=AT)
    later = BEAT | {"load": [9.0]}
    metrics.metric_record(node_id=NODE_ID, metric=later, at=AT + timedelta(seconds=20))
    metrics.metric_record(node_id=NODE_ID, metric=later, at=AT + timedelta(minutes=1))
    history = metrics.metric_history(node_id=NODE_ID, now=AT + timedelta(minutes=1))
    assert [(h["minute"], h["load"]) for h in history] == [(1, 0.5), (0, 9.0)]
    assert history[0] | {"minute": 0} == {
        "minute": 0, "load": 0.5, "memory_used": 1024.0, "memory_total": 2048.0,
        "disk_used": 9.5, "disk_total": 40.0,
    }  # fmt: skip


def test_a_minute_kept_by_this_process_costs_no_round_trip(monkeypatch):
    calls = []
    monkeypatch.setattr(metrics.cache, "add", lambda *a, **k: calls.append(a))
    for seconds in (0, 10, 20):
        metrics.metric_record(node_id=NODE_ID, metric=BEAT, at=AT + timedelta(seconds=seconds))
    assert len(calls) == 1


def test_only_the_last_hour_is_read():
    metrics.metric_record(node_id=NODE_ID, metric=BEAT, at=AT - timedelta(minutes=60))
    metrics.metric_record(node_id=NODE_ID, metric=BEAT, at=AT - timedelta(minutes=59))
    assert [h["minute"] for h in metrics.metric_history(node_id=NODE_ID, now=AT)] == [59]


@pytest.mark.parametrize(
    "given",
    [
        {"load": ["1e400"], "memory": "lots", "disk": None},
        {"load": [float("nan")], "memory": {"total_mb": float("inf"), "available_mb": 1}},
        {"load": [-1, 2], "memory": {"total_mb": True, "available_mb": 1}},
        {"load": [1e16], "disk": {"total_gb": [1], "free_gb": {"x": 1}}},
        {},
    ],
)
def test_an_agent_sends_nothing_unbounded(given):
    metrics.metric_record(node_id=NODE_ID, metric=given, at=AT)
    assert metrics.metric_history(node_id=NODE_ID, now=AT) == []


def test_a_sample_with_some_numbers_keeps_only_those():
    metrics.metric_record(node_id=NODE_ID, metric={"load": [0.7, "x"], "memory": 5}, at=AT)
    (sample,) = metrics.metric_history(node_id=NODE_ID, now=AT)
    assert sample["load"] == 0.7 and sample["memory_used"] is None


def test_charts_put_now_on_the_right_and_scale_to_the_total():
    metrics.metric_record(node_id=NODE_ID, metric=BEAT, at=AT - timedelta(minutes=59))
    metrics.metric_record(node_id=NODE_ID, metric=BEAT, at=AT)
    load, memory, disk = metrics.metric_charts(metrics.metric_history(node_id=NODE_ID, now=AT))
    assert memory["points"] == f"0.0,30.0 {metrics.WIDTH}.0,30.0"  # half used: mid-height
    assert memory["top"] == 2048.0 and memory["last"] == 1024.0 and memory["samples"] == 2
    assert load["end"] == (300.0, 0.0) and disk["last"] == 9.5
    empty = metrics.metric_charts([])
    assert [c["points"] for c in empty] == ["", "", ""] and empty[0]["end"] is None
