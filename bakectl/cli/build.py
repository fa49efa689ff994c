"""bakectl build bench|agent|eval|all"""

from __future__ import annotations

from typing import Annotated

import typer

from bakectl.cli.common import (
    BuilderName,
    DryRun,
    Engine,
    NoCache,
    Platform,
    Push,
    Registry,
    Sets,
    TaskIds,
    check_engine_flag,
    setup,
)

app = typer.Typer(
    help="Build images with one docker buildx bake graph per command.", no_args_is_help=True
)


def _build(targets_fn, *, registry, dry_run, engine, push, builder, platform, no_cache, sets):
    from bakectl.engine.build import Builder, BuildOptions

    check_engine_flag(engine)
    r = setup(registry)
    targets = targets_fn(r)
    opts = BuildOptions(
        push=push,
        builder=builder,
        platforms=platform or [],
        no_cache=no_cache,
        sets=sets or [],
        engine=engine,
        dry_run=dry_run,
    )
    Builder(r, opts).build(targets)


@app.command("eval")
def build_eval(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id.")],
    agent: Annotated[str, typer.Option("--agent", "-a", help="Agent id.")],
    task_id: TaskIds = None,
    agent_version: Annotated[
        str | None,
        typer.Option(
            "--agent-version", help="An installed agent's upstream version (not its pin)."
        ),
    ] = None,
    registry: Registry = None,
    dry_run: DryRun = False,
    engine: Engine = "auto",
    push: Push = False,
    builder: BuilderName = None,
    platform: Platform = None,
    no_cache: NoCache = False,
    set_: Sets = None,
) -> None:
    """Eval image(s): benchmark (or task) environment + agent + runtime."""
    from bakectl.render.select import eval_targets

    def targets(r):
        if agent_version:
            r.catalog.agent_versions[agent] = agent_version
        return eval_targets(r, benchmark, agent, task_id)

    _build(
        targets,
        registry=registry,
        dry_run=dry_run,
        engine=engine,
        push=push,
        builder=builder,
        platform=platform,
        no_cache=no_cache,
        sets=set_,
    )


@app.command("bench")
def build_bench(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id.")],
    task_id: TaskIds = None,
    registry: Registry = None,
    dry_run: DryRun = False,
    engine: Engine = "auto",
    push: Push = False,
    builder: BuilderName = None,
    platform: Platform = None,
    no_cache: NoCache = False,
    set_: Sets = None,
) -> None:
    """Base image(s): the shared environment, or each task's environment."""
    from bakectl.render.select import bench_targets

    _build(
        lambda r: bench_targets(r, benchmark, task_id),
        registry=registry,
        dry_run=dry_run,
        engine=engine,
        push=push,
        builder=builder,
        platform=platform,
        no_cache=no_cache,
        sets=set_,
    )


@app.command("agent")
def build_agent(
    agent: Annotated[list[str], typer.Argument(help="Agent id(s).")],
    registry: Registry = None,
    dry_run: DryRun = False,
    engine: Engine = "auto",
    push: Push = False,
    builder: BuilderName = None,
    platform: Platform = None,
    no_cache: NoCache = False,
    set_: Sets = None,
) -> None:
    """The agent layer image(s) eval images copy from."""
    from bakectl.render.select import agent_targets

    _build(
        lambda r: agent_targets(r, agent),
        registry=registry,
        dry_run=dry_run,
        engine=engine,
        push=push,
        builder=builder,
        platform=platform,
        no_cache=no_cache,
        sets=set_,
    )


@app.command("all")
def build_all(
    agent: Annotated[
        list[str] | None, typer.Option("--agent", "-a", help="Limit to these agents.")
    ] = None,
    registry: Registry = None,
    dry_run: DryRun = False,
    engine: Engine = "auto",
    push: Push = False,
    builder: BuilderName = None,
    platform: Platform = None,
    no_cache: NoCache = False,
    set_: Sets = None,
) -> None:
    """Every benchmark x agent eval image, in one bake graph."""
    from bakectl.render.select import all_targets

    _build(
        lambda r: all_targets(r, agent),
        registry=registry,
        dry_run=dry_run,
        engine=engine,
        push=push,
        builder=builder,
        platform=platform,
        no_cache=no_cache,
        sets=set_,
    )
