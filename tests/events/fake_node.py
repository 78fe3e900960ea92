"""A fake node as its owner could run one: an agent on the wire that also plays the node's
Docker daemon behind its reverse tunnel, answering whatever it likes."""

import asyncio
import base64
import json

from accounts.audit import Actor
from nodes import services as node_services
from tests.nodes.test_registration import FACTS, make_csr

PIECE = 32 * 1024  # what the real agent reads from its docker socket at a time


def tunnelled_node(person, hostname: str = "tun-1"):
    """A registered node of `person.org` with no address the control plane could dial: its
    daemon is reached through its agent's tunnel only."""
    _, token = node_services.registration_token_create(
        actor=Actor(user=person.user), organization=person.org
    )
    result = node_services.node_register(
        token=token,
        csr=make_csr(hostname),
        facts=FACTS | {"hostname": hostname, "addresses": []},
        remote_ip=None,
    )
    return result["node"], result["secret"]


class FakeDaemon:
    """Reads the control plane's frames on `agent` (a connected communicator) and serves the
    tunnel streams it opens."""

    def __init__(self, agent):
        self.agent = agent
        self.opened: list[str] = []  # stream ids, in order
        self.closed: set[str] = set()  # streams the control plane closed
        self.pushed = 0  # bytes of answers sent

    async def _frame(self, timeout: float) -> dict:
        return await self.agent.receive_json_from(timeout)

    def _drain(self) -> None:
        """Take the frames already there without waiting (closes of streams, mostly)."""
        while not self.agent.output_queue.empty():
            message = self.agent.output_queue.get_nowait()
            if message["type"] == "websocket.send":
                self._note(json.loads(message["text"]))

    def _note(self, frame: dict) -> None:
        if frame["type"] == "tunnel_open":
            self.opened.append(frame["id"])
        elif frame["type"] == "tunnel_close":
            self.closed.add(frame["id"])

    async def open_stream(self, timeout: float = 10) -> str:
        """Wait for the control plane to open a stream; return its id (not answered yet)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self._drain()
            if self.opened:
                return self.opened.pop(0)
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, "the control plane opened no tunnel stream"
            self._note(await self._frame(remaining))

    async def read_request(self, stream: str, timeout: float = 10) -> bytes:
        """Accept `stream` and read the HTTP request on it."""
        await self.agent.send_json_to({"type": "tunnel_opened", "id": stream})
        request = b""
        deadline = asyncio.get_running_loop().time() + timeout
        while b"\r\n\r\n" not in request:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"no request on the stream, got {request!r}"
            frame = await self._frame(remaining)
            if frame["type"] == "tunnel_data" and frame["id"] == stream:
                request += base64.b64decode(frame["data"])
            else:
                self._note(frame)
        return request

    async def send(self, stream: str, data: bytes) -> None:
        for start in range(0, len(data), PIECE):
            piece = base64.b64encode(data[start : start + PIECE]).decode()
            await self.agent.send_json_to({"type": "tunnel_data", "id": stream, "data": piece})
            self.pushed += min(PIECE, len(data) - start)
        await self._handled()

    async def _handled(self, timeout: float = 10) -> None:
        """Wait until the server has taken everything sent so far (paces the pushing)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.agent.input_queue.empty():
            assert asyncio.get_running_loop().time() < deadline, "the server stopped reading"
            await asyncio.sleep(0.001)

    async def answer(self, stream: str, body: bytes) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
        await self.send(stream, head % len(body) + body)
        await self.agent.send_json_to({"type": "tunnel_close", "id": stream})

    async def answer_without_end(self, stream: str, *, give_up_after: int) -> bool:
        """Answer 200 with a chunked body that never ends, until the control plane closes the
        stream (True) or `give_up_after` bytes went out (then end the body; False)."""
        await self.send(
            stream,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
        )
        chunk = b"%x\r\n%s\r\n" % (PIECE - 16, b" " * (PIECE - 16))
        while self.pushed < give_up_after:
            self._drain()
            if stream in self.closed:
                return True
            await self.send(stream, chunk)
        await self.send(stream, b"0\r\n\r\n")
        await self.agent.send_json_to({"type": "tunnel_close", "id": stream})
        return False
