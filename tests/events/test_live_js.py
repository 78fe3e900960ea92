"""static/js/live.js: subscribe, dedupe, order, states, reconnect with catch-up (under node)."""

import subprocess
from pathlib import Path

from tests.browser.require import node_missing, require

SCRIPT = Path(__file__).with_name("live_js_test.js")


def test_live_js_keeps_a_page_current_and_catches_up_after_a_reconnect():
    require(node_missing())  # a skip, or a failure with DC_REQUIRE_LAB=1
    result = subprocess.run(
        ["node", str(SCRIPT)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
