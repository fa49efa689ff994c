"""What a task asks of the host and of bakectl, checked before a run creates anything.

`task_notes` returns the warnings a run prints (the fields bakectl does not honour);
`check_runnable` raises UsageError for what a run cannot honour at all (GPUs this host
does not have, a Windows task, a compose file using what bakectl cannot run).
"""

from __future__ import annotations

import shutil
from functools import cache

from bakectl.catalog import Task
from bakectl.catalog.models import unsupported_fields
from bakectl.engine.plan import Step, run_process
from bakectl.errors import BakectlError, UsageError


def task_notes(task: Task) -> list[str]:
    where = task.dir / "task.toml"
    return [f"{where}: {note}" for note in unsupported_fields(task.spec)]


@cache
def host_gpus() -> int:
    """GPUs docker can hand to a container here: 0 without an NVIDIA runtime."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = run_process(Step(("nvidia-smi", "-L"), mutates=False), timeout=10).stdout
    except BakectlError:  # gone since `which` saw it
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def check_runnable(task: Task) -> None:
    env = task.spec.environment
    where = task.dir / "task.toml"
    if env.gpus:
        have = host_gpus()
        if have < env.gpus:
            raise UsageError(
                f"{where}: [environment] gpus = {env.gpus}, but this host has {have} GPU(s) "
                "docker can use",
                "run the task on a host with NVIDIA GPUs and the NVIDIA container toolkit",
            )
    from bakectl.runner.compose import load_compose

    if task.env_dir.is_dir():
        load_compose(task.env_dir, "check")  # what bakectl cannot run: exit 2, saying what
    if env.os != "linux":
        raise UsageError(
            f"{where}: [environment] os = {env.os!r}: bakectl runs Linux containers only",
            "run Windows tasks with Harbor on a Windows host",
        )
