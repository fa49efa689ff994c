"""Run tasks: one task's phases (task_run), scorer checks (oracle), run directories (rundir).

The library entry point is `run_task(renderer, benchmark, task_id, agent, RunOptions(...))`,
which returns a TaskResult; `bakectl run` is a thin wrapper around it.
"""

from bakectl.runner.gateway_ctl import GatewayConfig
from bakectl.runner.task_run import RunOptions, TaskResult, ensure_images, prepare, run_task

__all__ = ["GatewayConfig", "RunOptions", "TaskResult", "ensure_images", "prepare", "run_task"]
