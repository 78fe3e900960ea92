"""pytest plugin for CI: a skipped (or xfailed) test fails the run unless its reason is allowed.

Active when ``DC_CI=1`` (set by ``.ci/run``); loaded by ``scripts/test.sh`` with
``-p pytest_noskip`` for every suite it runs. The allow-list is ``tests/skip_allowlist.txt``:
one reason a line (matched as a substring of the skip reason), ``#`` starts a comment. It is
meant to stay short; today it is empty. So CI can never pass green on a smaller suite: a lab,
a browser or a service that went missing shows up as a red run, not a quiet "skipped".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ALLOWLIST = Path(
    os.environ.get("DC_SKIP_ALLOWLIST")
    or Path(__file__).resolve().parent.parent / "tests" / "skip_allowlist.txt"
)


def allowed_reasons(path: Path = ALLOWLIST) -> list[str]:
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def skip_reason(report) -> str:
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail or 'no reason given'}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class NoSkip:
    def __init__(self, allowed: list[str]) -> None:
        self.allowed = allowed
        self.refused: list[tuple[str, str]] = []

    def _check(self, report) -> None:
        if not report.skipped:
            return
        reason = skip_reason(report)
        if not any(entry in reason for entry in self.allowed):
            self.refused.append((report.nodeid, reason))

    def pytest_runtest_logreport(self, report) -> None:
        self._check(report)

    def pytest_collectreport(self, report) -> None:
        self._check(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.refused:
            return
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        title = f"CI: {len(self.refused)} skipped, reason not on tests/{ALLOWLIST.name}"
        lines = [f"SKIPPED {nodeid}: {reason}" for nodeid, reason in self.refused]
        lines.append("A smaller suite does not pass: fix the cause, or allow-list the reason.")
        if reporter:
            reporter.write_line("")
            reporter.write_sep("=", title, red=True, bold=True)
            for line in lines:
                reporter.write_line(line, red=True)
        else:
            print(title, *lines, sep="\n")
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    # Only the controlling process judges: xdist workers forward their reports to it.
    if os.environ.get("DC_CI") == "1" and not hasattr(config, "workerinput"):
        config.pluginmanager.register(NoSkip(allowed_reasons()), "dc-noskip")
