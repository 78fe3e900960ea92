"""static/js/live.js: subscribe, dedupe, order, states, reconnect with catch-up (under node)."""

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("live_js_test.js")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page script")
def test_live_js_keeps_a_page_current_and_catches_up_after_a_reconnect():
    result = subprocess.run(
        ["node", str(SCRIPT)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
