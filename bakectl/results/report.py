"""A job's summary, from its typed records: counts, pass rate, pass@k, metrics, per-task rows.

    job = load_job(Path("runs/<job_id>"))         # job.json + every attempt's result
    summary = summarize(job)                      # a SummaryRecord
    write_summary(Path("runs/<job_id>"))          # -> runs/<job_id>/summary.json

Only job.json and each attempt's result.json are read (with `read_record`): result.json
holds tokens and timings, so no trace or log is opened. An attempt that the job's
results index (results.jsonl, `bakectl.results.index`) still vouches for is taken from
it instead of its own file: the same record, one file read instead of 10,000. An attempt's result is its newest
re-score's (`attempt-<k>/rescore-<time>/result.json`) when it has one (the task is then
marked `rescored`), else its own.

Counting rules (every count is over attempts; with -k 1 an attempt is a task):

- scored: attempts whose verdict is the agent's own: passed, failed, timeout. error and
  invalid attempts are `errored` (an infrastructure fault is never the agent's failure:
  they are left out of pass rate, pass@k and rewards). missing: attempts the job asked for
  (tasks x attempts) with no result yet.
- pass_rate = passed / scored. reward = mean primary reward over scored attempts (a
  timeout without a reward counts 0); metrics = mean of each named metric over the
  scored attempts that wrote it.
- pass@k per task: the unbiased estimator `pass_at_k(n, c, k)`, n = its scored attempts,
  c = those that passed, for k = 1 and k = the job's attempts (keys "1" and "<k>"); a task
  with fewer than k scored attempts has no pass@k for that k. Overall: the mean over the
  tasks that have it.
- tokens and seconds (timings["total"]) are summed over every attempt: retries cost too.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bakectl.errors import BakectlError, UsageError
from bakectl.results import index as results_index
from bakectl.results.records import (
    Fault,
    JobRecord,
    ResultRecord,
    SummaryRecord,
    TaskSummary,
    Tokens,
    parse_record,
    pass_at_k,
    read_record,
    write_record,
)

SCORED = frozenset({"passed", "failed", "timeout"})
ERRORED = frozenset({"error", "invalid"})
MISSING = "missing"
RESCORE_PREFIX = "rescore-"
JOB_FILE = "job.json"


# -- finding jobs -----------------------------------------------------------------------------


def is_job(path: Path) -> bool:
    try:
        return (Path(path) / JOB_FILE).is_file()
    except OSError:  # a name too long, a folder we may not read: not a job
        return False


def check_path(path: Path) -> None:
    """The path a user gave exists and can be looked at, else one clear error."""
    try:
        path.stat()
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such directory", "give a job directory runs/<job_id>"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}", "give a job directory runs/<job_id>") from None


def find_jobs(path: Path) -> list[Path]:
    """[path] for a job directory, its job directories (sorted) for a folder of jobs;
    UsageError for anything else (a Harbor job folder, a random folder)."""
    path = Path(path)
    check_path(path)
    if is_job(path):
        return [path]
    if path.is_dir():
        jobs = sorted(d for d in path.iterdir() if d.is_dir() and is_job(d))
        if jobs:
            return jobs
    raise not_a_job(path)


def not_a_job(path: Path) -> UsageError:
    why = "no job.json"
    if (path / "result.json").is_file() or (path / "config.json").is_file():
        why += "; its result.json/config.json were not written by bakectl (a Harbor job?)"
    return UsageError(
        f"{path} is not a bakectl job ({why})",
        "give a job directory bakectl run wrote (runs/<job_id>) or a folder of them (runs/)",
    )


def find_one_job(path: Path) -> Path:
    """A job directory itself (gate and score take one job, not a folder of them)."""
    path = Path(path)
    check_path(path)
    if is_job(path):
        return path
    if path.is_dir() and any(is_job(d) for d in path.iterdir() if d.is_dir()):
        raise UsageError(
            f"{path} is a folder of jobs, not one job", f"give one of them: {path}/<job_id>"
        )
    raise not_a_job(path)


def expand(paths: list[Path]) -> list[Path]:
    """Each argument as its job(s): `report runs/` reports every job under runs/."""
    return [job for p in paths for job in find_jobs(p)]


# -- reading a job ----------------------------------------------------------------------------


@dataclass
class Attempt:
    k: int
    dir: str  # the attempt-<k>/ directory
    result: ResultRecord | None  # None: no result yet
    result_path: str | None = None
    rescored: bool = False


@dataclass
class Job:
    dir: Path
    record: JobRecord
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # task -> attempts


def _rescore_key(name: str) -> tuple[str, int]:
    """rescore-<stamp>[-n]: by stamp, then n (rescore-X-10 after rescore-X-9)."""
    stamp, _, n = name[len(RESCORE_PREFIX) :].partition("-")
    return stamp, int(n) if n.isdigit() else 1


def newest_result(attempt_dir: Path | str) -> tuple[str | None, bool]:
    """(the path of the result.json that counts, whether it is a re-score's)."""
    d = os.fspath(attempt_dir)
    try:
        names = os.listdir(d)
    except OSError:
        return None, False
    rescores = [n for n in names if n.startswith(RESCORE_PREFIX)]
    for name in sorted(rescores, key=_rescore_key, reverse=True):
        path = os.path.join(d, name, "result.json")
        if os.path.isfile(path):
            return path, True
    if "result.json" in names:
        return os.path.join(d, "result.json"), False
    return None, False


def read_result(path: str) -> ResultRecord:
    """read_record for the 10,000 results of a job: the same parser (parse_record), with
    the path kept a string (a Path per file costs as much as validating it)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}", "check the path") from None
    return parse_record(raw, ResultRecord, path)


def load_job(job_dir: Path) -> Job:
    job_dir = Path(job_dir)
    if not is_job(job_dir):
        raise not_a_job(job_dir)
    record = read_record(job_dir / JOB_FILE, JobRecord)
    job = Job(job_dir, record)
    indexed = results_index.load(job_dir)
    for task in dict.fromkeys(record.task_ids):
        job.attempts[task] = task_attempts(job_dir, record, task, indexed)
    return job


def task_attempts(
    job_dir: Path,
    record: JobRecord,
    task: str,
    indexed: dict[str, results_index.Indexed] | None = None,
) -> list[Attempt]:
    """One task's attempts: attempt-1..attempt-<attempts> (attempt-<k>.try-<r>/ are earlier
    tries of a retried attempt, not counted). An attempt the index still vouches for is
    taken from it; any other is read from its files."""
    check_task_id(task, job_dir)
    found = []
    for k in range(1, max(record.attempts, 1) + 1):
        rel = f"tasks/{task}/attempt-{k}"
        d = os.path.join(job_dir, rel)
        hit = indexed.get(rel) if indexed else None
        if hit is not None:
            found.append(Attempt(k, d, hit.record, hit.result_path, hit.rescored))
            continue
        path, rescored = newest_result(d)
        if path is None and not os.path.isdir(d):
            continue  # not started
        result = read_result(path) if path is not None else None
        found.append(Attempt(k, d, result, path, rescored))
    return found


def check_task_id(task: str, job_dir: Path) -> None:
    """A job.json may be hand-edited: a task id never walks out of the job's directory."""
    if not task or task in (".", "..") or "/" in task or "\\" in task or "\0" in task:
        raise UsageError(
            f"{job_dir / JOB_FILE}: task id {task!r} is not a directory name",
            "the file is damaged or hand-edited; rerun what wrote it",
        )


# -- the summary ------------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def _seconds(r: ResultRecord) -> float:
    if "total" in r.timings:
        return r.timings["total"]
    return sum(r.timings.values())


def _sum_tokens(all_tokens: list[Tokens]) -> Tokens:
    tin = tout = cached = requests = 0
    for t in all_tokens:
        tin += t.input
        tout += t.output
        cached += t.cached
        requests += t.requests
    return Tokens.model_construct(input=tin, output=tout, cached=cached, requests=requests)


def _scored_reward(r: ResultRecord) -> float:
    return r.reward if r.reward is not None else 0.0


def summarize_task(task: str, attempts: list[Attempt], k: int) -> TaskSummary:
    results = [a.result for a in attempts if a.result is not None]
    scored = [r for r in results if r.status in SCORED]
    n, c = len(scored), sum(r.status == "passed" for r in scored)
    at_k = {str(j): round(pass_at_k(n, c, j), 6) for j in dict.fromkeys((1, k)) if 0 < j <= n}
    metrics: dict[str, list[float]] = {}
    tokens = results[0].tokens if len(results) == 1 else _sum_tokens([r.tokens for r in results])
    for r in scored:
        for name, v in r.rewards.items():
            metrics.setdefault(name, []).append(v)
    newest = results[-1] if results else None
    # Built from validated records: construct, not validate again (10,000 of them).
    return TaskSummary.model_construct(
        task=task,
        attempts=len(attempts),
        status=newest.status if newest else None,
        n_passed=c,
        pass_at_k=at_k,
        reward=_mean([_scored_reward(r) for r in scored]),
        rewards={m: v for m, vs in metrics.items() if (v := _mean(vs)) is not None},
        fault=newest.fault if newest else None,
        tokens=tokens,
        seconds=round(sum(_seconds(r) for r in results), 3),
        rescored=any(a.rescored for a in attempts),
    )


def summarize(job: Job) -> SummaryRecord:
    rec = job.record
    k = max(rec.attempts, 1)
    counts: dict[str, int] = {}
    faults: dict[str, int] = {}
    all_tokens: list[Tokens] = []
    rewards: list[float] = []
    metrics: dict[str, list[float]] = {}
    seconds = 0.0
    passed = scored = errored = have = 0
    rows = []
    for task, attempts in job.attempts.items():
        rows.append(summarize_task(task, attempts, k))
        for a in attempts:
            r = a.result
            if r is None:
                continue
            have += 1
            counts[r.status] = counts.get(r.status, 0) + 1
            if r.fault is not None:
                faults[r.fault.kind] = faults.get(r.fault.kind, 0) + 1
            all_tokens.append(r.tokens)
            seconds += _seconds(r)
            if r.status in ERRORED:
                errored += 1
                continue
            scored += 1
            passed += r.status == "passed"
            rewards.append(_scored_reward(r))
            for name, v in r.rewards.items():
                metrics.setdefault(name, []).append(v)
    expected = sum(max(k, len(a)) for a in job.attempts.values())
    missing = expected - have
    if missing:
        counts[MISSING] = missing
    at_k: dict[str, float] = {}
    for key in dict.fromkeys(("1", str(k))):
        vals = [t.pass_at_k[key] for t in rows if key in t.pass_at_k]
        if vals:
            at_k[key] = round(sum(vals) / len(vals), 6)
    first = next((a.result for rs in job.attempts.values() for a in rs if a.result), None)
    return SummaryRecord(
        job_id=rec.job_id,
        benchmark=rec.source.benchmark,
        agent=rec.agent,
        model=rec.model or (first.model if first else None),  # a replay's model: its fixture's
        n_tasks=len(job.attempts),
        attempts=k,
        counts=counts,
        pass_rate=round(passed / scored, 6) if scored else None,
        pass_at_k=at_k,
        reward=_mean(rewards),
        metrics={m: v for m, vs in sorted(metrics.items()) if (v := _mean(vs)) is not None},
        scored=scored,
        errored=errored,
        missing=missing,
        faults=dict(sorted(faults.items(), key=lambda kv: -kv[1])),
        tokens=_sum_tokens(all_tokens),
        seconds=round(seconds, 3),
        tasks=rows,
        provenance={
            "created_at": rec.created_at,
            "bakectl_version": rec.bakectl_version,
            "git_commit": rec.git_commit,
            "git_dirty": rec.git_dirty,
            "agent_version": rec.agent_version or (first.agent_version if first else None),
            "model_source": rec.model_source.kind,
            "task_source": rec.source.kind,
        },
    )


def summarize_dir(job_dir: Path) -> SummaryRecord:
    return summarize(load_job(job_dir))


def write_summary(job_dir: Path) -> Path:
    """The job's summary into <job_dir>/summary.json, atomically; returns its path."""
    root = Path(job_dir)
    summary = summarize_dir(root)
    path = root / "summary.json"
    try:
        write_record(path, summary)
    except OSError as exc:
        raise BakectlError(
            f"could not write {path}: {exc.strerror}", "is the job directory writable?"
        ) from None
    return path


# -- formats ----------------------------------------------------------------------------------


def fmt_num(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def fmt_reward(v: float | None) -> str:
    if v is None:
        return "-"
    text = f"{v:.4g}"
    return text if any(c in text for c in ".en") else text + ".0"


def _fmt_int(v: int) -> str:
    return f"{v:,}"


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def job_label(s: SummaryRecord) -> str:
    return f"{s.benchmark} x {s.agent}" + (f" ({s.model})" if s.model else "")


def metric_names(summaries: list[SummaryRecord], *, columns: bool = False) -> list[str]:
    """Every named metric of these jobs, in first-seen order. columns=True leaves out the
    metric `reward`: a table's reward column already shows it (it is the primary reward)."""
    names: dict[str, None] = {}
    for s in summaries:
        for t in s.tasks:
            names.update(dict.fromkeys(t.rewards))
    return [n for n in names if not (columns and n == "reward")]


def fault_text(f: Fault | None) -> str:
    return "" if f is None else f"{f.kind}: {f.message}"


def task_status(t: TaskSummary) -> str:
    return (t.status or MISSING) + (" (rescored)" if t.rescored else "")


def headline(s: SummaryRecord) -> dict[str, str]:
    """The summary block as label -> text, shared by the table and markdown formats."""
    lines = {"job": f"{s.job_id}  {job_label(s)}"}
    lines["pass rate"] = (
        f"{fmt_num(s.pass_rate)} ({s.counts.get('passed', 0)}/{s.scored} scored attempts)"
        if s.pass_rate is not None
        else "- (nothing scored)"
    )
    if s.pass_at_k:
        lines["pass@k"] = "  ".join(f"pass@{k} {fmt_num(v)}" for k, v in s.pass_at_k.items())
    lines["mean reward"] = (
        f"{fmt_num(s.reward)} over {s.scored} scored ({s.errored} errored, {s.missing} missing)"
        f" of {s.n_tasks} tasks x {s.attempts} attempts"
    )
    if s.metrics:
        lines["metrics"] = "  ".join(f"{m} {fmt_num(v)}" for m, v in s.metrics.items())
    t = s.tokens
    lines["tokens"] = (
        f"in {_fmt_int(t.input)}  out {_fmt_int(t.output)}  cached {_fmt_int(t.cached)}"
        f"  ({_fmt_int(t.requests)} requests)"
    )
    lines["time"] = f"{s.seconds:.1f} s"
    lines["statuses"] = "  ".join(f"{k} {v}" for k, v in s.counts.items()) or "-"
    lines["faults"] = "  ".join(f"{k}: {v}" for k, v in s.faults.items()) or "none"
    return lines


def _table(header: list[str], body: list[list[str]], right: set[int] = frozenset()) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), *(line(r) for r in body)])


def _row_header(metrics: list[str], k: int) -> list[str]:
    at = ["pass@1"] + ([f"pass@{k}"] if k > 1 else [])
    return ["task", "status", "attempts", *at, "reward", *metrics, "tokens in", "tokens out"] + [
        "time s",
        "fault",
    ]


def _row_cells(t: TaskSummary, metrics: list[str], k: int) -> list[str]:
    keys = ["1"] + ([str(k)] if k > 1 else [])
    return [
        t.task,
        task_status(t),
        str(t.attempts),
        *(fmt_num(t.pass_at_k.get(key)) for key in keys),
        fmt_reward(t.reward),
        *(fmt_reward(t.rewards.get(m)) for m in metrics),
        _fmt_int(t.tokens.input),
        _fmt_int(t.tokens.output),
        f"{t.seconds:.1f}",
        _short(fault_text(t.fault)),
    ]


def format_table(s: SummaryRecord) -> str:
    head = headline(s)
    width = max(len(k) for k in head)
    out = [f"{k.ljust(width)}  {v}" for k, v in head.items()]
    metrics = metric_names([s], columns=True)
    header = _row_header(metrics, s.attempts)
    body = [_row_cells(t, metrics, s.attempts) for t in s.tasks]
    out += ["", _table(header, body, right=set(range(2, len(header) - 1)))]
    return "\n".join(out)


def format_markdown(s: SummaryRecord) -> str:
    out = [f"- **{k}**: {_md(v)}" for k, v in headline(s).items()]
    metrics = metric_names([s], columns=True)
    body = [_row_cells(t, metrics, s.attempts) for t in s.tasks]
    out += ["", _md_table(_row_header(metrics, s.attempts), body)]
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def csv_row(t: TaskSummary, metrics: list[str], k: int) -> list[object]:
    keys = ["1"] + ([str(k)] if k > 1 else [])
    return [
        t.task,
        t.status or MISSING,
        t.rescored,
        t.attempts,
        t.n_passed,
        *(t.pass_at_k.get(key, "") for key in keys),
        "" if t.reward is None else t.reward,
        *(t.rewards.get(m, "") for m in metrics),
        t.tokens.input,
        t.tokens.output,
        t.tokens.cached,
        t.seconds,
        t.fault.kind if t.fault else "",
        t.fault.message if t.fault else "",
    ]


def csv_header(metrics: list[str], k: int) -> list[str]:
    at = ["pass@1"] + ([f"pass@{k}"] if k > 1 else [])
    return [
        "task",
        "status",
        "rescored",
        "attempts",
        "n_passed",
        *at,
        "reward",
        *(f"metric:{m}" for m in metrics),
        "tokens_in",
        "tokens_out",
        "tokens_cached",
        "seconds",
        "fault_kind",
        "fault_message",
    ]


def format_csv(s: SummaryRecord) -> str:
    """One row per task (the summary itself is in the json format)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    metrics = metric_names([s])
    w.writerow(csv_header(metrics, s.attempts))
    for t in s.tasks:
        w.writerow(csv_row(t, metrics, s.attempts))
    return buf.getvalue().rstrip("\n")


def format_json(s: SummaryRecord) -> str:
    return s.model_dump_json(indent=2)


# -- several jobs side by side ----------------------------------------------------------------


def column_names(paths: list[Path]) -> list[str]:
    """Each job's directory name; repeats get a " (k)" suffix so columns stay unique."""
    names = [Path(p).resolve().name or str(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    return [f"{n} ({i + 1})" if names.count(n) > 1 else n for i, n in enumerate(names)]


def side_by_side(summaries: list[SummaryRecord]) -> list[tuple[str, list[TaskSummary | None]]]:
    """(task, [its row in each job, None where the job does not list it]): tasks in the
    first job's order, then tasks only later jobs list."""
    index = [{t.task: t for t in s.tasks} for s in summaries]
    order = dict.fromkeys(t.task for s in summaries for t in s.tasks)
    return [(task, [idx.get(task) for idx in index]) for task in order]


def _cell(t: TaskSummary | None, metrics: list[str]) -> str:
    if t is None:
        return "·"
    parts = [task_status(t)]
    if t.reward is not None:
        parts.append(fmt_reward(t.reward))
    parts += [f"{m}={fmt_reward(t.rewards[m])}" for m in metrics if m in t.rewards]
    return " ".join(parts)


_MULTI_HEADER = ["#", "job", "pass rate", "pass@1", "pass@k", "reward", "metrics"] + [
    "scored/errored/missing",
    "tokens in",
    "tokens out",
    "time s",
    "what",
]


def _multi_parts(names: list[str], summaries: list[SummaryRecord]):
    top = []
    for i, (n, s) in enumerate(zip(names, summaries, strict=True)):
        at_k = s.pass_at_k.get(str(s.attempts)) if s.attempts > 1 else None
        top.append(
            [
                f"#{i + 1}",
                n,
                fmt_num(s.pass_rate),
                fmt_num(s.pass_at_k.get("1")),
                f"pass@{s.attempts} {fmt_num(at_k)}" if at_k is not None else "-",
                fmt_num(s.reward),
                " ".join(f"{m}={fmt_num(v)}" for m, v in s.metrics.items()) or "-",
                f"{s.scored}/{s.errored}/{s.missing}",
                _fmt_int(s.tokens.input),
                _fmt_int(s.tokens.output),
                f"{s.seconds:.1f}",
                job_label(s),
            ]
        )
    metrics = metric_names(summaries, columns=True)
    cols = [f"#{i + 1}" for i in range(len(names))]
    rows = [[task, *(_cell(c, metrics) for c in cells)] for task, cells in side_by_side(summaries)]
    return top, ["task", *cols], rows


def format_multi_table(names: list[str], summaries: list[SummaryRecord]) -> str:
    top, header, rows = _multi_parts(names, summaries)
    return "\n".join(
        [
            _table(_MULTI_HEADER, top, right={2, 3, 5, 8, 9, 10}),
            "",
            _table(header, rows),
            "(· = the job does not list the task)",
        ]
    )


def format_multi_markdown(names: list[str], summaries: list[SummaryRecord]) -> str:
    top, header, rows = _multi_parts(names, summaries)
    return "\n".join([_md_table(_MULTI_HEADER, top), "", _md_table(header, rows)])


def format_multi_csv(names: list[str], summaries: list[SummaryRecord]) -> str:
    """task, then per job: status, reward and each named metric; empty where a job lacks it."""
    metrics = metric_names(summaries)
    cols = ["status", "reward", *(f"metric:{m}" for m in metrics)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", *(f"{n} {c}" for n in names for c in cols)])
    for task, cells in side_by_side(summaries):
        row: list[object] = [task]
        for t in cells:
            if t is None:
                row += [""] * len(cols)
            else:
                row += [t.status or MISSING, "" if t.reward is None else t.reward]
                row += [t.rewards.get(m, "") for m in metrics]
        w.writerow(row)
    return buf.getvalue().rstrip("\n")


def format_multi_json(names: list[str], paths: list[Path], summaries: list[SummaryRecord]) -> str:
    jobs = [
        {"name": n, "path": str(p), "summary": s.model_dump(mode="json")}
        for n, p, s in zip(names, paths, summaries, strict=True)
    ]
    side = [
        {"task": task, "cells": [None if t is None else t.model_dump(mode="json") for t in cells]}
        for task, cells in side_by_side(summaries)
    ]
    return json.dumps({"jobs": jobs, "side_by_side": side}, indent=2)
