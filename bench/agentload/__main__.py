"""One load process: `python bench/agentload URL CREDS INTERVAL ADDR`."""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentload import client_main  # noqa: E402

url, path, interval, local = sys.argv[1:5]
asyncio.run(client_main(url, path, int(interval), local))
