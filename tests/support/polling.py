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


def containers_of(pid: int) -> list[str]:
    """The running bakectl containers the process `pid` owns (its dev.bakectl.owner label,
    host/pid/start): other runs on the same engine, another engineer's test of the same
    name included, are never mistaken for it."""
    import subprocess

    out = subprocess.run(
        [
            "docker",
            "ps",
            "--filter",
            "label=dev.bakectl.owner",
            "--format",
            '{{.Names}} {{.Label "dev.bakectl.owner"}}',
        ],
        capture_output=True,
        text=True,
    ).stdout
    names = []
    for line in out.splitlines():
        name, _, owner = line.partition(" ")
        parts = owner.split("/")
        if len(parts) == 3 and parts[1] == str(pid):
            names.append(name)
    return names
