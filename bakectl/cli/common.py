"""Options and set-up shared by commands."""

from __future__ import annotations

import math
from collections.abc import Callable
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
