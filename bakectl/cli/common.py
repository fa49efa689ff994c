"""Options and set-up shared by commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

try:  # typer vendors click as typer._click (0.2x); its usage errors are raised from there
    from typer._click import exceptions as framework
except ImportError:  # pragma: no cover - an older typer on the real click
    from click import exceptions as framework

DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print the commands; run nothing that changes state.")
]
Registry = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar="BAKECTL_REGISTRY",
        help="Image namespace, e.g. 127.0.0.1:5000/evals (default: REGISTRY in docker-bake.hcl).",
    ),
]
TaskIds = Annotated[
    list[str] | None,
    typer.Option("--task-id", "-t", help="Task id (repeatable), or 'all'. Default: all tasks."),
]
Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="auto: bake, podman when bake cannot; bake: bake only; podman: podman only.",
    ),
]
Push = Annotated[bool, typer.Option("--push", help="Push to --registry instead of loading.")]
BuilderName = Annotated[
    str | None, typer.Option("--builder", help="A buildx builder (e.g. remote); implies --push.")
]
Platform = Annotated[list[str] | None, typer.Option("--platform", help="Target platform(s).")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Build without cache; always rebuild.")]
Sets = Annotated[
    list[str] | None, typer.Option("--set", help="Passed to bake as --set (e.g. '*.args.FOO=bar').")
]


SourcePath = Annotated[
    Path | None,
    typer.Option(
        "--path",
        "-p",
        help="Harbor tasks from a folder instead of the catalog: one task folder, "
        "or a folder of them (a dataset).",
    ),
]
SourceName = Annotated[
    str | None,
    typer.Option("--name", help="With -p: the benchmark id (default: the folder's name)."),
]
BaseImages = Annotated[
    list[str] | None,
    typer.Option(
        "--base-image",
        help="Build FROM reference REF from IMAGE instead (REF=IMAGE, repeatable); "
        "overrides bakectl.toml and benchmark.yaml.",
    ),
]


def setup(
    registry: str | None = None,
    *,
    path: Path | None = None,
    name: str | None = None,
    base_images: list[str] | None = None,
):
    """The catalog and a renderer for the current project, with the task folder `-p PATH`
    (when given) as one more benchmark, and the base-image mapping of bakectl.toml and
    `--base-image` flags."""
    from bakectl.catalog import Catalog, find_root
    from bakectl.catalog.config import load_config
    from bakectl.catalog.sources import open_folder
    from bakectl.render import baseimages, variables
    from bakectl.render.renderer import Renderer

    flags = baseimages.parse_flags(base_images)  # malformed: exit 2 before anything
    if name is not None and path is None:
        from bakectl.errors import UsageError

        raise UsageError("--name names the benchmark of -p PATH", "add -p PATH, or drop --name")
    folders = (open_folder(path, name),) if path is not None else ()
    root = find_root(need_catalog=not folders)
    catalog = Catalog(root, folders)
    mapping = {**load_config(root).base_images, **flags}
    return Renderer(catalog, variables.resolve(root, {"REGISTRY": registry}), base_images=mapping)


def setup_for_job(record):
    """The renderer a job's record names: a -p job's own task folder (under the same
    benchmark id), else the project's catalog."""
    if record.source.kind == "path" and record.source.location:
        return setup(
            record.registry, path=Path(str(record.source.location)), name=record.source.benchmark
        )
    return setup(record.registry)


def source(
    benchmark: str | None,
    path: Path | None,
    name: str | None = None,
    *,
    registry: str | None = None,
    base_images: list[str] | None = None,
    example: str = "bakectl run BENCHMARK ...",
):
    """(renderer, benchmark id) for a command that takes a benchmark id or `-p PATH`."""
    from bakectl.errors import UsageError

    if benchmark is not None and path is not None:
        raise UsageError(
            f"pass a benchmark id or -p PATH, not both (got {benchmark!r} and -p {path})",
            "-p PATH makes the folder the benchmark; --name ID names it",
        )
    if benchmark is None and path is None:
        raise UsageError("which benchmark? pass a benchmark id or -p PATH", f"e.g. {example}")
    r = setup(registry, path=path, name=name, base_images=base_images)
    bench = benchmark if benchmark is not None else next(iter(r.catalog.folders))
    return r, bench


def check_engine_flag(engine: str) -> None:
    from bakectl.errors import UsageError

    if engine not in ("auto", "bake", "podman"):
        raise UsageError(
            f"--engine {engine!r} is not one of auto, bake, podman",
            "use --engine auto (the default)",
        )


# -- numbers on the command line: finite and within what the engine accepts ----------------
# Use as a typer parser: typer.Option("--timeout", parser=common.seconds). A bad value is
# a usage error in the house form (error:/hint:, exit 2), never inf or nan reaching docker.


def finite_number(
    low: float, high: float, *, low_open: bool = True, integer: bool = False
) -> Callable[[str], float]:
    """A typer parser: a finite number in (low, high] (or [low, high] with low_open=False)."""

    def parse(text: str | float) -> float:
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise framework.BadParameter(f"{str(text)[:40]!r} is not a number") from None
        if integer and value.is_integer():
            value = int(value)
        elif integer:
            raise framework.BadParameter(f"{str(text)[:40]!r} is not a whole number")
        above = value > low if low_open else value >= low
        if not math.isfinite(value) or not above or value > high:
            side = "above" if low_open else "at least"
            raise framework.BadParameter(
                f"{str(text)[:40]!r} must be {side} {low:g} and at most {high:g} (a finite number)"
            )
        return value

    return parse


MAX_SECONDS = 7 * 24 * 3600.0  # as catalog.models.MAX_SECONDS: a week
seconds = finite_number(0, MAX_SECONDS)  # --timeout, --agent-timeout, --verifier-timeout
count = finite_number(1, 10_000, low_open=False, integer=True)  # -n, -k, --retries
