"""The packaging test runs as its own phase of `make test`, in the background beside the main
suite (scripts/test.sh). If that script stops early it sends SIGTERM: turn it into the
KeyboardInterrupt pytest handles, so fixtures still tear down what they started (the compose
topology, the lab hosts)."""

import signal


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _interrupt)
