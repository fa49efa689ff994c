"""Summaries of finished runs: pass rate, reward, tokens, wall time, errors, per-task rows.

    summary = summarize(Path("runs/<batch_id>"))     # a dict, see below
    write_summary(Path("runs/<batch_id>"))           # -> runs/<batch_id>/summary.json (atomic)

A *run* is either a batch directory (batch.json + tasks/<task>/attempt-<k>/, each attempt a
task run directory as rundir.py documents) or a single task run directory (run.json and/or
result.json at its top), which is read as a batch of one.

Rules:

- A task's outcome (status, reward, message) is its LAST attempt's result.json; a task that
  batch.json lists and whose last attempt has no result.json is "missing".
- What a task spent (tokens, wall time) is summed over ALL its attempts: retries cost too.
- pass_rate = passed / tasks listed in batch.json (missing tasks count as not passed).
- mean_reward = mean over *scored* tasks, those whose result has a numeric reward. coverage
  says how many tasks that is, and how many errored (status error, timeout or invalid) or are
  missing. A timeout can still be scored, so scored and errored may overlap.
- tokens: from trace.jsonl, each exchange's "usage": prompt_tokens or input_tokens count as
  input, completion_tokens or output_tokens as output (Anthropic cache tokens are not added).
  Both the fixture's exchange lines and the gateway's --trace lines ({"n", "exchange"}) work.
  A run that kept no trace (replay, passthrough) has 0 tokens and 0 exchanges.
- wall_time: for each numeric key of run.json "timings" (setup, agent, verifier, cleanup,
  total, ...): its sum over attempts, the number of attempts that reported it (n) and the mean.
- errors.by_status counts every final status (and "missing"); errors.by_kind counts, for the
  error statuses, a short kind taken from the message's first words ("no reward written",
  "gateway stopped", "timeout", ...).

Only result.json, run.json and trace.jsonl are read (trace lines are streamed), so 10,000
tasks summarize in a fraction of a second; logs and artifacts are never opened.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from bakectl.errors import BakectlError, UsageError
from bakectl.results.rundir import attempt_dirs, write_atomic

SUMMARY_KIND = "bakectl-summary"
SUMMARY_VERSION = 1
BATCH_KIND = "bakectl-batch"
BATCH_VERSION = 1
ERROR_STATUSES = frozenset({"error", "timeout", "invalid"})
MISSING = "missing"
ROW_FIELDS = (
    "task",
    "status",
    "reward",
    "passed",
    "attempts",
    "tokens_in",
    "tokens_out",
    "duration_sec",
    "message",
)
_WRAPPED_PREFIX = re.compile(rb'^\{"n":\s*\d+,\s*"exchange":\s*\{')
_DECODER = json.JSONDecoder()


# -- finding runs -----------------------------------------------------------------------------


def run_kind(path: Path) -> str:
    """'batch' or 'task' for a run directory; UsageError naming `path` for anything else."""
    path = Path(path)
    if (path / "batch.json").is_file():
        return "batch"
    if (path / "result.json").is_file() or (path / "run.json").is_file():
        return "task"
    if not path.exists():
        raise UsageError(
            f"run {path} does not exist", "give a batch directory or a task run directory"
        )
    raise UsageError(
        f"{path} is not a run directory (no batch.json, no run.json or result.json)",
        "give a batch directory <out>/<batch_id> or a task run directory <out>/<run_id>",
    )


def _load_json_file(path: Path, what: str) -> Any:
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{what} {path} cannot be read: {exc}", "is this a run directory bakectl wrote?"
        ) from None


def _load_batch(root: Path) -> dict:
    path = root / "batch.json"
    batch = _load_json_file(path, "batch file")
    if not isinstance(batch, dict):
        raise UsageError(f"{path} is not a JSON object", "is this a batch bakectl wrote?")
    kind = batch.get("kind", BATCH_KIND)
    if kind != BATCH_KIND:
        raise UsageError(f"{path} is a {kind!r} file, not a {BATCH_KIND!r}", "give a batch dir")
    version = batch.get("version", BATCH_VERSION)
    if not isinstance(version, int) or version > BATCH_VERSION:
        raise UsageError(
            f"{path} has version {version!r}; this bakectl reads version {BATCH_VERSION}",
            "upgrade bakectl",
        )
    tasks = batch.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, str | int) for t in tasks):
        raise UsageError(f"{path}: 'tasks' is not a list of task ids", "is the batch complete?")
    for t in tasks:
        t = str(t)
        if not t or t in (".", "..") or "/" in t or "\\" in t:
            raise UsageError(f"{path}: task id {t!r} is not a directory name", "fix batch.json")
    return batch


# -- reading one attempt ----------------------------------------------------------------------


_CHUNK = 1 << 16


def _read_bytes(path: str) -> bytes | None:
    """The file's bytes, None when it cannot be read. os.read is markedly cheaper than
    open() for the 30,000 small files of a big batch."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, _CHUNK)
        if len(data) < _CHUNK:
            return data
        parts = [data]
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_json(path: str) -> Any:
    """The parsed file; None when it is absent or not JSON (a run killed mid-write)."""
    data = _read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


# run.json is written with indent=2 and a flat "timings" object: at two spaces of indent a
# key is top-level (strings hold no raw newline), so this finds it without parsing the
# command records. Any other layout is parsed in full.
_TIMINGS_RE = re.compile(rb'\n  "timings": (\{[^{}]*\})')


def _run_timings(path: str) -> dict[str, float]:
    data = _read_bytes(path)
    if not data:
        return {}
    timings: Any = None
    m = _TIMINGS_RE.search(data)
    try:
        if m:
            timings = json.loads(m.group(1))
        else:
            run = json.loads(data)
            timings = run.get("timings") if isinstance(run, dict) else None
    except ValueError:
        return {}
    if not isinstance(timings, dict):
        return {}
    return {k: float(v) for k, v in timings.items() if _number(v) is not None}


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _usage_tokens(usage: Any) -> tuple[int, int]:
    if not isinstance(usage, dict):
        return 0, 0
    tin = usage.get("prompt_tokens")
    if tin is None:
        tin = usage.get("input_tokens")
    tout = usage.get("completion_tokens")
    if tout is None:
        tout = usage.get("output_tokens")
    return _int(tin), _int(tout)


def _line_usage(line: bytes) -> Any:
    """A (stripped) exchange line's usage. Fast path: both writers put "usage" last in the
    exchange (the fixture writes it last; the gateway's --trace sorts keys), so the value
    runs from the last "usage" key to the closing brace(s) of the line; when exactly that
    text parses as one JSON value, it belongs to the exchange object. Else: a full parse."""
    i = line.rfind(b'"usage"')
    if i < 0:
        return None  # no usage anywhere on the line
    j = line.find(b":", i + 7)
    if j > 0 and not line[i + 7 : j].strip():
        wrapped = _WRAPPED_PREFIX.match(line) is not None
        if line.endswith(b"}}" if wrapped else b"}"):
            try:
                return _DECODER.decode(line[j + 1 : -2 if wrapped else -1].decode())
            except ValueError:  # UnicodeDecodeError too
                pass
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    ex = data.get("exchange")
    return (ex if isinstance(ex, dict) else data).get("usage")


_SLURP_MAX = 1 << 20  # traces up to 1 MiB are read at once; larger ones line by line


def _trace_tokens(path: str) -> tuple[int, int, int]:
    """(input, output, exchanges) of a trace.jsonl; a big one is streamed line by line."""
    tin = tout = n = 0
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0, 0, 0
    try:
        size = os.fstat(fd).st_size
        if size <= _SLURP_MAX:  # read what is there now (a live trace may grow)
            lines: Any = os.read(fd, size + 1).split(b"\n")
        else:
            lines = io.BufferedReader(io.FileIO(fd, closefd=False), 1 << 16)
        for line in lines:
            line = line.strip()
            if not line:
                continue
            n += 1
            usage = _line_usage(line)
            if usage.__class__ is dict:
                a, b = _usage_tokens(usage)
                tin += a
                tout += b
    except OSError:
        pass
    finally:
        os.close(fd)
    return tin, tout, n


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


Job = tuple[str | None, list[str] | None]  # (task dir to list, or the attempt dirs themselves)
# One task as read: (attempts, last attempt's dir name, status, reward, message, tokens in,
# tokens out, exchanges, duration); status None = the last attempt has no result.json.
TaskRead = tuple[int, str | None, str | None, Any, str, int, int, int, float | None]
Timings = tuple[dict[str, float], dict[str, int]]  # per key: sum, number of attempts


def _latest_rescore(attempt_dir: str) -> tuple[str, dict] | None:
    """The newest `rescore-<UTC time>/result.json` in a run directory, if any."""
    try:
        names = [e.name for e in os.scandir(attempt_dir) if e.name.startswith("rescore-")]
    except OSError:
        return None
    for name in sorted(names, reverse=True):  # the timestamp sorts as text
        data = _read_json(f"{attempt_dir}/{name}/result.json")
        if isinstance(data, dict):
            return name, data
    return None


def _read_task(job: Job, timing_sum: dict[str, float] | None, timing_n: dict[str, int]) -> TaskRead:
    """Read one task's attempts. The last attempt's result.json gives the outcome; tokens,
    duration and run.json timings add up over all attempts. Timings go into timing_sum and
    timing_n; with timing_sum None, run.json is read only for a result without a duration."""
    task_dir, dirs = job
    if dirs is None:
        dirs = [d for _, d in attempt_dirs(task_dir or "")]
    tin = tout = ex = 0
    duration: float | None = None
    result: dict | None = None
    for d in dirs:
        data = _read_json(d + "/result.json")
        result = data if isinstance(data, dict) else None
        a, b, n = _trace_tokens(d + "/trace.jsonl")
        tin += a
        tout += b
        ex += n
        seconds = _number(result.get("duration_sec")) if result else None
        if timing_sum is not None or seconds is None:
            timings = _run_timings(d + "/run.json")
            if seconds is None:
                seconds = timings.get("total")
            if timing_sum is not None:
                for k, v in timings.items():
                    timing_sum[k] = timing_sum.get(k, 0.0) + v
                    timing_n[k] = timing_n.get(k, 0) + 1
        if seconds is not None:
            duration = (duration or 0.0) + seconds
    last = os.path.basename(dirs[-1]) if dirs else None
    if result is None:
        return (len(dirs), last, None, None, "", tin, tout, ex, duration)
    rescored = _latest_rescore(dirs[-1])
    if rescored is not None:
        # `bakectl score` fixed the scorer after the run: its newest verdict counts.
        name, newer = rescored
        was = result.get("status")
        result = {**result, **{k: newer.get(k) for k in ("status", "reward", "passed")}}
        result["message"] = f"rescored ({name}; was {was})"
    status = result.get("status")
    message = result.get("message")
    return (
        len(dirs),
        last,
        str(status) if status else "error",
        result.get("reward"),
        str(message) if message else "",
        tin,
        tout,
        ex,
        duration,
    )


def _read_chunk(args: tuple[list[Job], bool]) -> tuple[list[TaskRead], Timings]:
    jobs, with_timings = args
    timing_sum: dict[str, float] | None = {} if with_timings else None
    timing_n: dict[str, int] = {}
    reads = [_read_task(j, timing_sum, timing_n) for j in jobs]
    return reads, (timing_sum or {}, timing_n)


PARALLEL_MIN_TASKS = 2000  # below this, one process is as fast as forking workers
MAX_WORKERS = 8


def _workers(n_tasks: int) -> int:
    """Worker processes for reading n_tasks: fork only where it is safe and worth it."""
    import threading

    if n_tasks < PARALLEL_MIN_TASKS or not hasattr(os, "fork"):
        return 1
    if threading.active_count() > 1:  # forking a threaded process can deadlock the child
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, MAX_WORKERS, n_tasks // (PARALLEL_MIN_TASKS // 2)))


def _quiet_worker() -> None:
    """Ctrl-C is the parent's to handle (it ends the pool); a worker prints no traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _read_tasks(jobs: list[Job], with_timings: bool) -> tuple[list[TaskRead], Timings]:
    """Each task as read, in order, and the timings summed; big batches are read by forked
    worker processes (reading and parsing is CPU-bound Python, so threads would not help)."""
    workers = _workers(len(jobs))
    if workers <= 1:
        return _read_chunk((jobs, with_timings))
    import multiprocessing

    size = -(-len(jobs) // workers)
    chunks = [(jobs[i : i + size], with_timings) for i in range(0, len(jobs), size)]
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(len(chunks), initializer=_quiet_worker) as pool:
            parts = pool.map(_read_chunk, chunks)
    except OSError:  # no processes to be had: read them here
        return _read_chunk((jobs, with_timings))
    reads: list[TaskRead] = []
    timing_sum: dict[str, float] = {}
    timing_n: dict[str, int] = {}
    for part, (sums, counts) in parts:
        reads += part
        for k, v in sums.items():
            timing_sum[k] = timing_sum.get(k, 0.0) + v
            timing_n[k] = timing_n.get(k, 0) + counts[k]
    return reads, (timing_sum, timing_n)


# -- error kinds ------------------------------------------------------------------------------

# bakectl's own messages (task_run, gateway_ctl, rundir.read_reward) -> a stable kind.
_KNOWN_KINDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), kind)
    for p, kind in (
        (r"^no reward written", "no reward written"),
        (r"^reward\.(txt|json)", "bad reward"),
        (r"\bgateway stopped\b", "gateway stopped"),
        (r"\bgateway (container )?could not start", "gateway did not start"),
        (r"\bgateway (exited before|did not answer)", "gateway not healthy"),
        (r"\bagent timed out\b", "timeout"),
        (r"\bverifier timed out\b", "verifier timeout"),
        (r"\bagent container could not start", "agent did not start"),
        (r"\bverifier container could not start", "verifier did not start"),
        (r"\bcould not snapshot\b", "snapshot failed"),
        (r"\bcould not (create|connect)\b.*\bnetwork\b", "network setup failed"),
        (r"^interrupted\b", "interrupted"),
    )
)
_CUT_RE = re.compile(r"[:;,(\[{\"'`]| - | after \d| -> ")
_KIND_WORDS = 4


def error_kind(status: str, message: str) -> str:
    """A short kind for an error message: a known bakectl phrase, else its first words."""
    msg = " ".join((message or "").split())
    for pattern, kind in _KNOWN_KINDS:
        if pattern.search(msg):
            return kind
    head = _CUT_RE.split(msg, maxsplit=1)[0]
    words = [w for w in head.split() if not any(c.isdigit() for c in w)]
    if words and words[0].lower() in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words[:_KIND_WORDS]).lower() or status


# -- the summary ------------------------------------------------------------------------------


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _task_run_as_batch(root: Path) -> tuple[dict, list[str], list]:
    result = _read_json(str(root / "result.json"))
    run = _read_json(str(root / "run.json"))
    result = result if isinstance(result, dict) else {}
    run = run if isinstance(run, dict) else {}
    if not result and not run:
        raise UsageError(
            f"{root}: run.json and result.json cannot be read", "is this a run bakectl wrote?"
        )

    def pick(key: str) -> Any:
        return result.get(key, run.get(key))

    images = run.get("images") or {}
    digests = {
        v["ref"]: v.get("id")
        for k, v in images.items()
        if isinstance(v, dict) and v.get("ref") and k != "snapshot"
    }
    task = str(pick("task") or root.name)
    batch = {
        "kind": BATCH_KIND,
        "batch_id": pick("run_id") or root.name,
        "benchmark": pick("benchmark"),
        "agent": pick("agent"),
        "model": pick("model"),
        "tasks": [task],
        "attempts": 1,
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
        "provenance": {
            "bakectl_version": run.get("bakectl_version"),
            "git_commit": None,
            "git_dirty": None,
            "data_revision": run.get("data_revision"),
            "image_digests": digests,
        },
    }
    return batch, [task], [(None, [str(root)])]


def summarize(batch_dir: Path, *, wall_time: bool = True) -> dict:
    """The summary of a batch directory, or of a single task run directory (a batch of one).

    wall_time=False skips run.json (its "wall_time" is then empty): the gate needs per-task
    durations only, and result.json has them."""
    root = Path(batch_dir)
    source = run_kind(root)
    if source == "batch":
        batch = _load_batch(root)
        tasks_dir = os.path.join(str(root), "tasks")
        ids = list(dict.fromkeys(str(t) for t in batch["tasks"]))
        jobs: list[tuple[str | None, list[str] | None]] = [
            (os.path.join(tasks_dir, t), None) for t in ids
        ]
    else:
        batch, ids, jobs = _task_run_as_batch(root)

    rows: list[dict] = []
    by_status: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    passed = scored = errored = missing = 0
    reward_sum = 0.0
    tokens_in = tokens_out = exchanges = attempts_total = retried = 0

    reads, (timing_sum, timing_n) = _read_tasks(jobs, wall_time)
    for task, (n_att, last_dir, status, reward, message, t_in, t_out, ex, duration) in zip(
        ids, reads, strict=True
    ):
        attempts_total += n_att
        retried += n_att > 1
        tokens_in += t_in
        tokens_out += t_out
        exchanges += ex
        if status is None:
            status = MISSING
            message = f"{last_dir} has no readable result.json" if last_dir else "never started"
            missing += 1
        reward = _number(reward)
        by_status[status] = by_status.get(status, 0) + 1
        if status in ERROR_STATUSES:
            errored += 1
            kind = "timeout" if status == "timeout" else error_kind(status, message)
            by_kind[kind] = by_kind.get(kind, 0) + 1
        if reward is not None:
            scored += 1
            reward_sum += reward
        ok = status == "passed"
        passed += ok
        rows.append(
            {
                "task": task,
                "status": status,
                "reward": reward,
                "passed": ok,
                "attempts": n_att,
                "tokens_in": t_in,
                "tokens_out": t_out,
                "duration_sec": _round(duration, 3),
                "message": message,
            }
        )

    n = len(rows)
    return {
        "kind": SUMMARY_KIND,
        "version": SUMMARY_VERSION,
        "source": source,
        "batch_id": batch.get("batch_id"),
        "benchmark": batch.get("benchmark"),
        "agent": batch.get("agent"),
        "model": batch.get("model"),
        "started_at": batch.get("started_at"),
        "finished_at": batch.get("finished_at"),
        "command": batch.get("command"),
        "pass_rate": _round(passed / n, 6) if n else None,
        "passed": passed,
        "mean_reward": _round(reward_sum / scored, 6) if scored else None,
        "coverage": {"tasks": n, "scored": scored, "errored": errored, "missing": missing},
        "tokens": {"input": tokens_in, "output": tokens_out, "exchanges": exchanges},
        "wall_time": {
            k: {
                "sum": round(timing_sum[k], 3),
                "mean": round(timing_sum[k] / timing_n[k], 3),
                "n": timing_n[k],
            }
            for k in timing_sum
        },
        "errors": {"by_status": by_status, "by_kind": by_kind},
        "attempts": {
            "max": batch.get("attempts"),
            "total": attempts_total,
            "retried_tasks": retried,
        },
        "tasks": rows,
        "provenance": batch.get("provenance") or {},
    }


def dumps(data: dict, list_keys: tuple[str, ...] = ("tasks",)) -> str:
    """JSON of a summary: indented, but the long lists under list_keys hold one compact
    object per line. Same content as json.dumps(indent=2), and a fifth of the time (the
    indenting encoder is pure Python)."""
    head = {k: v for k, v in data.items() if k not in list_keys}
    text = json.dumps(head, indent=2, default=str)
    parts = []
    for key in list_keys:
        if key not in data:
            continue
        items = data[key]
        if not items:
            parts.append(f"  {json.dumps(key)}: []")
            continue
        body = ",\n".join("    " + json.dumps(item, default=str) for item in items)
        parts.append(f"  {json.dumps(key)}: [\n{body}\n  ]")
    if not parts:
        return text
    if text == "{}":
        return "{\n" + ",\n".join(parts) + "\n}"
    return text[:-2] + ",\n" + ",\n".join(parts) + "\n}"


def write_summary(batch_dir: Path) -> Path:
    """summarize() into <batch_dir>/summary.json, atomically; returns its path."""
    root = Path(batch_dir)
    path = root / "summary.json"
    try:
        write_atomic(path, dumps(summarize(root)) + "\n")
    except OSError as exc:
        raise BakectlError(
            f"could not write {path}: {exc}", "is the run directory writable?"
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


def run_label(s: dict) -> str:
    return f"{s.get('benchmark') or '?'} x {s.get('agent') or '?'}" + (
        f" ({s['model']})" if s.get("model") else ""
    )


_PHASE_ORDER = ("setup", "agent", "verifier", "cleanup", "total")


def headline(s: dict) -> dict[str, str]:
    """The summary block as label -> text, shared by the table and markdown formats."""
    cov = s["coverage"]
    pr = s["pass_rate"]
    lines = {
        "run": f"{s.get('batch_id')}  {run_label(s)}",
        "pass rate": (
            f"{fmt_num(pr)} ({s['passed']}/{cov['tasks']})" if pr is not None else "- (no tasks)"
        ),
        "mean reward": (
            f"{fmt_num(s['mean_reward'])} over {cov['scored']} scored of {cov['tasks']} tasks"
            f" ({cov['errored']} errored, {cov['missing']} missing)"
        ),
        "tokens": (
            f"in {_fmt_int(s['tokens']['input'])}  out {_fmt_int(s['tokens']['output'])}"
            f"  ({_fmt_int(s['tokens']['exchanges'])} exchanges)"
        ),
    }
    wall = s["wall_time"]
    order = {k: i for i, k in enumerate(_PHASE_ORDER)}
    keys = sorted(wall, key=lambda k: (k == "total", order.get(k, len(order))))
    lines["wall time"] = (
        "  ".join(f"{k} {wall[k]['sum']:.1f}s (mean {wall[k]['mean']:.1f}s)" for k in keys) or "-"
    )
    st = s["errors"]["by_status"]
    lines["statuses"] = "  ".join(f"{k} {v}" for k, v in st.items()) or "-"
    kinds = s["errors"]["by_kind"]
    lines["errors"] = (
        "  ".join(f"{k}: {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])) or "none"
    )
    att = s["attempts"]
    if att["retried_tasks"]:
        lines["retries"] = f"{att['retried_tasks']} tasks retried ({att['total']} attempts)"
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


def _row_cells(r: dict) -> list[str]:
    return [
        r["task"],
        r["status"],
        fmt_reward(r["reward"]),
        str(r["attempts"]),
        _fmt_int(r["tokens_in"]),
        _fmt_int(r["tokens_out"]),
        fmt_num(r["duration_sec"], 1),
        _short(r["message"]),
    ]


_ROW_HEADER = ["task", "status", "reward", "attempts", "tokens in", "tokens out", "time s"]


def format_table(s: dict) -> str:
    head = headline(s)
    width = max(len(k) for k in head)
    out = [f"{k.ljust(width)}  {v}" for k, v in head.items()]
    body = [_row_cells(r) for r in s["tasks"]]
    out += ["", _table([*_ROW_HEADER, "message"], body, right={2, 3, 4, 5, 6})]
    return "\n".join(out)


def format_markdown(s: dict) -> str:
    out = [f"- **{k}**: {_md(v)}" for k, v in headline(s).items()]
    out += ["", _md_table([*_ROW_HEADER, "message"], [_row_cells(r) for r in s["tasks"]])]
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def format_csv(s: dict) -> str:
    """One row per task, ROW_FIELDS as columns (the summary itself is in the json format)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ROW_FIELDS)
    for r in s["tasks"]:
        w.writerow(["" if r[f] is None else r[f] for f in ROW_FIELDS])
    return buf.getvalue().rstrip("\n")


# -- several runs side by side ----------------------------------------------------------------


def column_names(paths: list[Path]) -> list[str]:
    """Each run's directory name; repeats get a " (k)" suffix so columns stay unique."""
    names = [Path(p).resolve().name or str(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    return [f"{n} ({i + 1})" if names.count(n) > 1 else n for i, n in enumerate(names)]


def side_by_side(summaries: list[dict]) -> list[dict]:
    """[{task, cells: [{status, reward} | None per run]}]: tasks in the first run's order, then
    tasks only later runs list. None = the run does not list the task."""
    order: dict[str, None] = {}
    index: list[dict[str, dict]] = []
    for s in summaries:
        index.append({r["task"]: r for r in s["tasks"]})
        for r in s["tasks"]:
            order.setdefault(r["task"], None)
    return [
        {
            "task": t,
            "cells": [
                {"status": idx[t]["status"], "reward": idx[t]["reward"]} if t in idx else None
                for idx in index
            ],
        }
        for t in order
    ]


def _cell(c: dict | None) -> str:
    if c is None:
        return "·"
    return c["status"] if c["reward"] is None else f"{c['status']} {fmt_reward(c['reward'])}"


def _summary_line(s: dict) -> list[str]:
    cov = s["coverage"]
    return [
        fmt_num(s["pass_rate"]),
        f"{s['passed']}/{cov['tasks']}",
        fmt_num(s["mean_reward"]),
        f"{cov['scored']}/{cov['errored']}/{cov['missing']}",
        _fmt_int(s["tokens"]["input"]),
        _fmt_int(s["tokens"]["output"]),
        fmt_num(s["wall_time"].get("total", {}).get("sum"), 1),
        run_label(s),
    ]


_MULTI_HEADER = [
    "#",
    "run",
    "pass rate",
    "passed",
    "mean reward",
    "scored/errored/missing",
    "tokens in",
    "tokens out",
    "total s",
    "what",
]


def _multi_parts(names: list[str], summaries: list[dict]) -> tuple[list, list, list]:
    """The per-run summary rows and the side-by-side rows; runs are columns #1, #2, ..."""
    top = [
        [f"#{i + 1}", n, *_summary_line(s)]
        for i, (n, s) in enumerate(zip(names, summaries, strict=True))
    ]
    cols = [f"#{i + 1}" for i in range(len(names))]
    rows = [[r["task"], *(_cell(c) for c in r["cells"])] for r in side_by_side(summaries)]
    return top, ["task", *cols], rows


def format_multi_table(names: list[str], summaries: list[dict]) -> str:
    top, header, rows = _multi_parts(names, summaries)
    return "\n".join(
        [
            _table(_MULTI_HEADER, top, right={2, 3, 4, 6, 7, 8}),
            "",
            _table(header, rows),
            "(· = the run does not list the task)",
        ]
    )


def format_multi_markdown(names: list[str], summaries: list[dict]) -> str:
    top, header, rows = _multi_parts(names, summaries)
    return "\n".join([_md_table(_MULTI_HEADER, top), "", _md_table(header, rows)])


def format_multi_csv(names: list[str], summaries: list[dict]) -> str:
    """task, then <run> status and <run> reward per run; empty cells where a run lacks it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", *(f"{n} {col}" for n in names for col in ("status", "reward"))])
    for r in side_by_side(summaries):
        cells: list[Any] = [r["task"]]
        for c in r["cells"]:
            if c is None:
                cells += ["", ""]
            else:
                cells += [c["status"], "" if c["reward"] is None else c["reward"]]
        w.writerow(cells)
    return buf.getvalue().rstrip("\n")


def multi_json(names: list[str], paths: list[Path], summaries: list[dict]) -> dict:
    return {
        "runs": [
            {"name": n, "path": str(p), **s}
            for n, p, s in zip(names, paths, summaries, strict=True)
        ],
        "side_by_side": side_by_side(summaries),
    }
