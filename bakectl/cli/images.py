"""bakectl images bootstrap"""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer

from bakectl.cli.common import DryRun

app = typer.Typer(help="Base images for air-gapped machines.", no_args_is_help=True)


@app.command("bootstrap")
def bootstrap(
    dry_run: DryRun = False,
    engine: Annotated[
        str, typer.Option("--engine", help="Image store to import into: docker or podman.")
    ] = "docker",
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when present.")] = False,
) -> None:
    """Build the catalog's base images from Debian's archive (debootstrap), when missing."""
    from bakectl.catalog import find_root
    from bakectl.engine.bootstrap import RECIPES, bootstrap_plan
    from bakectl.engine.docker import check_engine, image_exists
    from bakectl.engine.plan import Plan, Step, print_plan, run_step
    from bakectl.errors import BuildError, UsageError
    from bakectl.render import variables

    if engine not in ("docker", "podman"):
        raise UsageError(f"--engine {engine!r} is not docker or podman", "use --engine docker")
    root = find_root()
    values = variables.resolve(root)
    if engine == "docker" and not dry_run:
        check_engine()
    missing = [v for v in RECIPES if force or dry_run or not image_exists(values[v], engine)]
    for v in RECIPES:
        if v not in missing:
            typer.echo(f"bakectl: present: {values[v]} ({v})", err=True)
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        # No debootstrap (Docker Desktop, not root): the official images, pulled.
        typer.echo("bakectl: debootstrap needs root on Debian; pulling instead", err=True)
        plan = Plan([Step((engine, "pull", values[v])) for v in missing])
    else:
        plan = bootstrap_plan(values, root / ".bakectl" / "bootstrap", engine, missing)
    if dry_run:
        print_plan(plan)
        return
    for step in plan.steps:
        if run_step(step).returncode != 0:
            raise BuildError(f"bootstrap failed at: {step.shell()}", _failure_hint(step.shell()))
    for v in missing:
        typer.echo(f"bakectl: imported {values[v]} ({v})", err=True)


def _failure_hint(command: str) -> str:
    """What to check, by the step that failed (its own error is printed above it)."""
    if command.startswith("debootstrap"):
        return (
            "debootstrap needs root and Debian's archive over HTTP "
            "(set BAKECTL_DEBIAN_MIRROR for another mirror)"
        )
    if " pull " in f" {command} ":
        return "no registry answered: on Debian, as root, install debootstrap to build it locally"
    if " import " in command:
        return "the engine refused the root filesystem: see its error above and 'bakectl doctor'"
    return "the command's own error is printed above"
