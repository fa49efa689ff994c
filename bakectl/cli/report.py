"""bakectl report | gate"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

FORMATS = ("table", "json", "csv", "markdown")


def report(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Batch directories or task run directories; several: side by side."),
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table | json | csv | markdown")
    ] = "table",
) -> None:
    """Summarize runs: pass rate, mean reward and coverage, tokens, wall time, errors, tasks.

    One run: its summary, then a row per task. Several: a summary line per run, then a row per task with a status/reward cell per run (runs side by side).

    csv holds the task rows only; json holds everything. Reads the run directories, writes nothing.
    """
    from bakectl.errors import UsageError
    from bakectl.results import report as rp

    if fmt not in FORMATS:
        raise UsageError(
            f"--format {fmt!r} is not one of {', '.join(FORMATS)}", "e.g. --format json"
        )
    summaries = [rp.summarize(p) for p in runs]
    if len(runs) == 1:
        s = summaries[0]
        if fmt == "json":
            text = rp.dumps({"path": str(runs[0]), **s})
        elif fmt == "csv":
            text = rp.format_csv(s)
        elif fmt == "markdown":
            text = rp.format_markdown(s)
        else:
            text = rp.format_table(s)
    else:
        names = rp.column_names(runs)
        if fmt == "json":
            text = rp.dumps(rp.multi_json(names, runs, summaries), ("runs", "side_by_side"))
        elif fmt == "csv":
            text = rp.format_multi_csv(names, summaries)
        elif fmt == "markdown":
            text = rp.format_multi_markdown(names, summaries)
        else:
            text = rp.format_multi_table(names, summaries)
    sys.stdout.write(text + "\n")


def gate(
    run: Annotated[Path, typer.Argument(help="The run to judge (batch or task run directory).")],
    baseline: Annotated[Path, typer.Option("--baseline", "-b", help="The run to compare with.")],
    min_pass_rate: Annotated[
        str | None,
        typer.Option("--min-pass-rate", help="Lowest pass rate of RUN: a fraction (0.8) or 80%."),
    ] = None,
    max_pass_rate_drop: Annotated[
        str | None,
        typer.Option(
            "--max-pass-rate-drop",
            help="Largest paired pass-rate drop vs the baseline: fraction points (0.05) or 5%.",
        ),
    ] = None,
    max_token_increase: Annotated[
        str | None,
        typer.Option(
            "--max-token-increase", help="Largest paired token increase in percent (10 = +10%)."
        ),
    ] = None,
    max_runtime_increase: Annotated[
        str | None,
        typer.Option(
            "--max-runtime-increase",
            help="Largest paired wall-time increase in percent (20 = +20%).",
        ),
    ] = None,
) -> None:
    """Check RUN against BASELINE; write RUN/gate.json. Exit 1 when a check fails.

    Comparisons are paired per task: only tasks both runs list count; the others are listed, never averaged in. Tokens and runtime are summed over the paired tasks with a result on both sides.

    A baseline of another benchmark is bad input (exit 2); a different data revision or task set is flagged, and the checks still run.
    """
    from bakectl.results import gate as g

    thresholds = g.Thresholds(
        min_pass_rate=g.parse_fraction("--min-pass-rate", min_pass_rate),
        max_pass_rate_drop=g.parse_fraction("--max-pass-rate-drop", max_pass_rate_drop),
        max_token_increase=g.parse_percent("--max-token-increase", max_token_increase),
        max_runtime_increase=g.parse_percent("--max-runtime-increase", max_runtime_increase),
    )
    verdict = g.evaluate(run, baseline, thresholds)
    path = g.write_gate(run, verdict)
    for flag in verdict["provenance"]["flagged"]:
        print(f"bakectl: warning: {flag}", file=sys.stderr)
    p = verdict["paired"]
    line = f"paired: {p['tasks_both']} tasks in both"
    if p["only_in_run"]:
        line += f"; only in run: {_few(p['only_in_run'])}"
    if p["only_in_baseline"]:
        line += f"; only in baseline: {_few(p['only_in_baseline'])}"
    print(line)
    for text in g.check_lines(verdict):
        print(text)
    failed = sum(not c["passed"] for c in verdict["checks"])
    if failed:
        print(f"gate: FAILED ({failed} of {len(verdict['checks'])} checks) -> {path}")
        raise typer.Exit(1)
    print(f"gate: passed ({len(verdict['checks'])} checks) -> {path}")


def _few(items: list[str], n: int = 10) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more
