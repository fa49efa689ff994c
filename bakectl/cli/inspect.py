"""bakectl list ... and bakectl validate"""

from __future__ import annotations

from typing import Annotated

import typer

from bakectl.cli.common import Registry, setup

app = typer.Typer(help="List catalog entries and built images.", no_args_is_help=True)


@app.command("benchmarks")
def list_benchmarks() -> None:
    """Benchmarks in the catalog."""
    r = setup()
    for name in r.catalog.benchmark_names():
        b = r.catalog.benchmark(name)
        n = len(r.catalog.task_ids(name))
        print(f"{name:<24} {b.spec.environment:<9} {n:>5} tasks  {b.spec.description}")


@app.command("agents")
def list_agents() -> None:
    """Agents in the catalog."""
    r = setup()
    for name in r.catalog.agent_names():
        a = r.catalog.agent(name)
        print(f"{name:<16} {a.spec.version:<8} {a.spec.description}")


@app.command("tasks")
def list_tasks(benchmark: Annotated[str, typer.Argument(help="Benchmark id.")]) -> None:
    """Tasks of one benchmark."""
    r = setup()
    for tid in r.catalog.task_ids(benchmark):
        t = r.catalog.task(benchmark, tid)
        print(
            f"{tid:<24} agent {t.spec.agent.timeout_sec:>6.0f}s  "
            f"verifier {t.spec.verifier.timeout_sec:>5.0f}s"
        )


@app.command("images")
def list_images(registry: Registry = None) -> None:
    """Images bakectl built, from docker's store (by their bakectl labels)."""
    from bakectl.engine.docker import labelled_images

    lines = labelled_images(
        "dev.bakectl.kind", "{{.Repository}}:{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    )
    prefix = (registry.rstrip("/") + "/") if registry else ""
    for line in sorted(lines):
        if line.startswith(prefix):
            print(line)


def validate() -> None:
    """Load and check every descriptor in the catalog."""
    from bakectl.errors import UsageError
    from bakectl.render.select import render_errors

    r = setup()
    count, errors = r.catalog.validate_all()
    if not errors:  # what build would reject at render time (templates, target collisions)
        errors = render_errors(r)
    for e in errors:
        typer.echo(f"error: {e.message}", err=True)
    if errors:
        raise UsageError(
            f"{len(errors)} of {count} catalog entries are invalid (listed above)", errors[0].hint
        )
    print(
        f"ok: {count} entries valid ({len(r.catalog.benchmark_names())} benchmarks, "
        f"{len(r.catalog.agent_names())} agents)"
    )
