"""Deploys on real lab hosts: bring-your-own-host to Deployed, and a local-provider node cluster
to all nodes Deployed, each beside the machine's floor for the same hosts measured in the run.

    make bench        # or, as root with DATABASE_URL (PostgreSQL) and REDIS_URL:
                      #   .venv/bin/python bench/deploys.py [--cluster-size 5] [--timeout 240]

It starts the production topology (`manage.py serve`, a Celery worker and beat, as the end to
end tests do: lab/control_plane.py) on a scratch database and a scratch Redis database, then:

- BYOH: on a fresh lab host (Docker installed, as on a prepared server) the ceiling is a bare
  `dockerd` started to `docker info` answering; its /var/lib/docker is then emptied again, and
  `byoh_seconds` runs from the install command starting (`curl … | sh`, from the API's token)
  to the node Deployed in the API.
- Cluster: `cluster5_seconds` (`cluster<N>_seconds`) runs from `POST nodecluster/` (then
  `deploy/`) to every node of it Deployed in the API; its ceiling is the machine making as
  many lab hosts at once and starting a bare `dockerd` in each to `docker info` answering
  (what the local provider must do at the least), measured just before.
- With each, the CPU seconds the control plane's processes (web, worker, beat) used over it
  (`byoh_cp_cpu_seconds`, `cluster5_cp_cpu_seconds`): fair on a busy machine, where
  wall-clock seconds stretch.

Without root or the lab it prints one line saying so and records nothing. Figures, not a
pass/fail test; a busy machine stretches both the figures and their ceilings.
"""

import argparse
import concurrent.futures
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402
from events import scratch_database  # noqa: E402

from lab import hosts, state  # noqa: E402
from lab.control_plane import ControlPlane, control_plane_env, free_port  # noqa: E402
from lab.prereq import lab_available  # noqa: E402

ISSUE_BYOH_SECONDS = 3.0  # the scale issue's own measure of a BYOH install with Docker present


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cluster-size", type=int, default=5)
    p.add_argument("--timeout", type=float, default=240.0, help="seconds each deploy may take")
    p.add_argument("--redis-db", type=int, default=12, help="scratch Redis db (flushed)")
    return p.parse_args(argv)


def cluster_figure(args) -> str:
    return f"cluster{args.cluster_size}_seconds"  # cluster5_seconds by default


def cluster_ceiling(args) -> str:
    return f"cluster{args.cluster_size}_hosts_dockerd_seconds"


def cpu_seconds(cp: ControlPlane) -> float:
    """CPU seconds the control plane's processes have used (fair on a busy machine, where
    wall-clock seconds are not)."""
    total = 0.0
    for process in cp.processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)


# --- ceilings: a bare dockerd -------------------------------------------------------------------
def bare_dockerd_seconds(host: hosts.Host) -> float:
    """A bare dockerd started in `host` to `docker info` answering; stopped and its state
    emptied again afterwards, so what runs next starts from a fresh host."""
    started = time.monotonic()
    daemon = host.start_dockerd()
    try:
        wait_until(
            lambda: host.run(["docker", "info"], check=False, timeout=30).returncode == 0,
            timeout=60,
            what=f"docker info in {host.name}",
        )
        seconds = time.monotonic() - started
    finally:
        daemon.terminate()
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    for leftover in host.state_path("var-lib-docker").iterdir():
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    host.run("rm -rf /run/docker /run/docker.pid /run/docker.sock /run/containerd", timeout=30)
    # Its bridge outlives it (its iptables chains too, which the next dockerd rewrites).
    host.run(["ip", "link", "delete", "docker0"], check=False, timeout=30)
    return seconds


def hosts_with_dockerd_seconds(count: int) -> float:
    """`count` lab hosts made at once, each with a bare dockerd to `docker info`; destroyed."""
    made: list[hosts.Host] = []

    def one() -> None:
        host = hosts.create_host(prefix="dcb-")
        made.append(host)
        host.start_dockerd()
        host.run(["docker", "info"], timeout=60)

    started = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
            for future in [pool.submit(one) for _ in range(count)]:
                future.result()
        return time.monotonic() - started
    finally:
        destroy(made)


def destroy(made) -> None:
    if not made:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(made)) as pool:
        for future in [pool.submit(h.destroy) for h in made]:
            future.exception()


# --- the product --------------------------------------------------------------------------------
class Api:
    def __init__(self, cp: ControlPlane, org: str, username: str, key: str):
        self.base = f"{cp.url}/api/infra/v1/{org}"
        self.session = requests.Session()
        self.session.auth = (username, key)

    def post(self, path: str, body: dict | None = None) -> dict:
        answer = self.session.post(f"{self.base}/{path}", json=body, timeout=30)
        if answer.status_code not in (200, 201, 202):
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def nodes(self, **params) -> list[dict]:
        answer = self.session.get(f"{self.base}/node/", params={"limit": 100, **params}, timeout=30)
        answer.raise_for_status()
        return answer.json()["objects"]


def byoh_seconds(api: Api, host: hosts.Host, log: Path, timeout: float) -> float:
    command = api.post("token/")["command"]
    started = time.monotonic()
    with open(log, "ab") as out:
        install = host.popen(["sh", "-c", command], stdout=out, stderr=subprocess.STDOUT)
    exited: list[float] = []

    def deployed():
        if install.poll() is not None and not exited:
            exited.append(time.monotonic() - started)
        if install.returncode not in (None, 0):
            raise RuntimeError(f"the install command failed ({install.returncode}); see {log}")
        return any(n["state"] == "Deployed" for n in api.nodes())

    try:
        wait_until(deployed, timeout=timeout, what="the BYOH node Deployed")
        seconds = time.monotonic() - started
    finally:
        try:
            install.wait(timeout=60)
        except subprocess.TimeoutExpired:
            install.kill()
            install.wait()
    # Where the time went: the script on the host, then the control plane's first contact.
    ended = exited[0] if exited else time.monotonic() - started
    when = "before" if exited else "after"
    print(f"  BYOH: the install command ended {ended:.1f} s in, {when} the node was Deployed")
    return seconds


def cluster_seconds(api: Api, size: int, timeout: float) -> float:
    started = time.monotonic()
    cluster = api.post(
        "nodecluster/",
        {
            "name": "bench",
            "region": "/api/infra/v1/region/local/local/",
            "node_type": "/api/infra/v1/nodetype/local/lab/",
            "target_num_nodes": size,
        },
    )
    api.post(f"nodecluster/{cluster['uuid']}/deploy/")

    def all_deployed():
        states = [n["state"] for n in api.nodes(node_cluster=cluster["uuid"])]
        return len(states) == size and set(states) == {"Deployed"}

    wait_until(all_deployed, timeout=timeout, what=f"{size} cluster nodes Deployed", interval=0.2)
    return time.monotonic() - started


def make_account(cp: ControlPlane) -> Api:
    from accounts.audit import Actor
    from accounts.services import orgs, users

    user = users.user_signup(
        username="deploys", email="deploys@bench.test", password=secrets.token_urlsafe(16)
    )
    orgs.organization_create(actor=Actor(user=user), name="deploysorg")
    _, key = users.apikey_create(actor=Actor(user=user), user=user, label="bench")
    return Api(cp, "deploysorg", "deploys", key)


def provider_hosts() -> list[hosts.Host]:
    """Lab hosts the control plane made for this run's nodes (named after their uuids)."""
    from nodes.models import Node
    from providers.drivers.local import LocalDriver

    made = {LocalDriver.host_name(uuid) for uuid in Node.objects.values_list("uuid", flat=True)}
    return [h for h in hosts.list_hosts() if h.name in made]


def run(args, tmp: Path) -> tuple[dict, dict]:
    figures: dict = {"byoh_seconds": None, cluster_figure(args): None}
    figures.update(
        {"byoh_cp_cpu_seconds": None, f"cluster{args.cluster_size}_cp_cpu_seconds": None}
    )
    ceilings: dict = {"byoh_dockerd_seconds": None, cluster_ceiling(args): None}
    port = free_port()
    env = control_plane_env(
        database_url=os.environ["DATABASE_URL"],
        redis_url=os.environ["REDIS_URL"],
        port=port,
        var_dir=tmp / "var",
    )
    env["DC_LOG_LEVEL"] = "WARNING"
    cp = ControlPlane(port, env, tmp / "control-plane.log")
    byoh_host = None
    try:
        cp.start(timeout=90)
        api = make_account(cp)
        byoh_host = hosts.create_host(prefix="dcb-")
        ceilings["byoh_dockerd_seconds"] = round(bare_dockerd_seconds(byoh_host), 2)
        print("  BYOH: install command to Deployed ...", flush=True)
        cpu = cpu_seconds(cp)
        figures["byoh_seconds"] = round(
            byoh_seconds(api, byoh_host, tmp / "install.log", args.timeout), 2
        )
        figures["byoh_cp_cpu_seconds"] = round(cpu_seconds(cp) - cpu, 2)
        size = args.cluster_size
        print(f"  floor: {size} lab hosts at once, each to `docker info` ...", flush=True)
        ceilings[cluster_ceiling(args)] = round(hosts_with_dockerd_seconds(size), 2)
        print(f"  cluster: {size} nodes on the local provider to Deployed ...", flush=True)
        cpu = cpu_seconds(cp)
        figures[cluster_figure(args)] = round(cluster_seconds(api, size, args.timeout), 2)
        figures[f"cluster{size}_cp_cpu_seconds"] = round(cpu_seconds(cp) - cpu, 2)
    except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as error:
        print(f"  stopped: {error}\n  control plane log: {tmp / 'control-plane.log'}", flush=True)
        tail = "\n".join(cp.log_text().splitlines()[-30:]) if cp.log.exists() else ""
        print(tail, flush=True)
    finally:
        cp.stop()
        destroy([h for h in [byoh_host] if h] + provider_hosts())
    return figures, ceilings


def report(args, figures: dict, ceilings: dict) -> None:
    size = args.cluster_size
    byoh, floor = figures["byoh_seconds"], ceilings["byoh_dockerd_seconds"]
    cluster, hosts_floor = figures[cluster_figure(args)], ceilings[cluster_ceiling(args)]
    byoh_cpu, cluster_cpu = figures["byoh_cp_cpu_seconds"], figures[f"cluster{size}_cp_cpu_seconds"]
    print(
        f"  BYOH           {byoh or 0:6.1f} s install to Deployed "
        f"(the issue measured {ISSUE_BYOH_SECONDS:.0f} s)   bare dockerd to `docker info` "
        f"{floor or 0:5.1f} s   {results.ratio(byoh, floor)}; control plane CPU "
        f"{byoh_cpu or 0:.1f} s\n"
        f"  cluster of {size}  {cluster or 0:6.1f} s create to all Deployed"
        f"   {size} hosts + dockerd at once {hosts_floor or 0:5.1f} s   "
        f"{results.ratio(cluster, hosts_floor)}; control plane CPU {cluster_cpu or 0:.1f} s\n"
        "  (on a shared, busy machine seconds are wall-clock and stretch; CPU seconds are the "
        "control plane's own: web, worker and beat)",
        flush=True,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    ok, reason = lab_available()
    if not ok:
        print(f"bench/deploys.py: skipped, nothing recorded: no node lab here: {reason}")
        return 0
    base_db, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not base_db.startswith("postgres") or not redis_url:
        print("bench/deploys.py: needs DATABASE_URL (PostgreSQL) and REDIS_URL: run `make bench`")
        return 1
    import redis

    redis_url = f"{redis_url.rsplit('/', 1)[0]}/{args.redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    db_url, drop = scratch_database(base_db)
    os.environ.update(DATABASE_URL=db_url, REDIS_URL=redis_url, DC_LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockercloud.settings")
    print(f"bench/deploys.py on {os.cpu_count()} CPUs: lab hosts, one control plane", flush=True)
    with tempfile.TemporaryDirectory(prefix="dc-bench-deploys-") as tmp:
        os.environ["DC_VAR_DIR"] = str(Path(tmp) / "var")
        try:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput"],
                cwd=ROOT, env=dict(os.environ), check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            import django

            django.setup()
            # Held like the lab fixtures: a test that wants the whole lab waits for this run.
            with state.session(shared=True, timeout=300):
                figures, ceilings = run(args, Path(tmp))
        finally:
            drop()
            redis.Redis.from_url(redis_url).flushdb()
    report(args, figures, ceilings)
    results.record("deploys", figures, ceilings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
