"""Regression gate: a job against limits and a baseline job, paired per task -> gate.json.

    thresholds = Thresholds(min_pass_rate=0.8, max_pass_rate_drop=0.05, max_token_increase=10)
    record = evaluate(load_job(Path("runs/new")), load_job(Path("runs/base")), thresholds)
    path = write_gate(Path("runs/new"), record)             # a GateRecord

Units (the same on the command line and in gate.json):

- min_pass_rate: a fraction, 0.8 = 80 % (the job's own pass rate over its scored attempts).
- max_pass_rate_drop: fraction points, 0.05 = five points below the baseline's.
- min_score / max_score_drop: the mean of the gated metric (`--metric NAME`; default the
  primary reward) over scored attempts, and its paired drop against the baseline.
- max_token_increase, max_runtime_increase: percent, 10 = 10 % more than the baseline.
On the command line fractions also take a "%" suffix: --min-pass-rate 80%.

Comparisons with the baseline are PAIRED: a task counts when both jobs scored it (each
side's per-task pass rate / metric mean over its scored attempts); tokens and runtime are
summed over the tasks both jobs have a result for. Tasks only one side has are listed in the
warnings, never averaged in. A baseline of another benchmark is bad input; a different
task set or a dirty git tree is a warning and the checks still run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bakectl.errors import BakectlError, UsageError
from bakectl.results.records import GateCheck, GateRecord, TaskSummary, write_record
from bakectl.results.report import Job, metric_names, summarize


@dataclass(frozen=True)
class Thresholds:
    min_pass_rate: float | None = None  # fraction
    max_pass_rate_drop: float | None = None  # fraction points
    min_score: float | None = None  # the gated metric's mean
    max_score_drop: float | None = None  # its paired drop
    max_token_increase: float | None = None  # percent
    max_runtime_increase: float | None = None  # percent

    def any(self) -> bool:
        return any(v is not None for v in vars(self).values())

    def needs_baseline(self) -> list[str]:
        names = ("max_pass_rate_drop", "max_score_drop", "max_token_increase")
        names += ("max_runtime_increase",)
        return [n for n in names if getattr(self, n) is not None]


def _parse_number(flag: str, text: str) -> tuple[float, bool]:
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1] if percent else raw)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a number", f"e.g. {flag} 10") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"{flag} {text!r} is not a finite number", f"e.g. {flag} 10")
    return value, percent


def parse_fraction(flag: str, text: str | None) -> float | None:
    """'0.8' or '80%' -> 0.8; a bare number above 1 is refused (ambiguous)."""
    if text is None:
        return None
    value, percent = _parse_number(flag, text)
    if percent:
        value /= 100
    elif value > 1:
        raise UsageError(
            f"{flag} {text} is above 1; pass rates are fractions",
            f"write {flag} {value / 100:g} or {flag} {text}%",
        )
    if not 0 <= value <= 1:
        raise UsageError(f"{flag} {text} is outside 0..1", f"e.g. {flag} 0.8 (= 80%)")
    return value


def parse_percent(flag: str, text: str | None) -> float | None:
    """'10' or '10%' -> 10.0 (percent)."""
    if text is None:
        return None
    value, _ = _parse_number(flag, text)
    if value < -100:
        raise UsageError(f"{flag} {text} is below -100 %", f"e.g. {flag} 10 (= +10 %)")
    return value


def parse_score(flag: str, text: str | None) -> float | None:
    return None if text is None else _parse_number(flag, text)[0]


# -- per-task values --------------------------------------------------------------------------


def _task_rate(t: TaskSummary) -> float | None:
    """The task's pass rate over its scored attempts (pass@1), None when none was scored."""
    return t.pass_at_k.get("1")


def _task_score(t: TaskSummary, metric: str | None) -> float | None:
    if metric is None:
        return t.reward if t.pass_at_k else None
    return t.rewards.get(metric)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def _increase(run: float, base: float) -> float | None:
    """Percent increase; None when the baseline is 0 and the run is not (no ratio)."""
    if base == 0:
        return 0.0 if run == 0 else None
    return round((run / base - 1) * 100, 6)  # 220 vs 200 is +10 %, not +10.000000000000009 %


def _increase_check(name: str, what: str, run: float, base: float, limit: float, n: int):
    if n == 0:
        return GateCheck(name=name, ok=False, limit=limit, message=f"no paired task has {what}")
    value = _increase(run, base)
    if value is None:
        return GateCheck(
            name=name,
            ok=False,
            limit=limit,
            message=f"baseline {what} is 0, job {what} is {run:,.0f}",
        )
    msg = f"{what}: job {run:,.1f}, baseline {base:,.1f} over {n} paired tasks ({value:+.1f} %)"
    return GateCheck(name=name, ok=value <= limit, value=value, limit=limit, message=msg)


def _drop_check(name: str, what: str, pairs: list[tuple[float, float]], limit: float):
    if not pairs:
        return GateCheck(name=name, ok=False, limit=limit, message=f"no task {what} in both jobs")
    run = sum(r for r, _ in pairs) / len(pairs)
    base = sum(b for _, b in pairs) / len(pairs)
    drop = round(base - run, 6)
    msg = f"paired over {len(pairs)} tasks: baseline {base:.4f}, job {run:.4f}"
    return GateCheck(name=name, ok=drop <= limit, value=drop, limit=limit, message=msg)


def _few(items: list[str], n: int = 10) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def evaluate(
    job: Job, baseline: Job | None, thresholds: Thresholds, metric: str | None = None
) -> GateRecord:
    """The gate's record. UsageError: no limit; a limit that needs a baseline without one;
    a baseline of another benchmark; a metric the jobs lack."""
    if not thresholds.any():
        raise UsageError(
            "no checks: give at least one limit",
            "e.g. --min-pass-rate 0.8, --max-pass-rate-drop 0.05, --min-score 0.5,"
            " --max-token-increase 10, --max-runtime-increase 20",
        )
    if baseline is None and thresholds.needs_baseline():
        flag = "--" + thresholds.needs_baseline()[0].replace("_", "-")
        raise UsageError(f"{flag} compares with a baseline", "add --baseline runs/<job_id>")
    s_run = summarize(job)
    s_base = summarize(baseline) if baseline is not None else None
    if metric is not None:
        for s, d in ((s_run, job.dir), (s_base, baseline.dir if baseline else None)):
            if s is None:
                continue
            have = metric_names([s])
            if metric not in have:
                raise UsageError(
                    f"--metric {metric}: job {d} has no metric {metric!r}"
                    f" (its metrics: {', '.join(have) or 'none'})",
                    f"e.g. --metric {have[0]}" if have else "drop --metric",
                )
    if s_base is not None and s_run.benchmark != s_base.benchmark:
        raise UsageError(
            f"baseline {baseline.dir} is for benchmark {s_base.benchmark}, "
            f"job {job.dir} is for {s_run.benchmark}",
            "compare a job with a baseline of the same benchmark",
        )
    t = thresholds
    checks: list[GateCheck] = []
    warnings: list[str] = []
    what = metric or "reward"
    if t.min_pass_rate is not None:
        pr = s_run.pass_rate
        checks.append(
            GateCheck(
                name="pass_rate",
                ok=pr is not None and pr >= t.min_pass_rate,
                value=pr,
                limit=t.min_pass_rate,
                message=f"{s_run.counts.get('passed', 0)} of {s_run.scored} scored attempts passed",
            )
        )
    if t.min_score is not None:
        score = s_run.reward if metric is None else s_run.metrics.get(metric)
        checks.append(
            GateCheck(
                name=f"score:{what}",
                ok=score is not None and score >= t.min_score,
                value=score,
                limit=t.min_score,
                message=f"mean {what} over {s_run.scored} scored attempts",
            )
        )
    if s_base is not None:
        rows_run = {r.task: r for r in s_run.tasks}
        rows_base = {r.task: r for r in s_base.tasks}
        both = [x for x in rows_run if x in rows_base]
        only_run = [x for x in rows_run if x not in rows_base]
        only_base = [x for x in rows_base if x not in rows_run]
        if only_run or only_base:
            warnings.append(
                f"task set differs: {len(both)} in both; only in job: {_few(only_run) or '-'};"
                f" only in baseline: {_few(only_base) or '-'}"
            )
        for name, s in (("job", s_run), ("baseline", s_base)):
            if s.provenance.get("git_dirty"):
                warnings.append(
                    f"{name} was made from a dirty git tree ({s.provenance.get('git_commit')})"
                )
        if t.max_pass_rate_drop is not None:
            pairs = [
                (a, b)
                for x in both
                if (a := _task_rate(rows_run[x])) is not None
                and (b := _task_rate(rows_base[x])) is not None
            ]
            checks.append(_drop_check("pass_rate_drop", "scored", pairs, t.max_pass_rate_drop))
        if t.max_score_drop is not None:
            pairs = [
                (a, b)
                for x in both
                if (a := _task_score(rows_run[x], metric)) is not None
                and (b := _task_score(rows_base[x], metric)) is not None
            ]
            checks.append(
                _drop_check(f"score_drop:{what}", f"with {what}", pairs, t.max_score_drop)
            )
        have = [x for x in both if rows_run[x].status and rows_base[x].status]
        unpaired = len(both) - len(have)
        if unpaired:
            warnings.append(
                f"{unpaired} paired tasks lack a result on one side (left out of tokens, runtime)"
            )
        if t.max_token_increase is not None:
            run = sum(rows_run[x].tokens.input + rows_run[x].tokens.output for x in have)
            base = sum(rows_base[x].tokens.input + rows_base[x].tokens.output for x in have)
            checks.append(
                _increase_check(
                    "token_increase", "tokens", run, base, t.max_token_increase, len(have)
                )
            )
        if t.max_runtime_increase is not None:
            run = sum(rows_run[x].seconds for x in have)
            base = sum(rows_base[x].seconds for x in have)
            checks.append(
                _increase_check(
                    "runtime_increase", "seconds", run, base, t.max_runtime_increase, len(have)
                )
            )
    return GateRecord(
        job=str(job.dir),
        baseline=str(baseline.dir) if baseline is not None else None,
        metric=what,
        passed=all(c.ok for c in checks),
        checks=checks,
        warnings=warnings,
    )


def write_gate(job_dir: Path, record: GateRecord) -> Path:
    """<job_dir>/gate.json, atomically."""
    path = Path(job_dir) / "gate.json"
    try:
        write_record(path, record)
    except OSError as exc:
        raise BakectlError(
            f"could not write {path}: {exc.strerror}", "is the job directory writable?"
        ) from None
    return path


def _limit_text(c: GateCheck) -> str:
    if c.limit is None:
        return ""
    if c.name.endswith("_increase"):
        return f"max {c.limit:+g}%"
    return (
        f"min {c.limit:g}"
        if c.name in ("pass_rate",) or c.name.startswith("score:")
        else (f"max {c.limit:g}")
    )


def _value_text(c: GateCheck) -> str:
    if c.value is None:
        return "-"
    return f"{c.value:+.1f}%" if c.name.endswith("_increase") else f"{c.value:.4f}"


def check_lines(record: GateRecord) -> list[str]:
    """One line per check: PASS|FAIL name value limit (message)."""
    rows = [
        ("PASS" if c.ok else "FAIL", c.name, _value_text(c), _limit_text(c), c.message)
        for c in record.checks
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)] if rows else []
    return [
        "  ".join(x.ljust(w) for x, w in zip(r[:4], widths, strict=True)) + f"  ({r[4]})"
        for r in rows
    ]
