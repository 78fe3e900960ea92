"""Command line: register, run, supervise, status, version."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import signal
import sys
import threading
from typing import List, Optional

from . import EXIT_FINAL, __version__
from .agent import Agent, AgentError
from .config import Config, Paths, registration_state
from .dockerd import pid_alive, read_pidfile
from .register import RegistrationError, register
from .supervise import supervise

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(paths: Paths, to_file: bool = True, to_stderr: bool = False) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    formatter = logging.Formatter(LOG_FORMAT)
    if to_file:
        os.makedirs(paths.log_dir, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            paths.agent_log, maxBytes=10 * 1024 * 1024, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(formatter)
        root.addHandler(stream)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockercloud-agent", description="dockercloud node agent %s" % __version__
    )
    parser.add_argument("--root", default="/", help=argparse.SUPPRESS)
    common = argparse.ArgumentParser(add_help=False)
    # Only for the agent's own tests: prefix every host path with DIR.
    common.add_argument("--root", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    reg = sub.add_parser("register", parents=[common], help="register this host")
    reg.add_argument("--server", required=True, help="control plane URL, e.g. https://cp:8000")
    reg.add_argument("--token", required=True, help="one-time registration token")
    sub.add_parser("run", parents=[common], help="run the agent in the foreground")
    sub.add_parser("supervise", parents=[common], help="run the agent, restarting it if it exits")
    st = sub.add_parser("status", parents=[common], help="show the registration state")
    st.add_argument("--uuid", action="store_true", help="print only the node uuid")
    sub.add_parser("version", parents=[common], help="print the agent version")
    return parser


def cmd_register(paths: Paths, args: argparse.Namespace) -> int:
    try:
        config, new = register(paths, args.server, args.token)
    except RegistrationError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    if new:
        print("registered: node %s" % config.node_uuid)
    else:
        print(
            "already registered: node %s (server %s); nothing to do"
            % (config.node_uuid, config.server)
        )
    return 0


def cmd_run(paths: Paths) -> int:
    try:
        config = Config.load(paths)
    except ValueError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    if registration_state(paths) is None:
        print(
            "error: this host is not registered: run `dockercloud-agent register --server URL "
            "--token TOKEN` first",
            file=sys.stderr,
        )
        return EXIT_FINAL
    setup_logging(paths, to_file=True, to_stderr=sys.stderr.isatty())
    agent = Agent(paths, config)

    def on_signal(signum, _frame):
        # never block in a signal handler: the main thread may hold the channel's send lock
        threading.Thread(target=agent.stop, args=(0,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return agent.run()
    except AgentError as exc:
        logging.getLogger("dockercloud").error("%s", exc)
        print("error: %s" % exc, file=sys.stderr)
        return 1


def cmd_supervise(paths: Paths) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    return supervise(paths, paths.root)


def cmd_status(paths: Paths, args: argparse.Namespace) -> int:
    config = registration_state(paths)
    if args.uuid:
        if config is None:
            return 1
        print(config.node_uuid)
        return 0
    if config is None:
        print("registered: no")
        return 1
    agent_pid = read_pidfile(paths.agent_pid)
    dockerd_pid = read_pidfile(paths.dockerd_pid)
    print("registered: yes")
    print("node_uuid: %s" % config.node_uuid)
    print("server: %s" % config.server)
    print("agent: %s" % ("running (pid %d)" % agent_pid if pid_alive(agent_pid) else "not running"))
    print(
        "dockerd: %s"
        % ("running (pid %d)" % dockerd_pid if pid_alive(dockerd_pid) else "not running")
    )
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    paths = Paths(args.root)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "register":
        return cmd_register(paths, args)
    if args.command == "run":
        return cmd_run(paths)
    if args.command == "supervise":
        return cmd_supervise(paths)
    if args.command == "status":
        return cmd_status(paths, args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
