"""The agent artifact the control plane serves: one zipapp built from agent/ (pure Python)."""

import importlib.util
import re
import threading
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_lock = threading.Lock()
_built: dict[str, str] = {}


def _sources_mtime(root: Path) -> float:
    return max(p.stat().st_mtime for p in root.rglob("*.py"))


def agent_pyz() -> tuple[Path, str]:
    """Return (path, sha256) of the zipapp, building it when the agent sources changed."""
    source = Path(settings.BASE_DIR) / "agent"
    dest = Path(settings.VAR_DIR) / "agent" / "dockercloud-agent.pyz"
    with _lock:
        stamp = str(_sources_mtime(source / "dockercloud_agent"))
        if _built.get("stamp") != stamp or not dest.exists():
            script = source / "build_zipapp.py"
            spec = importlib.util.spec_from_file_location("dc_build_zipapp", script)
            if spec is None or spec.loader is None:
                raise ImproperlyConfigured(f"cannot load {script}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _built["sha256"] = module.build(str(dest))
            _built["stamp"] = stamp
        return dest, _built["sha256"]


def agent_version() -> str:
    """The version of the agent that `agent_pyz` builds (its `__version__`)."""
    init = Path(settings.BASE_DIR) / "agent" / "dockercloud_agent" / "__init__.py"
    found = re.search(r'^__version__ = "([^"]+)"$', init.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no __version__ in {init}")
    return found[1]
