"""Wait for something a background run does (a container appears, a file is written)."""

from __future__ import annotations

import time


def wait_for(cond, timeout: float = 30, what: str = "condition"):
    """Poll `cond` every 0.2 s; return its first truthy value, fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
