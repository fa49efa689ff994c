"""What git says about the project checkout: commit, dirty flag, commit time.
Provenance for labels, batches and bundles; empty answers outside a checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(root: Path, *args: str) -> str:
    """`git -C root ARGS` stdout, stripped; "" when git or the checkout is missing."""
    try:
        res = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""


def commit(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def dirty(root: Path) -> bool:
    return bool(git(root, "status", "--porcelain", "--untracked-files=no"))


def source_epoch(root: Path) -> int:
    """Reproducible build time: SOURCE_DATE_EPOCH, else the last commit's time, else 0.
    Never the clock: a wall-clock time gives every rebuild a new image ID or bundle."""
    import os

    raw = os.environ.get("SOURCE_DATE_EPOCH") or git(root, "log", "-1", "--format=%ct")
    return int(raw) if raw.strip().isdigit() else 0
