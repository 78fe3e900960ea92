"""Tools a test cannot run without: skip loudly where missing, fail with DC_REQUIRE_LAB=1.

As `lab.pytest_plugin.require_lab` does for the lab: CI sets DC_REQUIRE_LAB=1, so a machine
that lost chromium, playwright or node fails instead of passing as "skipped".
"""

import os
import shutil
import warnings

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright launches it, never downloads a browser


def require(missing: str) -> None:
    """Nothing when `missing` is empty; else fail under DC_REQUIRE_LAB=1, or skip with a
    warning in the summary too (a skip reason alone is easy to miss in a long run)."""
    if not missing:
        return
    if os.environ.get("DC_REQUIRE_LAB") == "1":
        pytest.fail(f"DC_REQUIRE_LAB=1 but {missing}", pytrace=False)
    warnings.warn(f"NOT RUN: {missing}", pytest.PytestWarning, stacklevel=2)
    pytest.skip(f"NOT RUN: {missing}")


def browser_missing() -> str:
    """Why the real-browser tests cannot run here ("" when they can)."""
    try:
        import playwright.sync_api  # noqa: F401 (only whether it imports)
    except ImportError:
        return "the playwright package is missing (pip install -r requirements-dev.txt)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium; make test installs it)"
    return ""


def node_missing() -> str:
    if shutil.which("node") is None:
        return "node is missing (apt-get install nodejs; make test installs it)"
    return ""
