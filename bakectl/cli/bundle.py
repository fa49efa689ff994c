"""bakectl bundle | score (the --bundle form of bakectl run lives in cli/run.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bakectl.cli.common import (
    BaseImages,
    Registry,
    SourceName,
    SourcePath,
    setup,
    setup_for_job,
)
from bakectl.cli.common import source as task_source


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
            help="A job directory, a bundle, or a benchmark id (with --agent); or -p PATH.",
            show_default=False,
        ),
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Bundle BENCHMARK x this agent.")
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option("--tasks", help="'all', 'id,id,glob*' or '@FILE' (default: all)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the first N tasks of the selection.")
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

    SOURCE: a job directory (bundled as it ran, with its fixtures), a
    benchmark id with --agent (before any run; --fixtures adds replay fixtures), or a
    bundle (nothing to do). The bundle holds the resolved bake definition, the rendered
    Dockerfiles, the build contexts, tasks/ (agent-visible), scorer/ (tests, solution),
    fixtures/, images.json and manifest.json. Same inputs, same bytes.
    """
    from bakectl.bundle import core as b
    from bakectl.cli.selection import select_tasks
    from bakectl.errors import UsageError

    renderer = None
    if folder is not None or what is None:
        # -p PATH: the task folder is the benchmark, bundled before any run.
        renderer, what = task_source(
            what,
            folder,
            name,
            registry=registry,
            base_images=base_image,
            example="bakectl bundle -p TASKS/ --agent oracle -o DIR",
        )
        if not agent:
            raise UsageError(
                f"to bundle -p {folder}, pass --agent",
                f"e.g. bakectl bundle -p {folder} --agent oracle -o DIR",
            )
    source = what
    path = Path(source)
    if renderer is not None:
        b.check_out(out)
        known = renderer.catalog.task_ids(source)
        ids = select_tasks(tasks or "all", known, limit=limit, where=f"-p {folder}")
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
    elif path.is_dir() and (path / "job.json").is_file():
        if agent or fixtures:
            raise UsageError(
                "--agent and --fixtures are for bundling a benchmark before a run",
                f"bundle the job as it ran: bakectl bundle {source} -o DIR",
            )
        b.check_out(out)
        src = b.source_for_runs(path)
        if tasks is not None or limit is not None:
            src.tasks = select_tasks(tasks or "all", src.tasks, limit=limit, where=f"job {source}")
    elif path.exists():
        raise UsageError(
            f"{source} is not a job or a bundle (no job.json, no manifest.json)",
            "give a job directory, or a benchmark id with --agent",
        )
    else:
        if not agent:
            raise UsageError(
                f"{source} is not a job directory; to bundle benchmark {source!r}, pass --agent",
                f"e.g. bakectl bundle {source} --agent oracle --tasks all -o DIR",
            )
        b.check_out(out)
        renderer = setup(registry, base_images=base_image)
        renderer.catalog.benchmark(source)
        known = renderer.catalog.task_ids(source)
        ids = select_tasks(tasks or "all", known, limit=limit, where=f"benchmark {source!r}")
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


def _catalog_of(run: Path):
    """The catalog the run's tasks came from: a `-p` job's own task folder (its job
    record says where), else the project's catalog. Re-scoring builds nothing."""
    from bakectl.catalog import Catalog, find_root
    from bakectl.results.report import is_job
    from bakectl.runner.job import read_job

    here = run.absolute()
    # RUN is a job directory or one of its attempts (<job>/tasks/<task>/attempt-<k>);
    # is_job: a name too long or a folder we may not read is no job (score then says why).
    job = next((d for d in (here, *here.parents[:3]) if is_job(d)), None)
    if job is not None and (record := read_job(job)).source.kind == "path":
        return setup_for_job(record).catalog
    return Catalog(find_root())


def score(
    run: Annotated[Path, typer.Argument(help="A job directory (or a task's attempt directory).")],
    tasks: Annotated[
        str | None, typer.Option("--tasks", help="Only these tasks: 'id,id,glob*' or '@FILE'.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the first N tasks of the selection.")
    ] = None,
) -> None:
    """Score a finished run again with the tasks' current tests/, without the agent.

    RUN is a task run directory or a batch directory (each task's last attempt). The
    verifier runs on the run's eval image with its artifacts/; the new result goes to
    RUN/rescore-<time>/ beside the old one. Exit 1 when a task could not be scored.
    """
    from bakectl.results.score import rescore_path

    catalog = _catalog_of(run)
    ids = None
    if tasks is not None or limit is not None:
        from bakectl.cli.selection import parse_items, select_tasks
        from bakectl.runner.job import JOB_FILE, read_job

        if (run / JOB_FILE).is_file():
            known = read_job(run).task_ids
            ids = select_tasks(tasks or "all", known, limit=limit, where=f"job {run}")
        else:  # a task's attempt directory: the re-scorer checks the id against it
            ids = parse_items(tasks or "all")[:limit]
    rows = rescore_path(catalog, run, ids, on_row=lambda r: print(r.line(), flush=True))
    if any(r.status == "error" for r in rows):
        raise typer.Exit(1)
