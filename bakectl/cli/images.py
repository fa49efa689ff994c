"""bakectl images bootstrap"""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer

from bakectl.cli.common import BaseImages, DryRun, SourceName, SourcePath, setup

app = typer.Typer(help="Base images for air-gapped machines.", no_args_is_help=True)


@app.command("bootstrap")
def bootstrap(
    dry_run: DryRun = False,
    engine: Annotated[
        str, typer.Option("--engine", help="Image store to import into: docker or podman.")
    ] = "docker",
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when present.")] = False,
    base_image: BaseImages = None,
    path: SourcePath = None,
    name: SourceName = None,
) -> None:
    """Build the catalog's base images from Debian's archive (debootstrap), when missing,
    and stand-ins for mapped base images it knows (debian:*, python:* from Debian's python3)."""
    from bakectl.engine.bootstrap import RECIPES, bootstrap_plan
    from bakectl.engine.docker import check_engine, image_exists
    from bakectl.engine.plan import Plan, Step, print_plan, run_step
    from bakectl.errors import BuildError, UsageError
    from bakectl.render import variables

    if engine not in ("docker", "podman"):
        raise UsageError(f"--engine {engine!r} is not docker or podman", "use --engine docker")
    r = setup(path=path, name=name, base_images=base_image)
    root = r.catalog.root
    values = variables.resolve(root)
    stand_ins = _stand_ins(r)
    if engine == "docker" and not dry_run:
        check_engine()
    missing = [v for v in RECIPES if force or dry_run or not image_exists(values[v], engine)]
    for v in RECIPES:
        if v not in missing:
            typer.echo(f"bakectl: present: {values[v]} ({v})", err=True)
    stand_ins = {i: rec for i, rec in stand_ins.items() if i not in {values[v] for v in RECIPES}}
    todo = {
        image: recipe
        for image, recipe in stand_ins.items()
        if force or dry_run or not image_exists(image, engine)
    }
    for image in stand_ins:
        if image not in todo:
            typer.echo(f"bakectl: present: {image} (stand-in)", err=True)
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        # No debootstrap (Docker Desktop, not root): the official images, pulled.
        typer.echo("bakectl: debootstrap needs root on Debian; pulling instead", err=True)
        plan = Plan([Step((engine, "pull", values[v])) for v in missing])
        if todo:
            typer.echo(
                f"bakectl: stand-ins need debootstrap; not made: {', '.join(todo)}", err=True
            )
        todo = {}
    else:
        plan = bootstrap_plan(values, root / ".bakectl" / "bootstrap", engine, missing)
        for image, recipe in todo.items():  # a mapped image, built as its recipe says
            more = bootstrap_plan(
                {recipe: image}, root / ".bakectl" / "bootstrap", engine, [recipe]
            )
            plan.steps.extend(more.steps)
    if dry_run:
        print_plan(plan)
        return
    for step in plan.steps:
        if run_step(step).returncode != 0:
            raise BuildError(f"bootstrap failed at: {step.shell()}", _failure_hint(step.shell()))
    for v in missing:
        typer.echo(f"bakectl: imported {values[v]} ({v})", err=True)
    for image, recipe in todo.items():
        typer.echo(f"bakectl: imported {image} (stand-in, as {recipe})", err=True)


def _stand_ins(r) -> dict[str, str]:
    """Mapped images bootstrap can make: from bakectl.toml, --base-image and every
    benchmark's benchmark.yaml (the catalog's and -p's)."""
    from bakectl.render.baseimages import merge, stand_ins

    layers = [r.catalog.benchmark(b).spec.base_images for b in r.catalog.benchmark_names()]
    return stand_ins(merge(*layers, r.base_images))


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
