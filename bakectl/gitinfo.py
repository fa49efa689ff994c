"""What git says about the project checkout: commit, dirty flag, commit time.
Provenance for labels, batches and bundles; empty answers outside a checkout."""

from __future__ import annotations

import shutil
from pathlib import Path


def git(root: Path, *args: str) -> str:
    """`git -C root ARGS` stdout, stripped; "" when git or the checkout is missing."""
    from bakectl.engine.plan import Step, run_process

    if shutil.which("git") is None:
        return ""
    res = run_process(Step(("git", "-C", str(root), *args), mutates=False), timeout=10)
    return res.stdout.strip() if res.ok else ""


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
