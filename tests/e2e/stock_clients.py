"""The unmodified Docker Cloud clients (python-dockercloud 1.0.12, docker-cloud CLI 1.0.9) on
Python 2.7, installed once into .testenv/ and run as subprocesses against a live server."""

import fcntl
import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / ".testenv" / "py27-clients"
PACKAGES = ["docker-cloud==1.0.9", "python-dockercloud==1.0.12"]


def python27() -> str | None:
    found = shutil.which("python2.7")
    if found and subprocess.run([found, "-V"], capture_output=True).returncode == 0:
        return found
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python2.7")))
    return candidates[-1] if candidates else None


def require_python27() -> str:
    found = python27()
    if found:
        return found
    reason = "the stock Docker Cloud clients need Python 2.7 (none found)"
    if os.environ.get("DC_REQUIRE_LAB") == "1":
        pytest.fail(f"DC_REQUIRE_LAB=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def install_clients(py27: str) -> Path:
    """pip install --target, once per checkout (a lock keeps parallel workers from racing)."""
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with open(TARGET.parent / "py27-clients.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = TARGET / ".installed"
        if not marker.exists():
            shutil.rmtree(TARGET, ignore_errors=True)
            subprocess.run(
                [py27, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 "--target", str(TARGET), *PACKAGES],
                check=True, capture_output=True,
            )  # fmt: skip
            marker.write_text(" ".join(PACKAGES))
    return TARGET


class StockClients:
    def __init__(self, py27: str, target: Path, url: str, user: str, apikey: str, home: Path):
        self.py27, self.target, self.home = py27, target, home
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "PYTHONPATH": str(target),
            "DOCKERCLOUD_REST_HOST": url,
            "DOCKERCLOUD_STREAM_HOST": url.replace("http://", "ws://"),
            "DOCKERCLOUD_USER": user,
            "DOCKERCLOUD_APIKEY": apikey,
        }

    def cli(self, *args: str, namespace: str | None = None, timeout: float = 120, check=True):
        env = dict(self.env, **({"DOCKERCLOUD_NAMESPACE": namespace} if namespace else {}))
        result = subprocess.run(
            [self.py27, str(self.target / "bin" / "docker-cloud"), *args],
            env=env, capture_output=True, text=True, timeout=timeout, cwd=self.home,
        )  # fmt: skip
        if check and result.returncode != 0:
            pytest.fail(
                f"docker-cloud {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def sdk(self, code: str, namespace: str | None = None, timeout: float = 60) -> str:
        """Run Python 2.7 code with `import dockercloud` done; returns its stdout."""
        env = dict(self.env, **({"DOCKERCLOUD_NAMESPACE": namespace} if namespace else {}))
        result = subprocess.run(
            [self.py27, "-c", "import dockercloud\n" + code],
            # Not from the checkout, whose own `dockercloud` package would shadow the SDK.
            env=env, capture_output=True, text=True, timeout=timeout, cwd=self.home,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.fail(f"python-dockercloud code failed:\n{code}\n{result.stderr}")
        return result.stdout
