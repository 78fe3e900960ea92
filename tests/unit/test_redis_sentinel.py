"""Redis Sentinel (DC_REDIS_SENTINELS, DC_REDIS_SENTINEL_MASTER): the settings the cache, the
channel layers and the Celery broker get, and each of them reaching the suite's Redis through a
real Sentinel (`redis-server --sentinel`) that knows it by name."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from channels_redis.core import RedisChannelLayer
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from kombu import Connection

from core.env import env_addresses
from core.redis_sentinel import redis_client
from dockercloud.settings_parts import redis_parts
from realtime.layer import EventsPubSubLayer

MASTER = "dc-master"
DB = 13  # clear of the databases the suite's workers use (0 and 1 + worker number)


def test_without_sentinels_everything_goes_to_redis_url():
    url = "redis://:pw@redis:6379/2"
    assert redis_parts(url=url, sentinels=[], master="", sentinel_password="") == {
        "cache": {"LOCATION": url},
        "layer_host": url,
        "broker_url": url,
        "broker_options": {},
    }


def test_with_sentinels_each_client_asks_them_for_the_master():
    parts = redis_parts(
        url="redis://:p%40ss@dc-master/3",
        sentinels=[("s1", 26379), ("2001:db8::1", 26380)],
        master=MASTER,
        sentinel_password="sentinel-pw",
    )
    found = {
        "sentinels": [("s1", 26379), ("2001:db8::1", 26380)],
        "master_name": MASTER,
        "sentinel_kwargs": {"password": "sentinel-pw"},
    }
    assert parts["cache"] == {
        "LOCATION": "redis://:p%40ss@dc-master/3",
        "OPTIONS": {"pool_class": "core.redis_sentinel.SentinelPool", **found},
    }
    assert parts["layer_host"] == {**found, "db": 3, "password": "p@ss"}
    assert parts["broker_url"] == (
        "sentinel://:p%40ss@s1:26379/3;sentinel://:p%40ss@[2001:db8::1]:26380/3"
    )
    assert parts["broker_options"] == {
        "master_name": MASTER,
        "sentinel_kwargs": {"password": "sentinel-pw"},
    }


@pytest.mark.parametrize("sentinels,master", [([("s1", 26379)], ""), ([], MASTER)])
def test_sentinels_and_the_master_name_go_together(sentinels, master):
    with pytest.raises(ImproperlyConfigured, match="go together"):
        redis_parts(url="redis://x/0", sentinels=sentinels, master=master, sentinel_password="")
    with pytest.raises(ImproperlyConfigured, match="needs REDIS_URL"):
        redis_parts(url="", sentinels=[("s1", 26379)], master=MASTER, sentinel_password="")


def test_sentinel_addresses_are_parsed_strictly(monkeypatch):
    monkeypatch.setenv("DC_REDIS_SENTINELS", "s1, s2:26380,[2001:db8::1]:26381, [::1]")
    assert env_addresses("DC_REDIS_SENTINELS", 26379) == [
        ("s1", 26379),
        ("s2", 26380),
        ("2001:db8::1", 26381),
        ("::1", 26379),
    ]
    for bad in ("s1:", "s1:port", ":26379", "s1:70000", "s1:0", "[::1", "[::1]26379"):
        monkeypatch.setenv("DC_REDIS_SENTINELS", f"s0, {bad}")
        with pytest.raises(ImproperlyConfigured, match=r"host:port"):
            env_addresses("DC_REDIS_SENTINELS", 26379)


@pytest.fixture
def sentinel(tmp_path):
    """A real Sentinel watching the suite's Redis as MASTER; its port."""
    if not os.environ.get("REDIS_URL") or not shutil.which("redis-server"):
        pytest.skip("needs the suite's Redis and redis-server")
    target = urlsplit(os.environ["REDIS_URL"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = tmp_path / "sentinel.conf"  # Sentinel rewrites its own configuration file
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER} {target.hostname} {target.port} 1\n"
    )
    with open(tmp_path / "sentinel.log", "wb") as log:
        process = subprocess.Popen(
            ["redis-server", str(conf), "--sentinel"], stdout=log, stderr=log
        )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER):
                    break
            except redis.ConnectionError:
                pass
            assert process.poll() is None, (tmp_path / "sentinel.log").read_text()
            assert time.monotonic() < deadline, "the Sentinel did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_cache_layers_broker_and_liveness_reach_the_master_through_a_sentinel(sentinel, settings):
    # The URL's host is a name no resolver knows: only the Sentinel can lead to the master.
    parts = redis_parts(
        url=f"redis://{MASTER}/{DB}",
        sentinels=[("127.0.0.1", sentinel)],
        master=MASTER,
        sentinel_password="",
    )
    target = urlsplit(os.environ["REDIS_URL"])
    direct = redis.Redis(host=target.hostname, port=target.port, db=DB)
    direct.flushdb()

    cache = RedisCache(parts["cache"]["LOCATION"], {"OPTIONS": parts["cache"]["OPTIONS"]})
    cache.set("sentinel-probe", "found", 30)
    assert cache.get("sentinel-probe") == "found"
    assert direct.exists(cache.make_and_validate_key("sentinel-probe"))
    # The liveness store's own client goes the cache's way.
    settings.CACHES = {"default": {"BACKEND": "x", **parts["cache"]}}
    redis_client().set("sentinel-liveness", "1")
    assert direct.get("sentinel-liveness") == b"1"

    async def layers():
        default = RedisChannelLayer(hosts=[parts["layer_host"]], prefix="sentinel-test")
        channel = await default.new_channel()
        await default.send(channel, {"type": "probe"})
        assert await asyncio.wait_for(default.receive(channel), 5) == {"type": "probe"}
        await default.close_pools()
        events = EventsPubSubLayer(hosts=[parts["layer_host"]], prefix="sentinel-ev")
        channel = await events.new_channel()
        await events.group_add("fleet", channel)
        await events.group_send_many([("fleet", {"type": "event"})])
        assert await asyncio.wait_for(events.receive(channel), 5) == {"type": "event"}
        await events.flush()

    asyncio.run(layers())

    with Connection(parts["broker_url"], transport_options=parts["broker_options"]) as conn:
        queue = conn.SimpleQueue("sentinel-probe")
        queue.put({"task": "probe"})
        assert direct.llen("sentinel-probe") == 1  # on the master, in the URL's database
        message = queue.get(timeout=5)
        message.ack()
        assert message.payload == {"task": "probe"}
        queue.close()
    direct.flushdb()


def _settings(tmp_path, **env) -> subprocess.CompletedProcess:
    """dockercloud.settings imported fresh under `env` (what each process does at start)."""
    show = (
        "import json; from dockercloud import settings as s; print(json.dumps([s.CACHES, "
        "s.CHANNEL_LAYERS, s.CELERY_BROKER_URL, s.CELERY_BROKER_TRANSPORT_OPTIONS]))"
    )
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DC_", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-c", show],
        env={**keep, "DC_VAR_DIR": str(tmp_path), **env},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_settings_take_sentinels_from_the_environment(tmp_path):
    result = _settings(
        tmp_path,
        REDIS_URL="redis://:pw@dc-master/4",
        DC_REDIS_SENTINELS="s1,s2:26380",
        DC_REDIS_SENTINEL_MASTER=MASTER,
    )
    assert result.returncode == 0, result.stderr
    caches, layers, broker, options = json.loads(result.stdout)
    found = {"sentinels": [["s1", 26379], ["s2", 26380]], "master_name": MASTER}
    found["sentinel_kwargs"] = None
    assert caches["default"]["OPTIONS"] == {
        "pool_class": "core.redis_sentinel.SentinelPool",
        **found,
    }
    for name in ("default", "events"):
        assert layers[name]["CONFIG"]["hosts"] == [{**found, "db": 4, "password": "pw"}]
    assert broker == "sentinel://:pw@s1:26379/4;sentinel://:pw@s2:26380/4"
    assert options == {"master_name": MASTER, "sentinel_kwargs": None}

    alone = _settings(tmp_path, REDIS_URL="redis://r/0", DC_REDIS_SENTINELS="s1")
    assert alone.returncode != 0 and "DC_REDIS_SENTINEL_MASTER go together" in alone.stderr
