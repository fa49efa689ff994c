"""bakectl release [BENCH...|all] --registry R ...  and  bakectl release plan --json"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bakectl.cli.bake import Progress, check_progress
from bakectl.cli.build import Provenance, Sbom
from bakectl.cli.common import DryRun, Engine, Platform, Registry, Sets, check_engine_flag, setup


def release(
    benchmarks: Annotated[
        list[str] | None,
        typer.Argument(help="Benchmark ids, or 'all' (default). 'plan' prints the matrix."),
    ] = None,
    registry: Registry = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Release tag (e.g. v1.2.0), added with 'latest'.")
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Only images whose target or path matches (globs, a,b)."),
    ] = None,
    shard: Annotated[
        str | None, typer.Option("--shard", help="I/N: this job's share of the matrix.")
    ] = None,
    shards: Annotated[
        int, typer.Option("--shards", help="With 'plan': how many shards to cut.")
    ] = 1,
    no_latest: Annotated[
        bool, typer.Option("--no-latest", help="Do not move 'latest' with --tag.")
    ] = False,
    republish: Annotated[
        bool,
        typer.Option("--republish", help="Push every image, also those the registry has."),
    ] = False,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="release.json path (release.md beside it).")
    ] = Path("release.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the document on stdout.")] = False,
    dry_run: DryRun = False,
    engine: Engine = "auto",
    platform: Platform = None,
    provenance: Provenance = None,
    sbom: Sbom = None,
    set_: Sets = None,
    progress: Progress = None,
) -> None:
    """Publish the tested images: skip what the registry has, build the rest in one
    bake graph, push, alias --tag and latest by manifest copy, write release.json."""
    from bakectl.engine.build import Builder, BuildOptions, check_push_registry
    from bakectl.engine.release import (
        Release,
        ReleaseOptions,
        check_tag,
        parse_shard,
        plan_document,
        select,
    )
    from bakectl.errors import UsageError
    from bakectl.render.overrides import parse_all
    from bakectl.render.select import release_targets
    from bakectl.render.variables import local_namespaces

    benches = list(benchmarks or [])
    planning = benches[:1] == ["plan"]
    if planning:
        benches = benches[1:]
    check_engine_flag(engine)
    check_progress(progress)
    if tag is not None:
        check_tag(tag)
    chosen_shard = parse_shard(shard) if shard else None
    if shards < 1:
        raise UsageError(f"--shards {shards} is below 1", "cut the matrix into 1 or more shards")
    if not registry and not planning:
        raise UsageError(
            "release needs a registry", "pass --registry HOST[:PORT]/PATH or set BAKECTL_REGISTRY"
        )
    opts = BuildOptions(
        engine=engine,
        dry_run=dry_run,
        platforms=platform or [],
        sets=set_ or [],
        provenance=provenance,
        sbom=sbom,
        progress=progress,
    )
    r = setup(registry)
    if not planning:
        check_push_registry(r.vars["REGISTRY"])
    r.vars["TAG"] = ""  # the release tag is a registry alias, never a second build tag
    r.overrides = parse_all(opts.hashed_sets())
    targets = select(release_targets(r, benches or None), only, chosen_shard)
    if planning:
        typer.echo(json.dumps(plan_document(targets, r.vars["REGISTRY"], shards), indent=2))
        return
    builder = Builder(r, opts)
    builder.check_overrides(targets)
    builder.check_platforms()
    doc = Release(
        builder,
        targets,
        ReleaseOptions(
            tag=tag,
            latest=not no_latest,
            out=output,
            dry_run=dry_run,
            republish=republish,
            tested=local_namespaces(r.catalog.root),
        ),
    ).run()
    if as_json:
        typer.echo(json.dumps(doc, indent=2, sort_keys=True))
