"""Private PostgreSQL and Redis for `make test`: own data dirs, free ports, own sockets.

    python scripts/testenv.py packages   install what the suite needs (root, Debian, if missing)
    python scripts/testenv.py up         start both; print `export` lines for the shell
    python scripts/testenv.py down       stop what `up` started (by pid), remove its data

`up` waits for each service (its pid file, then a real query) up to a deadline and exits with
status 1 and one clear line when one does not come up: the suite never runs without them.

Stdlib only: it runs before the virtualenv's packages matter.
"""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# DC_TESTENV_DIR: another state dir, for a second environment beside `make test`'s.
STATE_DIR = Path(os.environ.get("DC_TESTENV_DIR") or ROOT / ".testenv")
STATE = STATE_DIR / "state.json"
IS_ROOT = os.geteuid() == 0

# Debian packages, keyed by a file that shows the package is there.
PACKAGES = {
    "postgresql": "/usr/lib/postgresql",
    "redis-server": "/usr/bin/redis-server",
    "docker.io": "/usr/sbin/dockerd",
    "openssh-server": "/usr/sbin/sshd",
    "iproute2": "/usr/sbin/ip",
    "iptables": "/usr/sbin/iptables",
    "busybox-static": "/bin/busybox",
    "openssl": "/usr/bin/openssl",
    "curl": "/usr/bin/curl",
    "chromium": "/usr/bin/chromium",
    "nodejs": "/usr/bin/node",
}


START_TIMEOUT = 60.0  # seconds each service has to answer after it was started


class EnvError(RuntimeError):
    """A service did not come up: the message says which and where its log is."""


def log(message: str) -> None:
    print(f"testenv: {message}", file=sys.stderr, flush=True)


def wait_until(what: str, probe, deadline: float, log_file: Path | None = None):
    """Call ``probe`` until it returns a truthy value, or raise :class:`EnvError` naming
    ``what`` (and the service's log) once ``deadline`` (monotonic) has passed."""
    last = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except OSError as exc:
            last = exc
        if time.monotonic() >= deadline:
            hint = f"; see {log_file}" if log_file else ""
            detail = f" ({last})" if last else ""
            raise EnvError(f"gave up after {START_TIMEOUT:.0f} s waiting for {what}{detail}{hint}")
        time.sleep(0.05)


def read_pid(pidfile: Path) -> int | None:
    """The pid a daemon wrote, once the file holds a whole number and that process lives."""
    try:
        text = pidfile.read_text().split()
    except FileNotFoundError:
        return None
    if not text or not text[0].isdigit():
        return None  # written but not yet flushed
    pid = int(text[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def packages() -> None:
    missing = [name for name, marker in PACKAGES.items() if not os.path.exists(marker)]
    if not missing:
        return
    if not IS_ROOT or not shutil.which("apt-get"):
        log(f"missing {' '.join(missing)} (not root or no apt-get): tests needing them will skip")
        if os.environ.get("DC_CI") == "1":
            raise EnvError(f"CI needs {' '.join(missing)}: run as root on Debian, or install them")
        return
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        sys.exit(f"testenv: PostgreSQL's {name} not found; install Debian's postgresql")
    return candidates[-1]


def as_pg_user(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: use Debian's postgres account.
    return ["runuser", "-u", "postgres", "--", *cmd] if IS_ROOT else cmd


def pg_data_parent() -> Path:
    """A directory the PostgreSQL account can reach: `.testenv/` if possible, else /tmp."""
    local = STATE_DIR / "pg"
    if not IS_ROOT:
        return local
    probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(STATE_DIR)])
    if probe.returncode == 0:
        return local
    # The clone lives where postgres cannot traverse (e.g. under /root): keep data in /tmp.
    return Path(tempfile.mkdtemp(prefix="dc-testenv-pg-"))


def start_postgres() -> dict:
    parent = pg_data_parent()
    parent.mkdir(parents=True, exist_ok=True)
    data, sock = parent / "data", parent / "sock"
    sock.mkdir(exist_ok=True)
    if IS_ROOT:
        shutil.chown(parent, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(
        as_pg_user([pg_bin("initdb"), "-D", str(data), "-U", "dc", "--auth=trust", "-E", "UTF8"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    opts = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        as_pg_user(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(parent / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT
    logfile = parent / "log"
    pid = wait_until(
        "PostgreSQL's pid file", lambda: read_pid(data / "postmaster.pid"), deadline, logfile
    )
    wait_until("PostgreSQL to answer SELECT 1", lambda: pg_ping(sock, port), deadline, logfile)
    return {"pg_dir": str(parent), "pg_pid": pid, "pg_port": port}


def pg_ping(sock: Path, port: int) -> bool:
    """A real query over TCP, as the suite connects (not only the socket being there)."""
    proc = subprocess.run(
        [pg_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "dc", "-d", "postgres",
         "-XAtc", "SELECT 1"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    return proc.returncode == 0 and proc.stdout.strip() == "1"


def redis_ping(port: int) -> bool:
    """PING answered with +PONG: the server is loaded and serving, not merely listening."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def start_redis(rdir: Path | None = None, port: int | None = None) -> dict:
    """A Redis of its own in `rdir` (the testenv's by default) on `port` (a free one by default:
    a test restarting its Redis passes the port it had)."""
    rdir = rdir or STATE_DIR / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    pidfile = rdir / "redis.pid"
    pidfile.unlink(missing_ok=True)  # a stopped server's: never read as the new one's
    subprocess.run(
        [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir),
            "--unixsocket", str(rdir / "redis.sock"), "--save", "", "--appendonly", "no",
            "--daemonize", "yes", "--pidfile", str(pidfile), "--logfile", str(rdir / "log"),
        ],
        check=True,
    )  # fmt: skip
    # --daemonize returns before the child writes its pid file: wait for both the file and a
    # real PING, never read the file at once.
    deadline = time.monotonic() + START_TIMEOUT
    logfile = rdir / "log"
    pid = wait_until("Redis's pid file", lambda: read_pid(pidfile), deadline, logfile)
    wait_until("Redis to answer PING", lambda: redis_ping(port), deadline, logfile)
    return {"redis_pid": pid, "redis_port": port, "redis_dir": str(rdir)}


def up() -> None:
    if STATE.exists():
        down()
    STATE_DIR.mkdir(exist_ok=True)
    state: dict = {}
    try:
        state.update(start_postgres())
        STATE.write_text(json.dumps(state))
        state.update(start_redis())
        STATE.write_text(json.dumps(state))
    except BaseException:
        # Stop what did start (the caller's trap may never learn of it) before failing.
        STATE.write_text(json.dumps(state))
        down()
        raise
    print(f"export DATABASE_URL=postgres://dc@127.0.0.1:{state['pg_port']}/postgres")
    print(f"export REDIS_URL=redis://127.0.0.1:{state['redis_port']}/0")
    log(f"PostgreSQL on :{state['pg_port']}, Redis on :{state['redis_port']}")


def stop_pid(pid: int, deadline_s: float = 15) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def down() -> None:
    if not STATE.exists():
        return
    state = json.loads(STATE.read_text())
    for key in ("redis_pid", "pg_pid"):
        if state.get(key):
            stop_pid(state[key])
    for key in ("pg_dir", "redis_dir"):
        if state.get(key):
            shutil.rmtree(state[key], ignore_errors=True)
    STATE.unlink()
    log("stopped PostgreSQL and Redis")


def main(argv: list[str]) -> int:
    verbs = {"packages": packages, "up": up, "down": down}
    if len(argv) != 2 or argv[1] not in verbs:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        verbs[argv[1]]()
    except (EnvError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log(f"{argv[1]} failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
