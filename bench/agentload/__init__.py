"""The simulated agents of bench/agents.py: one load process's connections, and the handle
bench/agents.py keeps on each load process (`python bench/agentload URL CREDS INTERVAL ADDR`).

An agent speaks the real protocol: `Authorization: Agent uuid:secret`, hello, a heartbeat at
once and every INTERVAL seconds, and reconnects 1-5 s after its socket closes. It counts as up
once the server acknowledged it (its first `ack`: authenticated, its event stream started).
With an URL not ending in /ws/agent/ a connection is an idle one (the bare server's ceiling).
"""

import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def agent(url, creds, interval, local, state):
    from websockets.asyncio.client import connect

    node_uuid, secret = creds
    headers = {"Authorization": f"Agent {node_uuid}:{secret}"}
    while True:
        try:
            async with connect(
                url, additional_headers=headers, local_addr=(local, 0), open_timeout=60,
                ping_interval=None, max_size=2**20, compression=None,
            ) as ws:  # fmt: skip
                up = False
                await ws.send(json.dumps(hello(node_uuid)))
                beats = asyncio.ensure_future(heartbeats(ws, interval))
                try:
                    async for frame in ws:  # config, ack, clock probes: read and dropped
                        if not up and '"ack"' in frame:  # authenticated, its stream started
                            up = True
                            state["up"] += 1
                finally:
                    beats.cancel()
                    if up:
                        state["up"] -= 1
        except OSError as exc:
            state["errors"] += 1
            state["last_error"] = repr(exc)[:200]
        except Exception as exc:  # noqa: BLE001 (closed by the server: reconnect, as agents do)
            state["last_error"] = repr(exc)[:200]
        await asyncio.sleep(1 + random.random() * 4)  # noqa: S311 (a jitter)


def hello(node_uuid):
    return {"type": "hello", "node_uuid": node_uuid, "agent_version": "bench",
            "docker_version": "24.0.7", "facts": {"hostname": "bench"}, "features": []}  # fmt: skip


async def heartbeats(ws, interval):
    while True:
        await ws.send(
            json.dumps(
                {
                    "type": "heartbeat",
                    "time": time.time(),
                    "load": [0.1, 0.2, 0.3],
                    "memory": {"total_mb": 2048, "available_mb": 1024},
                    "disk": {"total_gb": 40, "free_gb": 20},
                    "containers": {"running": 1, "total": 2},
                    "docker_version": "24.0.7",
                    "dockerd_running": True,
                }
            )
        )
        await asyncio.sleep(interval)


async def idle(url, local, state):
    from websockets.asyncio.client import connect

    async with connect(url, local_addr=(local, 0), open_timeout=60, ping_interval=None) as ws:
        state["up"] += 1
        await ws.wait_closed()


async def client_main(url, path, interval, local):
    creds = json.loads(Path(path).read_text())
    state = {"up": 0, "errors": 0, "last_error": ""}
    tasks = []
    for i, c in enumerate(creds):
        if url.endswith("/ws/agent/"):
            tasks.append(asyncio.ensure_future(agent(url, c, interval, local, state)))
        else:
            tasks.append(asyncio.ensure_future(idle(url, local, state)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # a ramp the listen backlog takes
    while True:
        print(json.dumps(state), flush=True)
        await asyncio.sleep(1)


class Clients:
    """The load processes and the last state each printed."""

    def __init__(self, url, creds, count, interval, tmp):
        self.procs, self.states = [], []
        for i in range(count):
            part = creds[i::count]
            path = Path(tmp) / f"creds-{i}.json"
            path.write_text(json.dumps(part))
            proc = subprocess.Popen(
                [sys.executable, str(HERE), url, str(path), str(interval), f"127.0.0.{2 + i}"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            self.procs.append(proc)
            self.states.append({"up": 0})
            threading.Thread(target=self._read, args=(i, proc), daemon=True).start()

    def _read(self, i, proc):
        for line in proc.stdout:
            try:
                self.states[i] = json.loads(line)
            except ValueError:
                pass

    def up(self) -> int:
        return sum(s.get("up", 0) for s in self.states)

    def wait_up(self, count, timeout) -> int:
        deadline = time.monotonic() + timeout
        while self.up() < count and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.up()

    def wait_down(self, timeout) -> None:
        deadline = time.monotonic() + timeout
        while self.up() and time.monotonic() < deadline:
            time.sleep(0.5)

    def stop(self):
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()
