"""bakectl run | oracle | prune: flags and output only; bakectl.runner executes.

Every form of `bakectl run` is a job (one directory, job.json + tasks/<task>/attempt-<k>/):
a benchmark with --task-id T or --tasks SEL, --resume JOB, --bundle DIR, --agent-cmd CMD.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from bakectl.cli.common import (
    BaseImages,
    DryRun,
    Registry,
    SourceName,
    SourcePath,
    seconds,
    setup,
    setup_for_job,
    source,
)

Out = Annotated[
    Path | None, typer.Option("--out", "-o", help="Parent directory of job directories [runs].")
]
NoBuild = Annotated[
    bool,
    typer.Option("--no-build", help="Fail (exit 2) if an image is missing instead of building it."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Do not echo the command lines.")]
Json = Annotated[
    bool, typer.Option("--json", help="Print the result records (a JSON list) on stdout.")
]
Limit = Annotated[
    int | None, typer.Option("--limit", help="Only the first N tasks of the selection.")
]


@dataclass(frozen=True)
class RunFlags:
    """The flags of `bakectl run` as typed (None: not given)."""

    benchmark: str | None = None
    agent: str | None = None
    agent_version: str | None = None
    task_id: str | None = None
    tasks: str | None = None
    limit: int | None = None
    concurrency: int | None = None
    attempts: int | None = None
    retries: int | None = None
    resume: Path | None = None
    replay_dir: Path | None = None
    model: str | None = None
    replay: Path | None = None
    record: Path | None = None
    upstream: str | None = None
    timeout: float | None = None
    out: Path | None = None
    no_build: bool = False
    registry: str | None = None
    dry_run: bool = False
    bundle: Path | None = None
    agent_cmd: str | None = None
    json: bool = False
    quiet: bool = False
    path: Path | None = None  # -p PATH: the task folder the benchmark is
    name: str | None = None
    base_images: tuple[str, ...] = ()

    def setup(self, registry: str | None = None):
        """The renderer for these flags' task source (the catalog, or -p PATH)."""
        return setup(
            registry or self.registry,
            path=self.path,
            name=self.name,
            base_images=list(self.base_images),
        )

    @property
    def out_dir(self) -> Path:
        return self.out or Path("runs")

    def model_source(self, n_tasks: int):
        from bakectl.runner.batch import model_source_from_flags

        return model_source_from_flags(
            replay=self.replay,
            replay_dir=self.replay_dir,
            record=self.record,
            upstream=self.upstream,
            n_tasks=n_tasks,
        )

    def options(self):
        """RunOptions of one task (--bundle, --agent-cmd); checks the model flags first."""
        from bakectl.runner import GatewayConfig, RunOptions

        return RunOptions(
            model=self.model,
            gateway=GatewayConfig.from_flags(self.replay, self.record, self.upstream),
            timeout_sec=self.timeout,
            out_dir=self.out_dir,
            build=not self.no_build,
            dry_run=self.dry_run,
            echo=None if self.quiet else sys.stderr,
        )


def run(
    benchmark: Annotated[
        str | None, typer.Argument(help="Benchmark id (not with --bundle or --resume).")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="Agent id.")] = None,
    agent_version: Annotated[
        str | None,
        typer.Option(
            "--agent-version",
            help="An installed agent's upstream version instead of its pin (job.json keeps it).",
        ),
    ] = None,
    task_id: Annotated[
        str | None, typer.Option("--task-id", "-t", help="One task: a job of one.")
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            help="'all', 'id,id,glob*' or '@FILE' (one id or glob a line); default with -p: all.",
        ),
    ] = None,
    limit: Limit = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-n", help="Attempts running at once [1].")
    ] = None,
    attempts: Annotated[
        int | None,
        typer.Option("--attempts", "-k", help="Independent attempts per task (pass@k) [1]."),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option("--retries", help="Retries of an attempt that met a transient fault [0]."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume", help="Continue this job directory as job.json says: no other flag needed."
        ),
    ] = None,
    replay_dir: Annotated[
        Path | None,
        typer.Option("--replay-dir", help="Task T replays DIR/T/ or DIR/T-<agent>/ (offline)."),
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
    out: Out = None,
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
    json: Json = False,
    quiet: Quiet = False,
    path: SourcePath = None,
    name: SourceName = None,
    base_image: BaseImages = None,
) -> None:
    """Run tasks with one agent; the verifier scores each. Every run is a job:
    <out>/<job_id>/ holds job.json, tasks/<task>/attempt-<k>/ and summary.json.

    Exit 1 when any attempt ended in error or invalid (an infrastructure fault, never
    the agent's failure), 0 otherwise, 130 when interrupted (continue it with
    --resume JOB alone).
    """
    flags = RunFlags(
        benchmark=benchmark,
        agent=agent,
        agent_version=agent_version,
        task_id=task_id,
        tasks=tasks,
        limit=limit,
        concurrency=concurrency,
        attempts=attempts,
        retries=retries,
        resume=resume,
        replay_dir=replay_dir,
        model=model,
        replay=replay,
        record=record,
        upstream=upstream,
        timeout=timeout,
        out=out,
        no_build=no_build,
        registry=registry,
        dry_run=dry_run,
        bundle=bundle,
        agent_cmd=agent_cmd,
        json=json,
        quiet=quiet,
        path=path,
        name=name,
        base_images=tuple(base_image or ()),
    )
    from bakectl.errors import UsageError
    from bakectl.runner.batch import check_limits

    check_limits(
        1 if concurrency is None else concurrency,
        1 if attempts is None else attempts,
        0 if retries is None else retries,
    )
    if bundle is not None or agent_cmd is not None:
        _run_special(flags)
        return
    if resume is not None:
        _run_resumed(flags)
        return
    if path is not None or name is not None:
        benchmark = source(benchmark, path, name, base_images=base_image)[1]
    if benchmark is None or agent is None:
        raise UsageError(
            "pass a benchmark and --agent (or --resume JOB, --bundle DIR, --agent-cmd CMD)",
            "e.g. bakectl run arith --agent oracle --task-id 1",
        )
    if task_id is not None and tasks is not None:
        raise UsageError(
            "--task-id and --tasks exclude each other",
            f"one task: --task-id {task_id}; several: --tasks {task_id},...",
        )
    if task_id is None and tasks is None and path is not None:
        tasks = "all"  # as `harbor run -p`: a task folder is its task, a dataset all of them
    if task_id is None and tasks is None:
        raise UsageError(
            "which tasks? pass --task-id T or --tasks all|ID,ID|GLOB|@FILE",
            f"e.g. bakectl run {benchmark} --agent {agent} --tasks all -n 4",
        )
    from bakectl.cli.selection import select_tasks

    renderer = flags.setup()
    if agent_version is not None:
        # As `build eval --agent-version`: the catalog answers with the agent at that
        # version (its eval image, its labels, job.json's agent_version). Checked now
        # (an agent without a pin is refused), before anything is written.
        renderer.catalog.agent_versions[agent] = agent_version
        renderer.catalog.agent(agent)
    known = renderer.catalog.task_ids(benchmark) if renderer.catalog.benchmark(benchmark) else []
    ids = select_tasks(
        [task_id] if task_id is not None else str(tasks),
        known,
        limit=limit,
        flag="--task-id" if task_id is not None else "--tasks",
        where=f"benchmark {benchmark!r}",
    )
    from bakectl.runner.batch import run_rollouts

    def go(**kw):
        return run_rollouts(
            renderer,
            benchmark,
            ids,
            agent,
            model=model,
            model_source=flags.model_source(len(ids)),
            n_concurrent=concurrency or 1,
            attempts=1 if attempts is None else attempts,
            retries=retries or 0,
            out_dir=flags.out_dir,
            timeout_sec=timeout,
            registry=registry,
            build=not no_build,
            **kw,
        )

    _report(flags, go, single=len(ids) == 1 and (attempts or 1) == 1)


# -- --resume --------------------------------------------------------------------------------


def _contradictions(flags: RunFlags, record) -> list[tuple[str, str, str]]:
    """(flag, as given, as the job record says) for every given flag the record contradicts."""
    given: list[tuple[str, Any, Any]] = [
        ("BENCHMARK", flags.benchmark, record.source.benchmark),
        ("--agent", flags.agent, record.agent),
        ("--agent-version", flags.agent_version, record.agent_version),
        ("--model", flags.model, record.model),
        ("-n", flags.concurrency, record.n_concurrent),
        ("-k", flags.attempts, record.attempts),
        ("--retries", flags.retries, record.retries),
        ("--timeout", flags.timeout, record.agent_timeout_sec),
        ("--registry", flags.registry, record.registry),
    ]
    out = [(f, str(v), str(r)) for f, v, r in given if v is not None and v != r]
    if flags.no_build and not record.no_build:
        out.append(("--no-build", "given", "the job builds what is missing"))
    if flags.task_id is not None or flags.tasks is not None or flags.limit is not None:
        sel = flags.task_id if flags.task_id is not None else flags.tasks
        out.append(
            ("--task-id" if flags.task_id else "--tasks", str(sel), ",".join(record.task_ids))
        )
    if any(v is not None for v in (flags.replay, flags.replay_dir, flags.record, flags.upstream)):
        src = flags.model_source(len(record.task_ids))
        if src != record.model_source:
            have = record.model_source
            out.append(
                (
                    "the model source",
                    f"{src.kind} {src.location or src.upstream or ''}".strip(),
                    f"{have.kind} {have.location or have.upstream or ''}".strip(),
                )
            )
    return out


def restore_agent_version(catalog, record, job_dir: Path) -> None:
    """A resumed job runs the agent version job.json names: an installed agent at another
    release than its pin (--agent-version, or the pin moved since) continues at the version
    it ran; an agent without a pin whose files changed version cannot (exit 2)."""
    from bakectl.errors import UsageError

    ag = catalog.agent(record.agent)
    if not record.agent_version or ag.spec.version == record.agent_version:
        return
    if ag.spec.pinned:
        catalog.agent_versions[record.agent] = record.agent_version
        catalog.agent(record.agent)  # the version is checked as --agent-version's is
        return
    raise UsageError(
        f"--resume {job_dir}: the job ran agent {record.agent} version "
        f"{record.agent_version}; the catalog now has {ag.spec.version}",
        "start a new job for the new agent version",
    )


def _run_resumed(flags: RunFlags) -> None:
    from bakectl.errors import UsageError
    from bakectl.runner import job as jobs
    from bakectl.runner.batch import run_job

    assert flags.resume is not None
    record = jobs.read_job(flags.resume)
    if record.source.kind == "bundle" or record.agent_cmd:
        what = "--agent-cmd" if record.agent_cmd else f"--bundle {record.source.location}"
        raise UsageError(
            f"--resume {flags.resume}: a {what} job reruns, it does not resume",
            f"run it again: bakectl run {what} ...",
        )
    bad = _contradictions(flags, record)
    if flags.out is not None and Path(flags.out).resolve() != Path(flags.resume).resolve().parent:
        bad.append(("--out", str(flags.out), str(Path(flags.resume).resolve().parent)))
    if bad:
        flag, value, have = bad[0]
        raise UsageError(
            f"--resume {flags.resume}: {flag} {value} contradicts the job record ({have})",
            f"drop {flag}: bakectl run --resume {jobs.display(flags.resume)} restores the rest",
        )
    renderer = setup_for_job(record)  # a -p job: the same task folder, the same name
    restore_agent_version(renderer.catalog, record, flags.resume)

    def go(**kw):
        return run_job(renderer, record, job_dir=Path(flags.resume), **kw)

    _report(flags, go, single=len(record.task_ids) == 1 and record.attempts == 1)


# -- output ------------------------------------------------------------------------------------


def _report(flags: RunFlags, go, *, single: bool) -> None:
    """Run a job, print its lines (or the result records with --json), choose the exit code."""
    import json as jsonlib
    from collections import Counter

    from bakectl.runner.batch import STATUSES, BatchInterrupted, Progress
    from bakectl.runner.job import display
    from bakectl.runner.progress import Null

    echo = None if (flags.quiet or not single) else sys.stderr
    progress = None
    if not flags.dry_run:
        out = Null() if flags.json else sys.stdout
        progress = Progress(out=out, tty=False if single else None)
    try:
        results = go(progress=progress, dry_run=flags.dry_run, echo=echo)
        interrupted = None
    except BatchInterrupted as exc:
        results, interrupted = exc.results, exc
    if flags.dry_run:
        return
    if flags.json:
        print(jsonlib.dumps([r.to_json() for r in results], indent=2))
    job_dir = results[0].run_dir.parents[2] if results and results[0].run_dir else None
    if interrupted is not None:
        job_dir = interrupted.batch_dir
        for r in results:
            if r.fault is not None and r.fault.kind == "interrupted":
                print(
                    f"bakectl: interrupted {r.benchmark}/{r.task} x {r.agent} attempt "
                    f"{r.record.attempt if r.record else 1} ({r.message}) -> {display(r.run_dir)}",
                    file=sys.stderr,
                )
        print(
            f"bakectl: interrupted; continue: bakectl run --resume {display(job_dir)}",
            file=sys.stderr,
        )
        raise typer.Exit(130)
    counts = Counter(r.status for r in results)
    parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]) or "nothing ran"
    if job_dir is not None and not flags.json and not single:
        print(f"job {job_dir.name}: {len(results)} attempt(s): {parts} -> {display(job_dir)}")
    if any(r.status in ("error", "invalid") for r in results):
        raise typer.Exit(1)


# -- --bundle / --agent-cmd ---------------------------------------------------------------------


def _run_special(flags: RunFlags) -> None:
    """`bakectl run --bundle DIR [--task-id T]` or `bakectl run B -t T --agent-cmd CMD`."""
    from bakectl.errors import UsageError

    if flags.bundle is not None and flags.agent_cmd is not None:
        raise UsageError(
            "--bundle and --agent-cmd exclude each other",
            "--bundle reruns a bundle's agent image; --agent-cmd runs a command on this host",
        )
    which = "--bundle" if flags.bundle is not None else "--agent-cmd"
    batch_flags = {
        "--tasks": flags.tasks,
        "--resume": flags.resume,
        "--replay-dir": flags.replay_dir,
        "-n": flags.concurrency,
        "-k": flags.attempts,
        "--retries": flags.retries,
        "--limit": flags.limit,
    }
    if flags.agent_version is not None:
        raise UsageError(
            f"--agent-version does not apply to {which}: "
            + (
                "the bundle's images are rebuilt as they are"
                if flags.bundle
                else "the agent is a command on this host"
            ),
            "drop --agent-version",
        )
    used = [f for f, v in batch_flags.items() if v is not None]
    if used:
        raise UsageError(
            f"{used[0]} does not apply to {which}, which runs each task once",
            f"drop {used[0]}" + (" (--bundle runs each of its tasks)" if flags.bundle else ""),
        )
    if flags.bundle is not None:
        _run_bundle(flags)
    else:
        _run_agent_command(flags)


def _run_bundle(flags: RunFlags) -> None:
    """bakectl run --bundle DIR [--task-id T]: rebuild from the bundle alone, rerun, one job."""
    from bakectl.bundle.core import load_bundle, run_bundle
    from bakectl.errors import UsageError

    assert flags.bundle is not None
    options = flags.options()
    bundle = load_bundle(flags.bundle)
    for flag, value, have in (
        ("benchmark", flags.benchmark, bundle.manifest.benchmark["name"]),
        ("--agent", flags.agent, bundle.manifest.agent["name"]),
    ):
        if value is not None and value != have:
            raise UsageError(
                f"{flag} {value!r}: the bundle is {have!r}", f"drop {flag}; the bundle says it"
            )
    from bakectl.cli.selection import select_tasks

    ids = select_tasks([flags.task_id], bundle.task_ids) if flags.task_id else None

    def show(result, b) -> None:
        if flags.dry_run or flags.json:
            return
        line = result.line()
        entry = b.manifest.tasks.get(result.task)
        recorded = entry.recorded if entry else None
        if recorded and recorded.get("reward") is not None:
            line += f"  (bundle recorded: {recorded.get('status')} reward={recorded['reward']:g})"
        print(line, flush=True)

    results = run_bundle(bundle, ids, options, registry=flags.registry, on_result=show)
    _single_end(flags, results)


def _run_agent_command(flags: RunFlags) -> None:
    """bakectl run B --task-id T --agent-cmd CMD: CMD on this host, the real verifier."""
    from bakectl.errors import UsageError
    from bakectl.runner.local import run_local_job

    if flags.agent is not None:
        raise UsageError(
            "--agent and --agent-cmd exclude each other",
            "--agent runs an agent image; --agent-cmd runs a command on this host",
        )
    if not flags.benchmark or not flags.task_id:
        raise UsageError(
            "--agent-cmd needs a benchmark and --task-id",
            'e.g. bakectl run arith --task-id 1 --agent-cmd "python3 my_agent.py"',
        )
    options = flags.options()
    result = run_local_job(
        flags.setup(), flags.benchmark, flags.task_id, flags.agent_cmd or "", options
    )
    if not flags.dry_run and not flags.json:
        print(result.line(), flush=True)
    _single_end(flags, [result])


def _single_end(flags: RunFlags, results) -> None:
    import json as jsonlib

    if flags.dry_run:
        return
    if flags.json:
        print(jsonlib.dumps([r.to_json() for r in results], indent=2))
    if any(r.status in ("error", "invalid") for r in results):
        raise typer.Exit(1)


# -- oracle, prune ------------------------------------------------------------------------------


def oracle(
    benchmark: Annotated[
        str | None, typer.Argument(help="Benchmark id (or -p PATH).", show_default=False)
    ] = None,
    task_id: Annotated[
        list[str] | None,
        typer.Option("--task-id", "-t", help="Task id or glob (repeatable)."),
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option("--tasks", help="'all', 'id,id,glob*' or '@FILE' (default with -p: all)."),
    ] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="Every task of the benchmark.")] = False,
    limit: Limit = None,
    out: Out = None,
    no_build: NoBuild = False,
    registry: Registry = None,
    quiet: Quiet = False,
    path: SourcePath = None,
    name: SourceName = None,
    base_image: BaseImages = None,
) -> None:
    """Check the scorers: oracle must score 1 and nop below 1 on each task (exit 1 if not).
    One job directory: the oracle's attempts, and the nop job inside it (<job>/nop/)."""
    from bakectl.cli.selection import select_tasks
    from bakectl.errors import UsageError
    from bakectl.runner import RunOptions
    from bakectl.runner.oracle import check_oracle, format_table

    renderer, benchmark = source(
        benchmark,
        path,
        name,
        registry=registry,
        base_images=base_image,
        example="bakectl oracle terminal-tasks --all, or bakectl oracle -p TASKS/ --all",
    )
    given = [x for x in (task_id, tasks, all_tasks or None) if x]
    if not given and path is not None:
        all_tasks = True  # as `harbor run -p`: a task folder is its task, a dataset all of them
        given = [True]
    if len(given) != 1:
        where = f"-p {path}" if path is not None else benchmark
        raise UsageError(
            "pass one of --task-id T (repeatable), --tasks SEL or --all",
            f"e.g. bakectl oracle {where} --all",
        )
    renderer.catalog.benchmark(benchmark)
    known = renderer.catalog.task_ids(benchmark)
    sel: str | list[str] = "all" if all_tasks else (tasks if tasks is not None else task_id or [])
    ids = select_tasks(sel, known, limit=limit, where=f"benchmark {benchmark!r}")
    options = RunOptions(out_dir=out or Path("runs"), build=not no_build, echo=None)
    rows, job_dir = check_oracle(
        renderer,
        benchmark,
        ids,
        options,
        on_row=lambda r: print(
            f"bakectl: {benchmark}/{r.task}: {'ok' if r.ok else 'NOT OK'}", file=sys.stderr
        ),
    )
    print(format_table(rows))
    print(f"job: {job_dir}")
    if not all(r.ok for r in rows):
        raise typer.Exit(1)


def prune(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Only what this run left behind.")
    ] = None,
    all_runs: Annotated[
        bool,
        typer.Option("--all", help="Every bakectl object, also of runs whose owner still runs."),
    ] = False,
    dry_run: DryRun = False,
) -> None:
    """Remove containers, networks and images interrupted runs left behind (label
    dev.bakectl.run): those whose owner process is gone, or --run-id's, or --all."""
    from bakectl.runner.prune import prune as do_prune

    do_prune(run_id, everything=all_runs, dry_run=dry_run)
