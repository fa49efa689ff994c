"""bakectl bundle | score, and the --bundle / --agent-cmd forms of bakectl run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bakectl.cli.common import BaseImages, Registry, SourceName, SourcePath, setup
from bakectl.cli.common import source as task_source
from bakectl.cli.run import RunFlags, finish_single


def _task_list(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    ids = [t.strip() for t in raw.split(",") if t.strip()]
    if not ids:
        from bakectl.errors import UsageError

        raise UsageError(f"--tasks {raw!r} names no task", "e.g. --tasks all or --tasks 1,2")
    return ids


def _command_line(argv: list[str]) -> list[str]:
    """The command as typed, the output directory as <bundle> (so it does not change bytes)."""
    from bakectl.bundle.core import OUT_PLACEHOLDER

    out, skip = ["bakectl"], False
    for arg in argv:
        if skip:
            out.append(OUT_PLACEHOLDER)
            skip = False
        elif arg in ("-o", "--out"):
            out.append(arg)
            skip = True
        elif arg.startswith("--out="):
            out.append(f"--out={OUT_PLACEHOLDER}")
        elif arg.startswith("-o") and len(arg) > 2:
            out.append(f"-o{OUT_PLACEHOLDER}")
        else:
            out.append(arg)
    return out


def bundle(
    out: Annotated[Path, typer.Option("--out", "-o", help="The bundle directory to write.")],
    what: Annotated[
        str | None,
        typer.Argument(
            metavar="SOURCE",
            help="A task run dir, a batch dir, a bundle, or a benchmark id (--agent); or -p PATH.",
            show_default=False,
        ),
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Bundle BENCHMARK x this agent.")
    ] = None,
    tasks: Annotated[
        str | None, typer.Option("--tasks", help="all, or task ids: 1,2 (default: all).")
    ] = None,
    fixtures: Annotated[
        Path | None,
        typer.Option(
            "--fixtures",
            help="Replay fixtures to include: a fixture dir, or a parent of <task>-<agent>/.",
        ),
    ] = None,
    capture_env: Annotated[
        bool,
        typer.Option(
            "--capture-env", help="Record environment values too (secret-looking ones redacted)."
        ),
    ] = False,
    registry: Registry = None,
    folder: SourcePath = None,
    name: SourceName = None,
    base_image: BaseImages = None,
) -> None:
    """Write a self-contained bundle that rebuilds and reruns anywhere (run --bundle).

    SOURCE: a task run or batch directory (bundled as it ran, with its fixtures), a
    benchmark id with --agent (before any run; --fixtures adds replay fixtures), or a
    bundle (nothing to do). The bundle holds the resolved bake definition, the rendered
    Dockerfiles, the build contexts, tasks/ (agent-visible), scorer/ (tests, solution),
    fixtures/, images.json and manifest.json. Same inputs, same bytes.
    """
    from bakectl.bundle import core as b
    from bakectl.errors import UsageError

    ids = _task_list(tasks)
    renderer = None
    if folder is not None or what is None:
        # -p PATH: the task folder is the benchmark, bundled before any run.
        renderer, bench = task_source(
            what,
            folder,
            name,
            registry=registry,
            base_images=base_image,
            example="bakectl bundle -p TASKS/ --agent oracle -o DIR",
        )
        what = bench
        if not agent:
            raise UsageError(
                f"to bundle -p {folder}, pass --agent",
                f"e.g. bakectl bundle -p {folder} --agent oracle -o DIR",
            )
    source = what
    path = Path(source)
    if renderer is not None:
        b.check_out(out)
        src = b.source_for_catalog(renderer, source, agent, ids, fixtures)
    elif path.is_dir() and b.is_bundle(path):
        if agent or tasks or fixtures:
            raise UsageError(
                f"{source} is already a bundle; --agent, --tasks and --fixtures do not apply",
                f"copy it as it is: bakectl bundle {source} -o DIR",
            )
        if b.copy_bundle(path, out):
            print(f"{source} is already a bundle; copied unchanged to {out}")
        else:
            print(f"{source} is already a bundle; nothing to do")
        return
    elif path.is_dir() and ((path / "run.json").is_file() or (path / "batch.json").is_file()):
        if agent or fixtures:
            raise UsageError(
                "--agent and --fixtures are for bundling a benchmark before a run",
                f"bundle the run as it ran: bakectl bundle {source} -o DIR",
            )
        b.check_out(out)
        src = b.source_for_runs(path)
        if ids and ids != ["all"]:
            unknown = [t for t in ids if t not in src.tasks]
            if unknown:
                raise UsageError(
                    f"{source} has no run of task(s) {', '.join(unknown)}",
                    f"its tasks: {', '.join(src.tasks)}",
                )
            src.tasks = [t for t in src.tasks if t in ids]
    elif path.exists():
        raise UsageError(
            f"{source} is not a run, a batch or a bundle (no run.json, batch.json, manifest.json)",
            "give a run directory, or a benchmark id with --agent",
        )
    else:
        if not agent:
            raise UsageError(
                f"{source} is not a run directory; to bundle benchmark {source!r}, pass --agent",
                f"e.g. bakectl bundle {source} --agent oracle --tasks all -o DIR",
            )
        b.check_out(out)
        renderer = setup(registry, base_images=base_image)
        src = b.source_for_catalog(renderer, source, agent, ids, fixtures)
    if renderer is None:
        renderer = setup(registry, base_images=base_image)
    made = b.make_bundle(
        renderer,
        src,
        out,
        command=_command_line(sys.argv[1:]),
        capture_env=capture_env,
    )
    print(f"bundle: {made} ({src.benchmark} x {src.agent}, tasks {', '.join(src.tasks)})")


def score(
    run: Annotated[Path, typer.Argument(help="A task run directory or a batch directory.")],
    tasks: Annotated[
        str | None, typer.Option("--tasks", help="Only these task ids of a batch: 1,2.")
    ] = None,
) -> None:
    """Score a finished run again with the tasks' current tests/, without the agent.

    RUN is a task run directory or a batch directory (each task's last attempt). The
    verifier runs on the run's eval image with its artifacts/; the new result goes to
    RUN/rescore-<time>/ beside the old one. Exit 1 when a task could not be scored.
    """
    from bakectl.catalog import Catalog, find_root
    from bakectl.results.score import rescore_path

    catalog = Catalog(find_root())  # no renderer: re-scoring builds nothing
    rows = rescore_path(
        catalog, run, _task_list(tasks), on_row=lambda r: print(r.line(), flush=True)
    )
    if any(r.status == "error" for r in rows):
        raise typer.Exit(1)


# -- bakectl run --bundle / --agent-cmd (called from bakectl.cli.run) -------------------------


def run_special(
    flags: RunFlags,
    *,
    bundle_dir: Path | None,
    agent_cmd: str | None,
    batch_flags: dict[str, object],
) -> None:
    """`bakectl run --bundle DIR [--task-id T]` or `bakectl run B -t T --agent-cmd CMD`."""
    from bakectl.errors import UsageError

    if bundle_dir is not None and agent_cmd is not None:
        raise UsageError(
            "--bundle and --agent-cmd exclude each other",
            "--bundle reruns a bundle's agent image; --agent-cmd runs a command on this host",
        )
    used = [flag for flag, value in batch_flags.items() if value not in (None, False, 1)]
    if used:
        which = "--bundle" if bundle_dir is not None else "--agent-cmd"
        raise UsageError(
            f"{used[0]} is a batch flag; {which} runs one task at a time",
            f"drop {used[0]}" + (" (--bundle runs each of its tasks)" if bundle_dir else ""),
        )
    options = flags.options()
    if bundle_dir is not None:
        run_from_bundle(bundle_dir, flags, options)
    else:
        run_agent_command(agent_cmd or "", flags, options)


def run_from_bundle(bundle_dir: Path, flags: RunFlags, options) -> None:
    """bakectl run --bundle DIR [--task-id T]: rebuild from the bundle alone, rerun."""
    from bakectl.bundle.core import load_bundle, run_bundle
    from bakectl.errors import UsageError

    bundle = load_bundle(bundle_dir)
    for flag, value, have in (
        ("benchmark", flags.benchmark, bundle.manifest["benchmark"]["name"]),
        ("--agent", flags.agent, bundle.manifest["agent"]["name"]),
    ):
        if value is not None and value != have:
            raise UsageError(
                f"{flag} {value!r}: the bundle is {have!r}", f"drop {flag}; the bundle says it"
            )

    def show(result, b) -> None:
        if flags.dry_run:
            return
        line = result.line()
        recorded = (b.manifest["tasks"].get(result.task) or {}).get("recorded")
        if recorded and recorded.get("reward") is not None:
            line += f"  (bundle recorded: {recorded.get('status')} reward={recorded['reward']:g})"
        print(line, flush=True)

    results = run_bundle(
        bundle,
        [flags.task_id] if flags.task_id else None,
        options,
        registry=flags.registry,
        on_result=show,
    )
    if not flags.dry_run and any(r.status not in ("passed", "failed") for r in results):
        raise typer.Exit(1)


def run_agent_command(command: str, flags: RunFlags, options) -> None:
    """bakectl run B --task-id T --agent-cmd CMD: CMD on this host, the real verifier."""
    from bakectl.errors import UsageError
    from bakectl.runner.local import run_local

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
    result = run_local(flags.setup(), flags.benchmark, flags.task_id, command, options)
    finish_single(result, flags.dry_run)
