"""A small TCP proxy in front of several web processes, as operators run one (HAProxy with
backup servers, say): each connection goes to the first backend that accepts it, so every
client lands on the first web process while it lives and on the next once it is gone.

    python tests/e2e/tcpproxy.py LISTEN_HOST LISTEN_PORT BACKEND_HOST:PORT [...]

It prints "listening" once it accepts connections, then one line per connection:
"<client> -> <backend>". It knows nothing of HTTP or websockets: bytes both ways.
"""

import asyncio
import sys

CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _connect(backends: list[tuple[str, int]]):
    for host, port in backends:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            continue  # refused: that web process is gone, try the next
        return f"{host}:{port}", reader, writer
    return None


async def _serve(backends, client_reader, client_writer) -> None:
    peer = client_writer.get_extra_info("peername")
    upstream = await _connect(backends)
    if upstream is None:
        print(f"{peer[0]}:{peer[1]} -> none", flush=True)
        client_writer.close()
        return
    name, reader, writer = upstream
    print(f"{peer[0]}:{peer[1]} -> {name}", flush=True)
    # Either side ending ends both: a web process that dies closes its clients' connections.
    done, pending = await asyncio.wait(
        {asyncio.ensure_future(_pipe(client_reader, writer)),
         asyncio.ensure_future(_pipe(reader, client_writer))},
        return_when=asyncio.FIRST_COMPLETED,
    )  # fmt: skip
    for task in pending:
        task.cancel()
    writer.close()
    client_writer.close()


async def main(host: str, port: int, backends: list[tuple[str, int]]) -> None:
    server = await asyncio.start_server(lambda r, w: _serve(backends, r, w), host, port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen_host, listen_port, *targets = sys.argv[1:]
    parsed = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in targets]
    asyncio.run(main(listen_host, int(listen_port), parsed))
