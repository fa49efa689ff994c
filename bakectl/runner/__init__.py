"""Run tasks: one task's phases (task_run), batches (batch), reports and gates,
bundles, re-scoring, run directories (rundir).

The library entry points are `run_task(renderer, benchmark, task_id, agent, RunOptions(...))`
and `run_rollouts(...)`; `bakectl run` is a thin wrapper around them. Names load on first
use, so `bakectl report` does not pay for the catalog and renderer it never needs.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "GatewayConfig": "bakectl.runner.gateway_ctl",
    "RunOptions": "bakectl.runner.task_run",
    "TaskResult": "bakectl.runner.task_run",
    "ensure_images": "bakectl.runner.task_run",
    "prepare": "bakectl.runner.task_run",
    "run_task": "bakectl.runner.task_run",
    "run_rollouts": "bakectl.runner.batch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bakectl.runner' has no attribute {name!r}")
