"""Images nobody used for a while are removed; when each was last used is kept on disk.

Last use comes from the daemon's events (a container created, started, stopped or removed
from an image) and from each pass, which counts every image an existing container (running or
stopped) has as in use now. An image seen for the first time counts as used then. The record
(``/var/lib/dockercloud/images.json``) survives the agent's restarts.

An image is never removed while a container uses it: removal goes tag by tag without
``force``, so the daemon itself refuses one a container took meanwhile. ``image_clock_offset``
in agent.json (seconds) is added to the time images are judged at, not to the uses recorded:
the node lab's way to age images without waiting.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import quote

from .config import write_file_atomic
from .dockerapi import DockerError

log = logging.getLogger("dockercloud.images")

USE_ACTIONS = {"create", "start", "restart", "die", "stop", "destroy", "kill", "exec_create"}
MAX_REPORT = 200
MAX_KEEP_PATTERNS = 200
MAX_PATTERN = 256
MAX_RECORDS = 100000
SAVE_EVERY = 5.0  # seconds: at most this much of the events' record is lost in a crash


def _image_names(image: Dict[str, Any]) -> List[str]:
    tags = [t for t in image.get("RepoTags") or [] if isinstance(t, str) and t != "<none>:<none>"]
    return tags


def kept(image: Dict[str, Any], patterns: List[str]) -> bool:
    """Does a keep-list pattern name the image: a tag (``redis:7``), a repository (``redis``,
    every tag), a glob (``mycorp/*``) or an id prefix (``sha256:ab12``)?"""
    names = _image_names(image)
    repos = [n.rsplit(":", 1)[0] for n in names]
    image_id = str(image.get("Id") or "")
    for pattern in patterns:
        if pattern.startswith("sha256:") and image_id.startswith(pattern):
            return True
        for name in names + repos:
            if fnmatch.fnmatchcase(name, pattern):
                return True
    return False


class ImageTracker:
    def __init__(
        self,
        docker: Any,
        path: str,
        clock: Callable[[], float] = time.time,
        age_offset: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.docker = docker
        self.path = path
        self.clock = clock
        self.age_offset = age_offset
        self._lock = threading.Lock()
        self._saved_at = 0.0
        data = self._load()
        self.last_used: Dict[str, float] = data["last_used"]
        # Image names (or ids) from events, resolved to images on the next refresh; saved too,
        # so a restart in between loses no use.
        self._used_names: Dict[str, float] = data["names"]

    def _load(self) -> Dict[str, Dict[str, float]]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        found: Dict[str, Dict[str, float]] = {}
        for key in ("last_used", "names"):
            records = data.get(key) if isinstance(data, dict) else None
            records = records if isinstance(records, dict) else {}
            found[key] = {
                str(k): float(v)
                for k, v in list(records.items())[:MAX_RECORDS]
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            }
        return found

    def _save(self) -> None:
        data = {"last_used": self.last_used, "names": self._used_names}
        write_file_atomic(self.path, json.dumps(data, sort_keys=True).encode("utf-8"), 0o600)
        self._saved_at = time.monotonic()

    def on_event(self, event: Dict[str, Any]) -> None:
        """A daemon event (as ``events.normalize`` shapes it): a container's image was used."""
        if event.get("type") != "container" or event.get("action") not in USE_ACTIONS:
            return
        attributes = (event.get("actor") or {}).get("attributes") or {}
        image = attributes.get("image")
        if isinstance(image, str) and image:
            with self._lock:
                if len(self._used_names) < MAX_RECORDS or image in self._used_names:
                    self._used_names[image] = self.clock()
                if time.monotonic() - self._saved_at >= SAVE_EVERY:
                    try:
                        self._save()
                    except OSError as exc:
                        log.warning("saving %s failed: %s", self.path, exc)

    def refresh(self) -> Dict[str, Any]:
        """Update the record from the daemon; return ``{images, in_use}`` as listed now."""
        images = self.docker.call("GET", "/images/json", timeout=30) or []
        containers = self.docker.containers(all=True, timeout=30)
        in_use = {c.get("ImageID") for c in containers if c.get("ImageID")}
        now = self.clock()
        with self._lock:
            used_names, self._used_names = self._used_names, {}
            record: Dict[str, float] = {}
            for image in images:
                image_id = str(image.get("Id") or "")
                if not image_id:
                    continue
                seen = [self.last_used.get(image_id)]
                for name in _image_names(image) + [image_id, image_id[7:19]]:
                    seen.append(used_names.get(name))
                if image_id in in_use:
                    seen.append(now)
                known = [t for t in seen if t is not None]
                record[image_id] = max(known) if known else now
            self.last_used = record  # images gone from the daemon are forgotten
            self._save()
        return {"images": images, "in_use": in_use}

    def candidates(self, unused_seconds: float, keep: List[str]) -> List[Dict[str, Any]]:
        state = self.refresh()
        now = self.clock() + self.age_offset()
        found = []
        for image in state["images"]:
            image_id = str(image.get("Id") or "")
            last = self.last_used.get(image_id, now)
            if image_id in state["in_use"] or now - last < unused_seconds or kept(image, keep):
                continue
            found.append(
                {
                    "id": image_id,
                    "tags": _image_names(image)[:20],
                    "size": int(image.get("Size") or 0),
                    "last_used": last,
                    "unused_seconds": now - last,
                }
            )
        found.sort(key=lambda c: c["last_used"])
        return found

    def remove(self, candidate: Dict[str, Any]) -> Optional[str]:
        """Remove one image, tag by tag and without force; the error, or None."""
        try:
            for name in candidate["tags"][1:]:  # untag; the last reference removes the image
                self.docker.call("DELETE", "/images/%s" % quote(name, safe="/:"), timeout=60)
            ref = candidate["tags"][0] if candidate["tags"] else candidate["id"]
            self.docker.call("DELETE", "/images/%s" % quote(ref, safe="/:"), timeout=120)
        except DockerError as exc:
            return str(exc)[:300]
        with self._lock:
            self.last_used.pop(candidate["id"], None)
            self._save()
        return None

    def cleanup(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """``cleanup_images {unused_seconds, keep, dry_run}``."""
        unused = args.get("unused_seconds")
        if isinstance(unused, bool) or not isinstance(unused, (int, float)) or unused < 60:
            raise ValueError("args.unused_seconds must be a number of seconds, at least 60")
        keep = args.get("keep") or []
        if (
            not isinstance(keep, list)
            or len(keep) > MAX_KEEP_PATTERNS
            or not all(isinstance(p, str) and 0 < len(p) <= MAX_PATTERN for p in keep)
        ):
            raise ValueError("args.keep must be a list of image patterns")
        found = self.candidates(float(unused), keep)
        if args.get("dry_run") is True:
            return {"candidates": found[:MAX_REPORT], "removed": [], "failed": []}
        removed, failed = [], []
        for candidate in found:
            error = self.remove(candidate)
            if error is None:
                removed.append(candidate)
                log.info("image %s %s removed (unused)", candidate["id"][:19], candidate["tags"])
            else:
                failed.append(dict(candidate, error=error))
        return {"candidates": [], "removed": removed[:MAX_REPORT], "failed": failed[:MAX_REPORT]}


def image_age_offset(config: Any) -> Callable[[], float]:
    def offset() -> float:
        value = config.data.get("image_clock_offset") or 0
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return 0.0
        return max(0.0, min(float(value), 10 * 365 * 86400.0))

    return offset


def images_file(paths: Any) -> str:
    return os.path.join(paths.state_dir, "images.json")
