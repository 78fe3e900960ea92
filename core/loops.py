"""Running channel-layer coroutines from sync code, on the right event loop.

Channels' in-memory layer (the embedded default) is bound to the server's event loop: sync
code in other threads (views, embedded Celery workers) must schedule its coroutines there.
With Redis any loop works; processes without a server (Celery workers, tests) use a private
loop in a daemon thread.
"""

import asyncio
import threading

_server_loop: asyncio.AbstractEventLoop | None = None
_private_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def remember_server_loop() -> None:
    """Called from async code running in the ASGI server's loop."""
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def layer_loop() -> asyncio.AbstractEventLoop:
    global _private_loop
    if _server_loop is not None and _server_loop.is_running():
        return _server_loop
    with _lock:
        if _private_loop is None or not _private_loop.is_running():
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def run():
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            threading.Thread(target=run, name="channel-layer-loop", daemon=True).start()
            started.wait(5)
            _private_loop = loop
        return _private_loop


def run_on_layer_loop(coro, timeout: float | None = None):
    """Run `coro` on the layer's loop from sync code and return its result."""
    loop = layer_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("run_on_layer_loop() called from the layer loop itself; await instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)
