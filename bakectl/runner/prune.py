"""Remove what interrupted runs left behind: every object labelled dev.bakectl.run."""

from __future__ import annotations

import sys

from bakectl.engine import containers as ops
from bakectl.engine.docker import check_engine
from bakectl.errors import BakectlError


def leftovers(run_id: str | None = None) -> dict[str, list[str]]:
    """Container names, network names and image refs (or ids) carrying the run label."""
    x = ops.Executor(echo=None)
    found: dict[str, list[str]] = {}
    for kind in ("container", "network", "image"):
        res = x(ops.list_labelled(kind, run_id), phase="prune", record=False)
        if not res.ok:
            raise BakectlError(f"could not list {kind}s: {res.last_error_line()}")
        names: list[str] = []
        for line in res.stdout.splitlines():
            if kind == "image":
                ref, _, image_id = line.partition(" ")
                line = image_id if "<none>" in ref else ref
            if line.strip() and line not in names:
                names.append(line.strip())
        found[kind] = names
    return found


def prune(run_id: str | None = None, *, dry_run: bool = False) -> dict[str, list[str]]:
    check_engine()
    found = leftovers(run_id)
    steps = []
    if found["container"]:
        steps.append(ops.remove_containers(found["container"]))
    if found["network"]:
        steps.append(ops.remove_networks(found["network"]))
    if found["image"]:
        steps.append(ops.remove_images(found["image"]))
    if not steps:
        print("bakectl: nothing to prune", file=sys.stderr)
        return found
    if dry_run:
        for step in steps:
            print(f"$ {step.shell()}")
        return found
    x = ops.Executor()
    failed = [s for s in steps if not x(s, phase="prune").ok]
    if failed:
        raise BakectlError(
            f"prune failed at: {failed[0].shell()}", "the command's own error is printed above"
        )
    return found
