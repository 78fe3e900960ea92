"""The node's clock as the control plane sees it, and the command that syncs it.

The server estimates the skew NTP-style: it sends ``clock {server_time}`` (t0), the agent notes
when that arrived by its own clock (t1) and echoes both in its next heartbeat, whose ``time`` is
t2; the server's receive time is t3. Skew = ((t1 - t0) + (t2 - t3)) / 2, whatever the network's
delay (as long as it is about the same both ways).

agent.json may hold ``clock_offset`` (seconds added to the host's clock: how the node lab makes
a skewed node without touching the machine's clock) and ``clock_sync_record`` (a file: the sync
command is appended there instead of run, and the offset is cleared, as a real sync would).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import threading
import time
from typing import Any, Dict, Optional

log = logging.getLogger("dockercloud.clock")

MAX_OFFSET = 10 * 365 * 86400.0
MAX_COMMAND = 1000
SYNC_TIMEOUT = 120
# Whichever the host has, most precise first: chrony steps at once; timesyncd syncs on restart.
CANDIDATES = (
    ("chronyc", "chronyc -a makestep"),
    ("timedatectl", "timedatectl set-ntp true && systemctl restart systemd-timesyncd"),
    ("ntpdate", "ntpdate -u pool.ntp.org"),
)


class ClockError(Exception):
    pass


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


class Clock:
    def __init__(self, config: Any, save: Any, wall=time.time) -> None:
        self.config = config
        self._save = save  # persists agent.json
        self._wall = wall
        self._lock = threading.Lock()
        self._probe: Optional[Dict[str, float]] = None

    @property
    def offset(self) -> float:
        value = _number(self.config.data.get("clock_offset")) or 0.0
        return max(-MAX_OFFSET, min(MAX_OFFSET, value))

    def now(self) -> float:
        return self._wall() + self.offset

    def on_probe(self, message: Dict[str, Any]) -> None:
        server_time = _number(message.get("server_time"))
        if server_time is None:
            return
        with self._lock:
            self._probe = {"server_time": server_time, "received": self.now()}

    def heartbeat_fields(self) -> Dict[str, Any]:
        """``time`` (t2) and the last probe's echo, once: a probe answers one heartbeat."""
        with self._lock:
            probe, self._probe = self._probe, None
        fields: Dict[str, Any] = {"time": self.now()}
        if probe is not None:
            fields["clock"] = probe
        return fields

    @staticmethod
    def pick_command(override: str = "") -> str:
        if override:
            return override
        for binary, command in CANDIDATES:
            if shutil.which(binary):
                return command
        raise ClockError("no clock sync tool on this host (chrony, timedatectl or ntpdate)")

    def sync(self, args: Dict[str, Any]) -> Dict[str, Any]:
        override = args.get("command") or self.config.data.get("clock_sync_command") or ""
        if not isinstance(override, str) or len(override) > MAX_COMMAND or "\x00" in override:
            raise ClockError("args.command must be a shell command of at most 1000 characters")
        command = self.pick_command(override)
        record = self.config.data.get("clock_sync_record")
        with self._lock:
            self._probe = None  # measured across the step: meaningless
        if isinstance(record, str) and record:
            with open(record, "a", encoding="utf-8") as f:
                f.write("%s\n" % command)
            before = self.offset
            self.config.data["clock_offset"] = 0.0
            self._save()
            log.info("clock sync recorded (not run): %s", command)
            return {"command": command, "recorded": True, "offset_cleared": before}
        log.info("clock sync: running %r", command)
        try:
            proc = subprocess.run(
                ["sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=SYNC_TIMEOUT,
                env=dict(os.environ, LC_ALL="C"),
            )
        except subprocess.TimeoutExpired:
            raise ClockError("the sync command timed out after %ds" % SYNC_TIMEOUT) from None
        output = proc.stdout.decode("utf-8", "replace")[-4000:]
        if proc.returncode != 0:
            status = proc.returncode
            raise ClockError("the sync command exited with status %d: %s" % (status, output))
        return {"command": command, "recorded": False, "output": output}
