"""Wait for something a background run does (a container appears, a file is written)."""

from __future__ import annotations

import time
from pathlib import Path


def wait_for(cond, timeout: float = 30, what: str = "condition"):
    """Poll `cond` every 0.2 s; return its first truthy value, fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def process_alive(pid: int) -> bool:
    """Running, and not a zombie (a killed child not yet reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
