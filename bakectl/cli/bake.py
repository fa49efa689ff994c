"""bakectl bake [-f FILE...] [TARGET...]: any bake project, with the podman fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bakectl.cli.common import DryRun, Engine, Sets, check_engine_flag

PROGRESS = ("auto", "plain", "tty", "quiet")

Progress = Annotated[
    str | None,
    typer.Option("--progress", help="Passed to bake: auto, plain, tty or quiet."),
]


def check_progress(progress: str | None) -> None:
    from bakectl.errors import UsageError

    if progress is not None and progress not in PROGRESS:
        raise UsageError(
            f"--progress {progress!r} is not one of {', '.join(PROGRESS)}",
            "use --progress plain for logs, tty (or auto on a terminal) for the live display",
        )


def bake(
    targets: Annotated[
        list[str] | None, typer.Argument(help="Targets or groups (default: 'default').")
    ] = None,
    file: Annotated[
        list[str] | None, typer.Option("--file", "-f", help="Bake file (repeatable), as for bake.")
    ] = None,
    engine: Engine = "auto",
    dry_run: DryRun = False,
    set_: Sets = None,
    progress: Progress = None,
) -> None:
    """Build a bake project (not only bakectl's catalog): bake, or podman build steps
    derived from 'bake --print' when the builder cannot start (or --engine podman)."""
    from bakectl.engine.bakefile import BakeOptions
    from bakectl.engine.bakefile import bake as run_bake
    from bakectl.errors import UsageError

    check_engine_flag(engine)
    check_progress(progress)
    for f in file or []:
        if not Path(f).is_file():
            raise UsageError(f"bake file {f!r} does not exist", "pass -f PATH of a bake file")
    run_bake(
        BakeOptions(
            files=list(file or []),
            targets=list(targets or []),
            sets=list(set_ or []),
            engine=engine,
            dry_run=dry_run,
            progress=progress,
        ),
        Path.cwd(),
    )
