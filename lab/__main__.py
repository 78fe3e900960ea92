"""``python -m lab``: bring lab hosts up and down by hand.

python -m lab up 3 [--sshd --ssh-password PW | --authorized-keys FILE] [--firewall-2375]
python -m lab ls
python -m lab exec h1 -- sh -c "INSTALL COMMAND, without sudo"   # from the portal or the API
python -m lab gateway
python -m lab down [NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys

from . import holder, hosts, prereq
from .net import LabError


def cmd_up(args: argparse.Namespace) -> int:
    keys = open(args.authorized_keys).read() if args.authorized_keys else None
    if args.sshd and not (args.ssh_password or keys):
        raise LabError("--sshd needs --ssh-password or --authorized-keys")
    for _ in range(args.count):
        host = hosts.create_host(prefix=args.prefix)
        try:
            if args.sshd:
                host.start_sshd(password=args.ssh_password, authorized_keys=keys)
            if args.firewall_2375:
                host.firewall_port(2375)
        except BaseException:
            host.destroy(grace=1.0)
            raise
        print(host.name, host.address, flush=True)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    for host in hosts.list_hosts():
        print(host.name, host.address, *([] if host.alive() else ["stale"]))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    for name in hosts.down(args.names or None):
        print(f"destroyed {name}", file=sys.stderr)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    print(hosts.gateway())
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise LabError("exec needs a command after --")
    host = hosts.get_host(args.name)
    env = dict(holder.BASE_ENV)
    if "TERM" in os.environ:
        env["TERM"] = os.environ["TERM"]
    # Replace this process: stdio, signals and the exit code are the command's own.
    argv = holder.nsenter_prefix(host.running_pid()) + command
    os.chdir("/")
    os.execvpe(argv[0], argv, env)  # noqa: S606  argv list, no shell: exec is the point
    return 127  # not reached


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lab", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create N hosts, print 'name address' per host")
    up.add_argument("count", type=int)
    up.add_argument("--prefix", default="h", help="names are the first free PREFIX1, PREFIX2…")
    up.add_argument("--sshd", action="store_true", help="run sshd (root login) in each host")
    up.add_argument("--ssh-password", help="root password inside the hosts (not the machine's)")
    up.add_argument("--authorized-keys", help="file of public keys allowed to log in as root")
    up.add_argument("--firewall-2375", action="store_true", help="drop inbound tcp/2375")
    up.set_defaults(func=cmd_up)
    sub.add_parser("ls", help="list hosts: name address").set_defaults(func=cmd_ls)
    down = sub.add_parser("down", help="destroy the named hosts, or all and any leftovers")
    down.add_argument("names", nargs="*")
    down.set_defaults(func=cmd_down)
    sub.add_parser("gateway", help="print the gateway address").set_defaults(func=cmd_gateway)
    ex = sub.add_parser("exec", help="run a command inside a host: exec NAME -- CMD...")
    ex.add_argument("name")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    ex.set_defaults(func=cmd_exec)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Check the machine first: a missing tool is a line naming its package, not a traceback.
    if args.cmd != "gateway":
        found = prereq.problems(sshd=getattr(args, "sshd", False))
        if found:
            for line in found:
                print(f"lab: {line}", file=sys.stderr)
            return 1
    try:
        return args.func(args)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
