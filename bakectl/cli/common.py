"""Options and set-up shared by commands."""

from __future__ import annotations

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


def setup(registry: str | None = None):
    """The catalog and a renderer for the current project."""
    from bakectl.catalog import Catalog, find_root
    from bakectl.render import variables
    from bakectl.render.renderer import Renderer

    root = find_root()
    catalog = Catalog(root)
    return Renderer(catalog, variables.resolve(root, {"REGISTRY": registry}))


def check_engine_flag(engine: str) -> None:
    from bakectl.errors import UsageError

    if engine not in ("auto", "bake", "podman"):
        raise UsageError(
            f"--engine {engine!r} is not one of auto, bake, podman",
            "use --engine auto (the default)",
        )
