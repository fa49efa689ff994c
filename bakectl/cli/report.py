"""bakectl report | gate"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

FORMATS = ("table", "json", "csv", "markdown", "html")

Json = Annotated[
    bool, typer.Option("--json", help="Machine-readable JSON on stdout (nothing else there).")
]


def report(
    jobs: Annotated[
        list[Path],
        typer.Argument(
            help="Job directories (runs/<job_id>) or folders of them; several: side by side."
        ),
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table | json | csv | markdown | html")
    ] = "table",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write to FILE instead of stdout (html: required)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Summarize jobs: pass rate, pass@k, rewards and each named metric, coverage, faults, tokens, time, tasks.

    One job: its summary, then a row per task. Several (or a folder of jobs): a summary line per job, then a row per task with a cell per job (side by side).

    csv holds the task rows only; json is the summary record; html is one self-contained page (summary, a sortable and filterable task table, each task's exchanges and logs). Reads the records, writes nothing but --out.
    """
    from bakectl.errors import UsageError
    from bakectl.results import report as rp

    if as_json:
        fmt = "json"
    if fmt not in FORMATS:
        raise UsageError(
            f"--format {fmt!r} is not one of {', '.join(FORMATS)}", "e.g. --format json"
        )
    if fmt == "html" and out is None:
        raise UsageError("--format html needs --out FILE", "e.g. --format html -o report.html")
    paths = rp.expand(jobs)
    loaded = [rp.load_job(p) for p in paths]
    if fmt == "html":
        from bakectl.results.page import write_page

        write_page(loaded, out)
        print(f"report: {out} ({len(loaded)} job(s))", file=sys.stderr)
        return
    summaries = [rp.summarize(j) for j in loaded]
    if len(summaries) == 1:
        s = summaries[0]
        text = {
            "json": rp.format_json,
            "csv": rp.format_csv,
            "markdown": rp.format_markdown,
            "table": rp.format_table,
        }[fmt](s)
    else:
        names = rp.column_names(paths)
        if fmt == "json":
            text = rp.format_multi_json(names, paths, summaries)
        elif fmt == "csv":
            text = rp.format_multi_csv(names, summaries)
        elif fmt == "markdown":
            text = rp.format_multi_markdown(names, summaries)
        else:
            text = rp.format_multi_table(names, summaries)
    if out is not None:
        from bakectl.results.records import write_atomic

        write_atomic(out, text + "\n")
        print(f"report: {out}", file=sys.stderr)
        return
    sys.stdout.write(text + "\n")


def gate(
    job: Annotated[Path, typer.Argument(help="The job to judge (runs/<job_id>).")],
    baseline: Annotated[
        Path | None, typer.Option("--baseline", "-b", help="The job to compare with.")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="Gate --min-score/--max-score-drop on this named metric."),
    ] = None,
    min_pass_rate: Annotated[
        str | None,
        typer.Option("--min-pass-rate", help="Lowest pass rate of JOB: a fraction (0.8) or 80%."),
    ] = None,
    max_pass_rate_drop: Annotated[
        str | None,
        typer.Option(
            "--max-pass-rate-drop",
            help="Largest paired pass-rate drop vs the baseline: fraction points (0.05) or 5%.",
        ),
    ] = None,
    min_score: Annotated[
        str | None,
        typer.Option("--min-score", help="Lowest mean of the metric (default: the reward)."),
    ] = None,
    max_score_drop: Annotated[
        str | None,
        typer.Option("--max-score-drop", help="Largest paired drop of the metric's mean."),
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
    as_json: Json = False,
) -> None:
    """Check JOB against limits (and BASELINE); write JOB/gate.json. Exit 1 when a check fails.

    Comparisons are paired per task: only tasks both jobs scored count; the others are listed, never averaged in. --metric NAME gates on one named metric (a metric the jobs lack is bad input).

    A baseline of another benchmark is bad input (exit 2); a different task set is flagged, and the checks still run.
    """
    from bakectl.results import gate as g
    from bakectl.results.report import find_one_job, load_job

    thresholds = g.Thresholds(
        min_pass_rate=g.parse_fraction("--min-pass-rate", min_pass_rate),
        max_pass_rate_drop=g.parse_fraction("--max-pass-rate-drop", max_pass_rate_drop),
        min_score=g.parse_score("--min-score", min_score),
        max_score_drop=g.parse_score("--max-score-drop", max_score_drop),
        max_token_increase=g.parse_percent("--max-token-increase", max_token_increase),
        max_runtime_increase=g.parse_percent("--max-runtime-increase", max_runtime_increase),
    )
    run = load_job(find_one_job(job))
    base = load_job(find_one_job(baseline)) if baseline is not None else None
    record = g.evaluate(run, base, thresholds, metric)
    path = g.write_gate(run.dir, record)
    for w in record.warnings:
        print(f"bakectl: warning: {w}", file=sys.stderr)
    failed = sum(not c.ok for c in record.checks)
    if as_json:
        sys.stdout.write(record.model_dump_json(indent=2) + "\n")
    else:
        for text in g.check_lines(record):
            print(text)
        verdict = f"FAILED ({failed} of" if failed else "passed ("
        print(f"gate: {verdict} {len(record.checks)} checks) -> {path}")
    if failed:
        raise typer.Exit(1)
