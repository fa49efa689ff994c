"""bakectl list ... and bakectl validate"""

from __future__ import annotations

from typing import Annotated

import typer

from bakectl.cli.common import Registry, SourceName, SourcePath, setup, source

app = typer.Typer(help="List catalog entries and built images.", no_args_is_help=True)

Json = Annotated[
    bool, typer.Option("--json", help="Machine-readable JSON on stdout (nothing else there).")
]


def print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2))


@app.command("benchmarks")
def list_benchmarks(as_json: Json = False) -> None:
    """Benchmarks in the catalog."""
    r = setup()
    if as_json:
        rows = []
        for name in r.catalog.benchmark_names():
            b = r.catalog.benchmark(name)
            rows.append(
                {
                    "name": name,
                    "environment": b.spec.environment,
                    "tasks": len(r.catalog.task_ids(name)),
                    "description": b.spec.description,
                }
            )
        return print_json(rows)
    for name in r.catalog.benchmark_names():
        b = r.catalog.benchmark(name)
        n = len(r.catalog.task_ids(name))
        print(f"{name:<24} {b.spec.environment:<9} {n:>5} tasks  {b.spec.description}")


@app.command("agents")
def list_agents(as_json: Json = False) -> None:
    """Agents in the catalog."""
    r = setup()
    if as_json:
        agents = [r.catalog.agent(n) for n in r.catalog.agent_names()]
        return print_json(
            [
                {"name": n, "version": a.spec.version, "description": a.spec.description}
                for n, a in zip(r.catalog.agent_names(), agents, strict=True)
            ]
        )
    for name in r.catalog.agent_names():
        a = r.catalog.agent(name)
        print(f"{name:<16} {a.spec.version:<8} {a.spec.description}")


@app.command("tasks")
def list_tasks(
    benchmark: Annotated[
        str | None, typer.Argument(help="Benchmark id (or -p PATH).", show_default=False)
    ] = None,
    path: SourcePath = None,
    name: SourceName = None,
    as_json: Json = False,
) -> None:
    """Tasks of one benchmark, or of the task folder(s) -p PATH."""
    r, benchmark = source(benchmark, path, name, example="bakectl list tasks -p TASKS/")
    if as_json:
        rows = []
        for tid in r.catalog.task_ids(benchmark):
            spec = r.catalog.task(benchmark, tid).spec
            rows.append(
                {
                    "id": tid,
                    "agent_timeout_sec": spec.agent.timeout_sec,
                    "verifier_timeout_sec": spec.verifier.timeout_sec,
                }
            )
        return print_json(rows)
    for tid in r.catalog.task_ids(benchmark):
        t = r.catalog.task(benchmark, tid)
        print(
            f"{tid:<24} agent {t.spec.agent.timeout_sec:>6.0f}s  "
            f"verifier {t.spec.verifier.timeout_sec:>5.0f}s"
        )


@app.command("images")
def list_images(registry: Registry = None, as_json: Json = False) -> None:
    """Images bakectl built, from docker's store (by their bakectl labels)."""
    from bakectl.engine.docker import labelled_images

    lines = labelled_images(
        "dev.bakectl.kind", "{{.Repository}}:{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    )
    prefix = (registry.rstrip("/") + "/") if registry else ""
    mine = [line for line in sorted(lines) if line.startswith(prefix)]
    if as_json:
        keys = ("ref", "id", "created", "size")
        return print_json([dict(zip(keys, line.split("\t"), strict=False)) for line in mine])
    for line in mine:
        print(line)


def validate(path: SourcePath = None, name: SourceName = None, as_json: Json = False) -> None:
    """Load and check every descriptor in the catalog, or the task folder(s) -p PATH."""
    from bakectl.errors import UsageError
    from bakectl.render.select import render_errors

    r = setup(path=path, name=name)
    if path is not None:
        bench = next(iter(r.catalog.folders))
        count, errors = r.catalog.validate_benchmark(bench)
        benches = [bench]
        what = f"entries of -p {path}"
        ok_line = f"ok: {count} entries valid (benchmark {bench}: {count - 1} tasks)"
    else:
        count, errors = r.catalog.validate_all()
        benches = r.catalog.benchmark_names()
        what = "catalog entries"
        ok_line = (
            f"ok: {count} entries valid ({len(benches)} benchmarks, "
            f"{len(r.catalog.agent_names())} agents)"
        )
    if not errors:  # what build would reject at render time (templates, target collisions)
        errors = render_errors(r)
    warnings = _task_warnings(r.catalog, benches)
    if as_json:
        print_json(
            {
                "ok": not errors,
                "entries": count,
                "benchmarks": len(benches),
                "agents": len(r.catalog.agent_names()),
                "errors": [{"message": e.message, "hint": e.hint} for e in errors],
                "warnings": warnings,
            }
        )
    for e in errors:
        typer.echo(f"error: {e.message}", err=True)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    if errors:
        raise UsageError(
            f"{len(errors)} of {count} {what} are invalid (listed above)", errors[0].hint
        )
    if not as_json:
        print(ok_line)


def _task_warnings(catalog, benches: list[str]) -> list[str]:
    """task.toml fields bakectl does not honour, and misspelt ones (Harbor's task format)."""
    from bakectl.errors import UsageError
    from bakectl.runner.task_checks import task_notes

    out: list[str] = []
    for name in benches:
        try:
            ids = catalog.task_ids(name)
        except UsageError:
            continue
        for tid in ids:
            try:
                out += task_notes(catalog.task(name, tid))
            except UsageError:
                continue  # listed above as an error
    return out
