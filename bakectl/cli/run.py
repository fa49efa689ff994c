"""bakectl run | oracle | prune"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bakectl.cli.common import DryRun, Registry, setup

Out = Annotated[Path, typer.Option("--out", "-o", help="Parent directory of run directories.")]
NoBuild = Annotated[
    bool,
    typer.Option("--no-build", help="Fail (exit 2) if an image is missing instead of building it."),
]


def run(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id.")],
    agent: Annotated[str, typer.Option("--agent", "-a", help="Agent id.")],
    task_id: Annotated[str, typer.Option("--task-id", "-t", help="Task id.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name, given to the agent.")
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option("--replay", help="Answer model calls from this fixture (offline)."),
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option("--record", help="Record model calls into this fixture (needs --upstream)."),
    ] = None,
    upstream: Annotated[
        str | None,
        typer.Option(
            "--upstream",
            help="Provider base URL the gateway forwards to; alone: pass through, keep nothing.",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Agent time limit in seconds (default: task.toml)."),
    ] = None,
    out: Out = Path("runs"),
    no_build: NoBuild = False,
    registry: Registry = None,
    dry_run: DryRun = False,
) -> None:
    """Run one task with one agent; the verifier scores it. Writes <out>/<run_id>/.

    Exit 0 when the task was scored (passed or failed), 1 on error or timeout.
    """
    from bakectl.runner import GatewayConfig, RunOptions, run_task

    gateway = GatewayConfig.from_flags(replay, record, upstream)
    options = RunOptions(
        model=model,
        gateway=gateway,
        timeout_sec=timeout,
        out_dir=out,
        build=not no_build,
        dry_run=dry_run,
    )
    result = run_task(setup(registry), benchmark, task_id, agent, options)
    if dry_run:
        return
    print(result.line(), flush=True)
    if result.status not in ("passed", "failed"):
        raise typer.Exit(1)


def oracle(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id.")],
    task_id: Annotated[
        list[str] | None, typer.Option("--task-id", "-t", help="Task id (repeatable).")
    ] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="Every task of the benchmark.")] = False,
    out: Out = Path("runs"),
    no_build: NoBuild = False,
    registry: Registry = None,
) -> None:
    """Check the scorers: oracle must score 1 and nop below 1 on each task (exit 1 if not)."""
    import sys

    from bakectl.errors import UsageError
    from bakectl.runner import RunOptions
    from bakectl.runner.oracle import check_oracle, format_table

    if bool(task_id) == all_tasks:
        raise UsageError(
            "pass --task-id T (repeatable) or --all", f"e.g. bakectl oracle {benchmark} --all"
        )
    options = RunOptions(out_dir=out, build=not no_build)
    rows = check_oracle(
        setup(registry),
        benchmark,
        None if all_tasks else task_id,
        options,
        on_row=lambda r: print(
            f"bakectl: {benchmark}/{r.task}: {'ok' if r.ok else 'NOT OK'}", file=sys.stderr
        ),
    )
    print(format_table(rows))
    if not all(r.ok for r in rows):
        raise typer.Exit(1)


def prune(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Only what this run left behind.")
    ] = None,
    dry_run: DryRun = False,
) -> None:
    """Remove containers, networks and images a run left behind (label dev.bakectl.run)."""
    from bakectl.runner.prune import prune as do_prune

    do_prune(run_id, dry_run=dry_run)
