"""bakectl run | oracle | prune"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bakectl.cli.common import DryRun, Registry, seconds, setup

Out = Annotated[Path, typer.Option("--out", "-o", help="Parent directory of run directories.")]
NoBuild = Annotated[
    bool,
    typer.Option("--no-build", help="Fail (exit 2) if an image is missing instead of building it."),
]


@dataclass(frozen=True)
class RunFlags:
    """The flags every form of `bakectl run` takes (one task, a batch, --bundle,
    --agent-cmd), as typed."""

    benchmark: str | None
    agent: str | None
    task_id: str | None
    model: str | None
    replay: Path | None
    record: Path | None
    upstream: str | None
    timeout: float | None
    out: Path
    no_build: bool
    registry: str | None
    dry_run: bool

    def options(self):
        """RunOptions for one task; checks --replay / --record / --upstream first."""
        from bakectl.runner import GatewayConfig, RunOptions

        return RunOptions(
            model=self.model,
            gateway=GatewayConfig.from_flags(self.replay, self.record, self.upstream),
            timeout_sec=self.timeout,
            out_dir=self.out,
            build=not self.no_build,
            dry_run=self.dry_run,
        )


def finish_single(result, dry_run: bool) -> None:
    """One task's line on the terminal; exit 1 unless it was scored (passed or failed)."""
    if dry_run:
        return
    print(result.line(), flush=True)
    if result.status not in ("passed", "failed"):
        raise typer.Exit(1)


def run(
    benchmark: Annotated[
        str | None, typer.Argument(help="Benchmark id (not with --bundle).")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="Agent id.")] = None,
    task_id: Annotated[
        str | None, typer.Option("--task-id", "-t", help="One task id: a single run.")
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            help="A batch: 'all', 'id,id,...' or '@FILE' (one id a line). "
            "Writes <out>/<batch_id>/.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", help="Batch: tasks running at once.")
    ] = 1,
    attempts: Annotated[
        int,
        typer.Option(
            "--attempts", "-k", help="Batch: attempts per task; only transient faults retry."
        ),
    ] = 1,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue this batch directory: keep finished tasks, rerun error ones.",
        ),
    ] = None,
    replay_dir: Annotated[
        Path | None,
        typer.Option(
            "--replay-dir", help="Batch: task T replays DIR/T/ or DIR/T-<agent>/ (offline)."
        ),
    ] = None,
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
        typer.Option(
            "--timeout",
            parser=seconds,
            help="Agent time limit in seconds (default: task.toml).",
        ),
    ] = None,
    out: Out = Path("runs"),
    no_build: NoBuild = False,
    registry: Registry = None,
    dry_run: DryRun = False,
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Rebuild the images from this bundle alone and rerun it."),
    ] = None,
    agent_cmd: Annotated[
        str | None,
        typer.Option("--agent-cmd", help="Run this command on the host as the agent (bash -c)."),
    ] = None,
) -> None:
    """Run tasks with one agent; the verifier scores each.

    --task-id T: one run, into <out>/<run_id>/. Exit 0 when the task was
    scored (passed or failed), 1 on error or timeout.

    --tasks all|ID,ID|@FILE, or --resume DIR: a batch, -n tasks at a time,
    into <out>/<batch_id>/ (batch.json, tasks/<task>/attempt-<k>/, summary.json).
    Exit 1 when any task ended in error or invalid, 0 otherwise, 130 when
    interrupted (continue it with --resume).
    """
    flags = RunFlags(
        benchmark=benchmark,
        agent=agent,
        task_id=task_id,
        model=model,
        replay=replay,
        record=record,
        upstream=upstream,
        timeout=timeout,
        out=out,
        no_build=no_build,
        registry=registry,
        dry_run=dry_run,
    )
    if bundle is not None or agent_cmd is not None:
        from bakectl.cli.bundle import run_special

        batch_flags = {
            "--tasks": tasks,
            "--resume": resume,
            "--replay-dir": replay_dir,
            "-n": concurrency,
            "-k": attempts,
        }
        run_special(flags, bundle_dir=bundle, agent_cmd=agent_cmd, batch_flags=batch_flags)
        return
    if benchmark is None or agent is None:
        from bakectl.errors import UsageError

        raise UsageError(
            "pass a benchmark and --agent (or --bundle DIR, or --agent-cmd CMD)",
            "e.g. bakectl run arith --agent oracle --task-id 1",
        )
    from bakectl.errors import UsageError
    from bakectl.runner.batch import check_limits

    check_limits(concurrency, attempts)
    if tasks is not None or resume is not None:
        if task_id is not None and tasks is not None:
            raise UsageError(
                "--task-id and --tasks exclude each other",
                f"one run: --task-id {task_id}; a batch: --tasks {task_id},...",
            )
        _run_batch(
            flags,
            tasks=tasks,
            resume=resume,
            concurrency=concurrency,
            attempts=attempts,
            replay_dir=replay_dir,
        )
        return
    if task_id is None:
        raise UsageError(
            "which tasks? pass --task-id T (one run) or --tasks all|ID,ID|@FILE (a batch)",
            f"e.g. bakectl run {benchmark} --agent {agent} --tasks all -n 4",
        )
    if attempts != 1 or replay_dir is not None:
        flag = "-k" if attempts != 1 else "--replay-dir"
        raise UsageError(
            f"{flag} applies to a batch",
            f"run a batch of one: --tasks {task_id} instead of --task-id {task_id}",
        )
    from bakectl.runner import run_task

    options = flags.options()
    result = run_task(setup(registry), benchmark, task_id, agent, options)
    finish_single(result, dry_run)


def _run_batch(
    flags: RunFlags,
    *,
    tasks: str | None,
    resume: Path | None,
    concurrency: int,
    attempts: int,
    replay_dir: Path | None,
) -> None:
    import sys
    from collections import Counter

    from bakectl.runner.batch import (
        STATUSES,
        BatchInterrupted,
        Progress,
        batch_gateway,
        new_batch_id,
        resolve_task_ids,
        run_rollouts,
    )

    benchmark, agent = str(flags.benchmark), str(flags.agent)
    renderer = setup(flags.registry)
    task_ids = [flags.task_id] if flags.task_id is not None else None
    if tasks is not None:
        task_ids = resolve_task_ids(renderer.catalog, benchmark, tasks)
    gateway = batch_gateway(
        replay=flags.replay,
        replay_dir=replay_dir,
        record=flags.record,
        upstream=flags.upstream,
        agent=agent,
        benchmark=benchmark,
    )
    batch_id = None if resume is not None else new_batch_id(benchmark, agent)
    batch_dir = resume if resume is not None else flags.out / str(batch_id)

    def report(results, what: str) -> None:
        counts = Counter(r.status for r in results)
        parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]) or "none finished"
        print(f"batch {batch_dir.name}: {len(results)} tasks {what}: {parts} -> {batch_dir}")

    try:
        results = run_rollouts(
            renderer,
            benchmark,
            task_ids or [],
            agent,
            model=flags.model,
            gateway=gateway,
            n_concurrent=concurrency,
            attempts=attempts,
            out_dir=flags.out,
            batch_id=batch_id,
            resume=resume,
            build=not flags.no_build,
            timeout_sec=flags.timeout,
            progress=None if flags.dry_run else Progress(),
            command=["bakectl", *sys.argv[1:]],
            dry_run=flags.dry_run,
        )
    except BatchInterrupted as exc:
        report(exc.results, "finished before the interrupt")
        print(
            f"bakectl: interrupted; continue: bakectl run {benchmark} --agent {agent} "
            f"--resume {batch_dir}",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    if flags.dry_run:
        return
    report(results, "done")
    if any(r.status in ("error", "invalid") for r in results):
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
