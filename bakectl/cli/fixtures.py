"""bakectl fixtures check"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Replay fixtures: check them.", no_args_is_help=True)


@app.command("check")
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Fixture directories or folders holding them (default: tests/fixtures)."
        ),
    ] = None,
) -> None:
    """Every fixture parses, has provenance, and contains no secret."""
    from bakectl.catalog import find_root
    from bakectl.errors import BakectlError, UsageError
    from bakectl.runner.fixtures import check_fixture, find_fixtures

    targets = paths or [find_root() / "tests" / "fixtures"]
    for p in targets:
        if not p.exists():
            raise UsageError(f"no such path: {p}", "pass a fixture directory or a folder of them")
    fixtures = find_fixtures(targets)
    if not fixtures:
        raise UsageError(
            f"no fixtures (exchanges.jsonl) under {', '.join(map(str, targets))}",
            "record one with 'bakectl run ... --record DIR --upstream URL'",
        )
    problems = []
    for fx in fixtures:
        found = check_fixture(fx)
        problems += found
        print(f"{'ok  ' if not found else 'FAIL'} {fx}")
    for p in problems:
        typer.echo(f"  {p}", err=True)
    if problems:
        raise BakectlError(
            f"{len(problems)} problem(s) in {len(fixtures)} fixture(s)",
            "re-record the fixture; never commit a credential",
        )
    print(f"ok: {len(fixtures)} fixture(s) parse, have provenance and hold no secret")
