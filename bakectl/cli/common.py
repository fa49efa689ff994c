"""Options and set-up shared by commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
