"""Container logs capped at ``max_bytes`` of current log, with ``keep`` rotated files.

The daemon's own options (``max-size``/``max-file``, set when the agent starts dockerd) cap every
container that keeps the defaults. A container started with options of its own (a larger
``max-size``, none at all) is capped here: its json log is copied and truncated once it passes
the cap, the copy holding at most the cap's last bytes, so a container never has more than
``max_bytes * (keep + 1)`` of logs on disk once a pass has run. The daemon opens json logs for
appending, so writes after the truncation start again at the beginning of the file.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any, Dict, List, Optional

from .dockerapi import DockerError

log = logging.getLogger("dockercloud.logcap")

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * MIB
DEFAULT_KEEP = 1
MAX_KEEP = 20
DEFAULT_INTERVAL = 10.0
COPY_CHUNK = MIB
UNITS = {"": 1, "b": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}


def parse_size(text: Any) -> Optional[int]:
    """Docker's ``max-size`` (``10m``, ``512k``, ``1g``); None when absent or unreadable."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgb]?)b?\s*", str(text or "").lower())
    return int(match.group(1)) * UNITS[match.group(2)] if match else None


def settings(config: Any) -> Dict[str, int]:
    given = config.data.get("log_cap") if isinstance(config.data.get("log_cap"), dict) else {}
    max_bytes = given.get("max_bytes", DEFAULT_MAX_BYTES)
    keep = given.get("keep", DEFAULT_KEEP)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < MIB:
        max_bytes = DEFAULT_MAX_BYTES
    if isinstance(keep, bool) or not isinstance(keep, int) or not 0 <= keep <= MAX_KEEP:
        keep = DEFAULT_KEEP
    return {"max_bytes": max_bytes, "keep": keep}


def daemon_log_opts(max_bytes: int, keep: int) -> Dict[str, str]:
    """The daemon's options for the same cap (``max-file`` counts the current file)."""
    return {"max-size": "%dk" % (max_bytes // 1024), "max-file": str(keep + 1)}


def _tail_start(f: Any, size: int, max_bytes: int) -> int:
    """Where the last ``max_bytes`` of the file start, moved to the next line's beginning."""
    if size <= max_bytes:
        return 0
    start = size - max_bytes
    f.seek(start)
    chunk = f.read(64 * 1024)
    newline = chunk.find(b"\n")
    return start + newline + 1 if newline >= 0 else start


def rotate(path: str, max_bytes: int, keep: int) -> bool:
    """Copy-and-truncate ``path`` if it passed ``max_bytes``: ``path.1`` gets (at most) its
    last ``max_bytes``, older copies move up, the one past ``keep`` goes."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    if size <= max_bytes:
        return False
    for n in range(MAX_KEEP + 1, keep, -1):  # the daemon's own extra files too
        for suffix in ("", ".gz"):
            try:
                os.unlink("%s.%d%s" % (path, n, suffix))
            except OSError:
                pass
    for n in range(keep - 1, 0, -1):
        if os.path.exists("%s.%d" % (path, n)):
            os.replace("%s.%d" % (path, n), "%s.%d" % (path, n + 1))
    with open(path, "r+b") as f:
        if keep:
            start = _tail_start(f, size, max_bytes)
            f.seek(start)
            tmp = "%s.1.tmp" % path
            with open(tmp, "wb") as out:
                remaining = size - start
                while remaining > 0:
                    block = f.read(min(COPY_CHUNK, remaining))
                    if not block:
                        break
                    out.write(block)
                    remaining -= len(block)
            os.replace(tmp, "%s.1" % path)
        f.truncate(0)  # lines written since the copy began are lost: copytruncate's price
    return True


class LogCap:
    """Periodic passes over the containers' json logs."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.stopped = threading.Event()
        # Container id -> its json log path, or "" when it logs otherwise: fixed once the
        # container has started, so each is inspected until then only.
        self._paths: Dict[str, str] = {}

    def start(self) -> None:
        threading.Thread(target=self._loop, name="log-cap", daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()

    def _loop(self) -> None:
        while not self.stopped.wait(self._interval()):
            try:
                self.run_once()
            except DockerError as exc:
                log.debug("log cap pass: %s", exc)
            except Exception:
                log.exception("log cap pass failed")

    def _interval(self) -> float:
        value = self.agent.config.data.get("log_check_interval", DEFAULT_INTERVAL)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return DEFAULT_INTERVAL
        return min(max(float(value), 0.5), 600.0)

    def run_once(self) -> List[str]:
        """Rotate the logs past the cap; return the ids of the containers rotated."""
        docker = self.agent.docker
        if not docker.ping():
            return []
        cap = settings(self.agent.config)
        rotated = []
        ids = [c.get("Id") for c in docker.containers(all=True, timeout=10)]
        ids = [cid for cid in ids if isinstance(cid, str)]
        self._paths = {cid: self._paths[cid] for cid in ids if cid in self._paths}
        for cid in ids:
            path = self._paths.get(cid)
            if path is None:
                try:
                    path = self._json_log(docker.inspect_container(cid))
                except DockerError:
                    continue  # removed meanwhile
                if path is not None:
                    self._paths[cid] = path
            if path and rotate(path, cap["max_bytes"], cap["keep"]):
                rotated.append(cid)
                log.info("container %s: json log rotated at %d bytes", cid[:12], cap["max_bytes"])
        return rotated

    @staticmethod
    def _json_log(info: Dict[str, Any]) -> Optional[str]:
        """The container's json log, "" if it logs otherwise, None if not known yet (a
        container gets its log path when it first starts)."""
        config = (info.get("HostConfig") or {}).get("LogConfig") or {}
        if config.get("Type") != "json-file":
            return ""
        path = info.get("LogPath")
        return path if isinstance(path, str) and path else None

    def configure(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """``rotate_logs {max_bytes, keep}``: save the cap, set the daemon's options for its
        next start, and run a pass now."""
        config = self.agent.config
        cap = settings(config)
        for key, low, high in (("max_bytes", MIB, 1024 * MIB), ("keep", 0, MAX_KEEP)):
            value = args.get(key, cap[key])
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError("args.%s must be an integer from %d to %d" % (key, low, high))
            cap[key] = value
        config.data["log_cap"] = cap
        daemon = config.data.get("daemon") if isinstance(config.data.get("daemon"), dict) else {}
        daemon["log_opts"] = daemon_log_opts(cap["max_bytes"], cap["keep"])
        config.data["daemon"] = daemon
        config.save(self.agent.paths)
        return {"log_cap": cap, "rotated": self.run_once()}
