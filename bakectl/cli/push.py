"""bakectl push bench|agent|eval"""

from __future__ import annotations

from typing import Annotated

import typer

from bakectl.cli.common import DryRun, Engine, Registry, TaskIds, check_engine_flag, setup
from bakectl.errors import UsageError

app = typer.Typer(
    help="Push images to a registry (built first when missing).", no_args_is_help=True
)


def _push(targets_fn, registry, dry_run, engine):
    from bakectl.engine.build import Builder, BuildOptions, check_push_registry
    from bakectl.engine.push import push_images

    check_engine_flag(engine)
    if not registry:
        raise UsageError(
            "push needs a registry", "pass --registry HOST[:PORT]/PATH or set BAKECTL_REGISTRY"
        )
    from bakectl.render.variables import local_namespaces

    r = setup(registry)
    check_push_registry(r.vars["REGISTRY"])
    builder = Builder(r, BuildOptions(engine=engine, dry_run=dry_run))
    push_images(builder, targets_fn(r), local_namespaces(r.catalog.root))


@app.command("eval")
def push_eval(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id.")],
    agent: Annotated[str, typer.Option("--agent", "-a", help="Agent id.")],
    task_id: TaskIds = None,
    registry: Registry = None,
    dry_run: DryRun = False,
    engine: Engine = "auto",
) -> None:
    """Push eval image(s)."""
    from bakectl.render.select import eval_targets

    _push(lambda r: eval_targets(r, benchmark, agent, task_id), registry, dry_run, engine)


@app.command("bench")
def push_bench(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id.")],
    task_id: TaskIds = None,
    registry: Registry = None,
    dry_run: DryRun = False,
    engine: Engine = "auto",
) -> None:
    """Push base image(s)."""
    from bakectl.render.select import bench_targets

    _push(lambda r: bench_targets(r, benchmark, task_id), registry, dry_run, engine)


@app.command("agent")
def push_agent(
    agent: Annotated[list[str], typer.Argument(help="Agent id(s).")],
    registry: Registry = None,
    dry_run: DryRun = False,
    engine: Engine = "auto",
) -> None:
    """Push agent layer image(s)."""
    from bakectl.render.select import agent_targets

    _push(lambda r: agent_targets(r, agent), registry, dry_run, engine)
