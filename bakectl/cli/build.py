"""bakectl build bench|agent|eval|all"""

from __future__ import annotations

from typing import Annotated

import typer

from bakectl.cli.bake import Progress
from bakectl.cli.common import (
    BaseImages,
    BuilderName,
    DryRun,
    Engine,
    NoCache,
    Platform,
    Push,
    Registry,
    Sets,
    SourceName,
    SourcePath,
    TaskIds,
    check_engine_flag,
    setup,
    source,
)

Provenance = Annotated[
    str | None,
    typer.Option(
        "--provenance", help="Passed to bake (e.g. mode=max); the builder must keep attestations."
    ),
]
Sbom = Annotated[
    str | None,
    typer.Option("--sbom", help="Passed to bake (e.g. true); the builder must keep attestations."),
]

app = typer.Typer(
    help="Build images with one docker buildx bake graph per command.", no_args_is_help=True
)


def _build(
    targets_fn,
    *,
    registry,
    dry_run,
    engine,
    push,
    builder,
    platform,
    no_cache,
    sets,
    base_images=None,
    benchmark=None,
    path=None,
    name=None,
    progress=None,
    provenance=None,
    sbom=None,
    takes_benchmark=False,
):
    """Build what targets_fn(renderer, benchmark id) names; a benchmark command
    (takes_benchmark) passes its benchmark id or -p PATH, the others neither."""
    from bakectl.cli.bake import check_progress
    from bakectl.engine.build import Builder, BuildOptions
    from bakectl.render.overrides import parse_all

    check_engine_flag(engine)
    check_progress(progress)
    opts = BuildOptions(
        progress=progress,
        provenance=provenance,
        sbom=sbom,
        push=push,
        builder=builder,
        platforms=platform or [],
        no_cache=no_cache,
        sets=sets or [],
        engine=engine,
        dry_run=dry_run,
    )
    if takes_benchmark:
        r, benchmark = source(
            benchmark,
            path,
            name,
            registry=registry,
            base_images=base_images,
            example="bakectl build eval arith --agent oracle, or bakectl build eval -p TASKS/ -a oracle",
        )
    else:
        r = setup(registry, base_images=base_images)
    r.overrides = parse_all(opts.hashed_sets())  # hashed: rendered targets must see them
    Builder(r, opts).build(targets_fn(r, benchmark))


@app.command("eval")
def build_eval(
    benchmark: Annotated[
        str | None, typer.Argument(help="Benchmark id (or -p PATH).", show_default=False)
    ] = None,
    agent: Annotated[str, typer.Option("--agent", "-a", help="Agent id.")] = "",
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
    path: SourcePath = None,
    name: SourceName = None,
    base_image: BaseImages = None,
    progress: Progress = None,
    provenance: Provenance = None,
    sbom: Sbom = None,
) -> None:
    """Eval image(s): benchmark (or task) environment + agent + runtime."""
    from bakectl.errors import UsageError
    from bakectl.render.select import eval_targets

    if not agent:
        raise UsageError("build eval needs --agent", "e.g. bakectl build eval arith --agent oracle")

    def targets(r, bench):
        if agent_version:
            r.catalog.agent_versions[agent] = agent_version
        return eval_targets(r, bench, agent, task_id)

    _build(
        targets,
        benchmark=benchmark,
        path=path,
        name=name,
        takes_benchmark=True,
        base_images=base_image,
        registry=registry,
        dry_run=dry_run,
        engine=engine,
        push=push,
        builder=builder,
        platform=platform,
        no_cache=no_cache,
        sets=set_,
        progress=progress,
        provenance=provenance,
        sbom=sbom,
    )


@app.command("bench")
def build_bench(
    benchmark: Annotated[
        str | None, typer.Argument(help="Benchmark id (or -p PATH).", show_default=False)
    ] = None,
    task_id: TaskIds = None,
    registry: Registry = None,
    dry_run: DryRun = False,
    engine: Engine = "auto",
    push: Push = False,
    builder: BuilderName = None,
    platform: Platform = None,
    no_cache: NoCache = False,
    set_: Sets = None,
    path: SourcePath = None,
    name: SourceName = None,
    base_image: BaseImages = None,
    progress: Progress = None,
    provenance: Provenance = None,
    sbom: Sbom = None,
) -> None:
    """Base image(s): the shared environment, or each task's environment."""
    from bakectl.render.select import bench_targets

    _build(
        lambda r, bench: bench_targets(r, bench, task_id),
        benchmark=benchmark,
        path=path,
        name=name,
        takes_benchmark=True,
        base_images=base_image,
        registry=registry,
        dry_run=dry_run,
        engine=engine,
        push=push,
        builder=builder,
        platform=platform,
        no_cache=no_cache,
        sets=set_,
        progress=progress,
        provenance=provenance,
        sbom=sbom,
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
    progress: Progress = None,
    provenance: Provenance = None,
    sbom: Sbom = None,
) -> None:
    """The agent layer image(s) eval images copy from."""
    from bakectl.render.select import agent_targets

    _build(
        lambda r, _bench: agent_targets(r, agent),
        registry=registry,
        dry_run=dry_run,
        engine=engine,
        push=push,
        builder=builder,
        platform=platform,
        no_cache=no_cache,
        sets=set_,
        progress=progress,
        provenance=provenance,
        sbom=sbom,
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
    base_image: BaseImages = None,
    progress: Progress = None,
    provenance: Provenance = None,
    sbom: Sbom = None,
) -> None:
    """Every benchmark x agent eval image, in one bake graph."""
    from bakectl.render.select import all_targets

    _build(
        lambda r, _bench: all_targets(r, agent),
        base_images=base_image,
        registry=registry,
        dry_run=dry_run,
        engine=engine,
        push=push,
        builder=builder,
        platform=platform,
        no_cache=no_cache,
        sets=set_,
        progress=progress,
        provenance=provenance,
        sbom=sbom,
    )
