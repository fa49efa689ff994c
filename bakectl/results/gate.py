"""Regression gate: compare a run with a baseline run, check limits, write RUN/gate.json.

    thresholds = Thresholds(min_pass_rate=0.8, max_pass_rate_drop=0.05, max_token_increase=10)
    verdict = evaluate(Path("runs/new"), Path("runs/base"), thresholds)
    path = write_gate(Path("runs/new"), verdict)

Units (the same on the command line and in gate.json):

- min_pass_rate: a fraction, 0.8 = 80 % (the run's own pass rate over every task it lists).
- max_pass_rate_drop: fraction points, 0.05 = five points lower than the baseline's.
- max_token_increase, max_runtime_increase: percent, 10 = 10 % more than the baseline.
On the command line each also takes a "%" suffix: --min-pass-rate 80%, --max-pass-rate-drop 5%.

Comparisons are PAIRED: only tasks both runs list count. The pass-rate drop is taken over
those (a missing result counts as not passed, as in the pass rate); tokens and runtime over
those with a result on both sides, summed (total run / total baseline - 1). Tasks that only
one side lists, or that one side has no result for, are listed in "paired", never averaged in.

A baseline for another benchmark is bad input (UsageError). A different data revision or
task set is flagged in "provenance" and printed, and the checks still run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakectl.errors import BakectlError, UsageError
from bakectl.results.report import MISSING, summarize
from bakectl.results.rundir import write_json

GATE_KIND = "bakectl-gate"
GATE_VERSION = 1


@dataclass(frozen=True)
class Thresholds:
    min_pass_rate: float | None = None  # fraction
    max_pass_rate_drop: float | None = None  # fraction points
    max_token_increase: float | None = None  # percent
    max_runtime_increase: float | None = None  # percent

    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.min_pass_rate,
                self.max_pass_rate_drop,
                self.max_token_increase,
                self.max_runtime_increase,
            )
        )


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


def _check(name: str, value: float | None, threshold: float, ok: bool, unit: str, detail: str):
    return {
        "name": name,
        "value": None if value is None else round(value, 6),
        "threshold": threshold,
        "passed": ok,
        "unit": unit,
        "detail": detail,
    }


def _increase(run: float, base: float) -> float | None:
    """Percent increase; None when the baseline is 0 and the run is not (no ratio)."""
    if base == 0:
        return 0.0 if run == 0 else None
    # Compared as shown: 220 tokens against 200 is +10 %, not +10.000000000000009 %.
    return round((run / base - 1) * 100, 6)


def _increase_check(name: str, what: str, run: float, base: float, limit: float, n: int):
    if n == 0:
        return _check(
            name, None, limit, False, "percent", f"no paired task has {what} on both sides"
        )
    value = _increase(run, base)
    if value is None:
        return _check(
            name, None, limit, False, "percent", f"baseline {what} is 0, run {what} is {run:,.0f}"
        )
    detail = f"{what}: run {run:,.0f}, baseline {base:,.0f} over {n} paired tasks"
    if run == 0 and base == 0:
        detail = f"no {what} recorded on either side ({n} paired tasks)"
    return _check(name, value, limit, value <= limit, "percent", detail)


def evaluate(run: Path, baseline: Path, thresholds: Thresholds) -> dict:
    """The gate verdict (what gate.json holds). UsageError for a baseline of another
    benchmark, or when no limit is given."""
    if not thresholds.any():
        raise UsageError(
            "no checks: give at least one limit",
            "e.g. --min-pass-rate 0.8, --max-pass-rate-drop 0.05, --max-token-increase 10,"
            " --max-runtime-increase 20",
        )
    s_run = summarize(run, wall_time=False)
    s_base = summarize(baseline, wall_time=False)
    if s_run.get("benchmark") != s_base.get("benchmark"):
        raise UsageError(
            f"baseline is for benchmark {s_base.get('benchmark')}, "
            f"run is for {s_run.get('benchmark')}",
            "compare a run with a baseline of the same benchmark",
        )
    rows_run = {r["task"]: r for r in s_run["tasks"]}
    rows_base = {r["task"]: r for r in s_base["tasks"]}
    both = [t for t in rows_run if t in rows_base]
    only_run = [t for t in rows_run if t not in rows_base]
    only_base = [t for t in rows_base if t not in rows_run]
    missing_run = [t for t in both if rows_run[t]["status"] == MISSING]
    missing_base = [t for t in both if rows_base[t]["status"] == MISSING]
    gone = set(missing_run) | set(missing_base)
    with_results = [t for t in both if t not in gone]
    timed = [
        t
        for t in with_results
        if rows_run[t]["duration_sec"] is not None and rows_base[t]["duration_sec"] is not None
    ]

    def rate(rows: dict[str, dict]) -> float | None:
        return round(sum(rows[t]["passed"] for t in both) / len(both), 6) if both else None

    def tokens(rows: dict[str, dict]) -> int:
        return sum(rows[t]["tokens_in"] + rows[t]["tokens_out"] for t in with_results)

    def runtime(rows: dict[str, dict]) -> float:
        return round(sum(rows[t]["duration_sec"] for t in timed), 3)

    paired_metrics = {
        "run": {
            "pass_rate": rate(rows_run),
            "tokens": tokens(rows_run),
            "runtime_sec": runtime(rows_run),
        },
        "baseline": {
            "pass_rate": rate(rows_base),
            "tokens": tokens(rows_base),
            "runtime_sec": runtime(rows_base),
        },
    }

    checks: list[dict] = []
    t = thresholds
    if t.min_pass_rate is not None:
        pr = s_run["pass_rate"]
        checks.append(
            _check(
                "pass_rate",
                pr,
                t.min_pass_rate,
                pr is not None and pr >= t.min_pass_rate,
                "fraction",
                f"{s_run['passed']} of {s_run['coverage']['tasks']} tasks passed",
            )
        )
    if t.max_pass_rate_drop is not None:
        r_run, r_base = paired_metrics["run"]["pass_rate"], paired_metrics["baseline"]["pass_rate"]
        if r_run is None or r_base is None:
            checks.append(
                _check(
                    "pass_rate_drop",
                    None,
                    t.max_pass_rate_drop,
                    False,
                    "fraction",
                    "no task in both runs",
                )
            )
        else:
            drop = round(r_base - r_run, 6)
            checks.append(
                _check(
                    "pass_rate_drop",
                    drop,
                    t.max_pass_rate_drop,
                    drop <= t.max_pass_rate_drop,
                    "fraction",
                    f"paired over {len(both)} tasks: baseline {r_base:.4f}, run {r_run:.4f}",
                )
            )
    if t.max_token_increase is not None:
        checks.append(
            _increase_check(
                "token_increase",
                "tokens",
                paired_metrics["run"]["tokens"],
                paired_metrics["baseline"]["tokens"],
                t.max_token_increase,
                len(with_results),
            )
        )
    if t.max_runtime_increase is not None:
        checks.append(
            _increase_check(
                "runtime_increase",
                "seconds",
                paired_metrics["run"]["runtime_sec"],
                paired_metrics["baseline"]["runtime_sec"],
                t.max_runtime_increase,
                len(timed),
            )
        )

    prov_run, prov_base = s_run.get("provenance") or {}, s_base.get("provenance") or {}
    same_rev = prov_run.get("data_revision") == prov_base.get("data_revision")
    same_set = not only_run and not only_base
    flagged: list[str] = []
    if not same_rev:
        flagged.append(
            f"data revision differs: run {prov_run.get('data_revision')}, "
            f"baseline {prov_base.get('data_revision')}"
        )
    if not same_set:
        flagged.append(
            f"task set differs: {len(only_run)} only in run, {len(only_base)} only in baseline,"
            f" {len(both)} in both"
        )
    for name, prov in (("run", prov_run), ("baseline", prov_base)):
        if prov.get("git_dirty") is True:
            flagged.append(f"{name} was made from a dirty git tree ({prov.get('git_commit')})")
    if missing_run or missing_base:
        flagged.append(
            f"results missing for paired tasks: {len(missing_run)} in run, "
            f"{len(missing_base)} in baseline (left out of the token and runtime checks)"
        )

    return {
        "kind": GATE_KIND,
        "version": GATE_VERSION,
        "run": str(run),
        "baseline": str(baseline),
        "benchmark": s_run.get("benchmark"),
        "run_batch_id": s_run.get("batch_id"),
        "baseline_batch_id": s_base.get("batch_id"),
        "checks": checks,
        "paired": {
            "tasks_both": len(both),
            "only_in_run": only_run,
            "only_in_baseline": only_base,
            "missing_in_run": missing_run,
            "missing_in_baseline": missing_base,
            "metrics": paired_metrics,
        },
        "provenance": {
            "same_benchmark": True,
            "same_data_revision": same_rev,
            "same_task_set": same_set,
            "flagged": flagged,
        },
        "passed": all(c["passed"] for c in checks),
    }


def write_gate(run: Path, verdict: dict) -> Path:
    """<run>/gate.json, atomically."""
    path = Path(run) / "gate.json"
    try:
        write_json(path, verdict)
    except OSError as exc:
        raise BakectlError(
            f"could not write {path}: {exc}", "is the run directory writable?"
        ) from None
    return path


def _fmt_value(c: dict[str, Any]) -> tuple[str, str]:
    v, th = c["value"], c["threshold"]
    if c["unit"] == "percent":
        return ("-" if v is None else f"{v:+.1f}%"), f"max {th:+g}%"
    if c["name"] == "pass_rate":
        return ("-" if v is None else f"{v:.4f}"), f"min {th:g}"
    return ("-" if v is None else f"{v:.4f}"), f"max {th:g}"


def check_lines(verdict: dict) -> list[str]:
    """One line per check: PASS|FAIL name value threshold (detail)."""
    rows = []
    for c in verdict["checks"]:
        value, threshold = _fmt_value(c)
        rows.append(("PASS" if c["passed"] else "FAIL", c["name"], value, threshold, c["detail"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)] if rows else []
    return [
        "  ".join(x.ljust(w) for x, w in zip(r[:4], widths, strict=True)) + f"  ({r[4]})"
        for r in rows
    ]
