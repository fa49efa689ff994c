"""Batch rollouts: many tasks x one agent, at most N at a time, into one batch directory.

    results = run_rollouts(renderer, "arith", ["1", "2", "3"], "oracle", n_concurrent=2)

The batch directory (bakectl.results.report reads it):

    <out>/<batch_id>/
      batch.json                     what was asked, with what (kind "bakectl-batch", version 1)
      tasks/<task_id>/attempt-<k>/   k = 1, 2, ...: each a task run directory (rundir.py)
      summary.json                   report.write_summary(batch_dir), at the end

A task's result is its last attempt. Statuses: passed | failed | timeout | error | invalid.
`invalid`: the task cannot run as given (a malformed task.toml, the oracle on a task
without solution/solve.sh); it is recorded, and the other tasks run.

How a batch runs:

- Input is checked first (unknown tasks, flags, fixtures); bad input raises UsageError
  before anything is written.
- Every task is prepared and every image built in the calling thread (the Renderer is
  not thread-safe), in one ensure_images call. When that build fails, each task's
  images are built on their own, and only the tasks whose images fail end
  `error: image build failed: ...` (their build output kept in attempt-<k>/build.log).
- N worker threads call execute(spec): at most N tasks have containers at any time.
- A fault stays in its task: an agent timeout, a gateway that stopped, a verifier that
  wrote no reward, even an exception inside bakectl becomes that attempt's status and
  message, never an aborted batch.
- Faults `is_transient` names are retried, up to `attempts` attempts per task; every
  attempt stays on disk.
- resume=<batch dir>: tasks whose last attempt has a final status (passed, failed,
  timeout, invalid) are kept; error tasks, and tasks never run, run again, numbering
  attempts on from the last one.
- Ctrl-C / SIGTERM (or `cancel.set()`): nothing new starts; the running tasks'
  containers are killed (`docker kill`, found by their dev.bakectl.run label), each
  task's own cleanup then removes its containers, networks and snapshot, and those
  attempts end `error: interrupted`. batch.json and summary.json are written, then
  BatchInterrupted (a KeyboardInterrupt) is raised, carrying the results so far.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bakectl import __version__, gitinfo, signals
from bakectl.catalog.naming import check_id, suggest
from bakectl.engine import containers as ops
from bakectl.engine.docker import image_ids
from bakectl.engine.plan import Step
from bakectl.errors import BakectlError, UsageError
from bakectl.render.renderer import ImageTarget, Renderer
from bakectl.results.rundir import RunDir, attempt_dirs, write_json
from bakectl.runner.fixtures import find_fixture
from bakectl.runner.gateway_ctl import GatewayConfig
from bakectl.runner.progress import Null, Progress
from bakectl.runner.spec import (
    RunOptions,
    RunSpec,
    TaskResult,
    check_timeout,
    ensure_images,
    prepare,
)
from bakectl.runner.task_run import execute
from bakectl.signals import sigterm_interrupts

__all__ = [
    "BATCH_KIND",
    "BatchInterrupted",
    "Progress",
    "batch_gateway",
    "is_transient",
    "new_batch_id",
    "read_batch",
    "resolve_task_ids",
    "run_rollouts",
]

BATCH_KIND = "bakectl-batch"
BATCH_VERSION = 1
BATCH_FILE = "batch.json"
STATUSES = ("passed", "failed", "timeout", "error", "invalid")
# A task whose last attempt has one of these is done; `error` runs again on --resume.
FINAL_STATUSES = frozenset({"passed", "failed", "timeout", "invalid"})
INTERRUPTED = "interrupted"
BUILD_FAILED = "image build failed"

# Faults worth another attempt: the conditions of the run, not the task or the agent.
# Matched (lower-case) in an `error` result's message. A build error, no reward, a
# timeout, a crash, an interrupt are never retried.
TRANSIENT = (
    "the gateway stopped during the run",  # the gateway was killed (OOM, docker) mid-run
    "the gateway did not answer /health",  # a slow start on a loaded host
    "connection reset by peer",  # docker daemon hiccups, seen in a command's last line
    "cannot connect to the docker daemon",
    "error during connect",
    "i/o timeout",
)
RETRY_DELAY = 2.0  # seconds before a retry; doubled per retry, at most RETRY_DELAY_MAX
RETRY_DELAY_MAX = 30.0
_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_BUILD_ERROR_RE = re.compile(r"^(?:#\d+ )?(?:ERROR|Error|error):\s*(.+?)\s*$", re.M)

GatewayArg = GatewayConfig | Callable[[str], GatewayConfig | None] | None


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM / cancel stopped a batch; batch.json and summary.json are written."""

    def __init__(self, results: list[TaskResult], batch_dir: Path | None) -> None:
        super().__init__("interrupted")
        self.results = results
        self.batch_dir = batch_dir


def is_transient(status: str, message: str) -> bool:
    """Whether an attempt that ended like this is worth another one."""
    low = message.lower()
    if status != "error" or message.startswith(BUILD_FAILED):  # never retry a build error
        return False
    return any(p in low for p in TRANSIENT)


def new_batch_id(benchmark: str, agent: str, now: datetime | None = None) -> str:
    """e.g. 20261123T130501Z-arith-oracle-3fa2: sortable by time, unique per batch."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{benchmark}-{agent}-{secrets.token_hex(2)}"


def _run_id(batch_id: str, task: str, k: int) -> str:
    """The docker-facing id of one attempt (its containers, network, snapshot, label)."""
    rid = f"{batch_id}-{task}-a{k}"
    if len(rid) <= 150:
        return rid
    digest = hashlib.sha256(f"{batch_id}/{task}".encode()).hexdigest()[:12]
    return f"{batch_id[:100]}-{digest}-a{k}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- input -----------------------------------------------------------------------------------


def resolve_task_ids(catalog, benchmark: str, tasks: str) -> list[str]:
    """--tasks: 'all', 'id,id,...' or '@file' (one id a line, '#' starts a comment)."""
    catalog.benchmark(benchmark)
    text = tasks.strip()
    if text == "all":
        ids = catalog.task_ids(benchmark)
        if not ids:
            raise UsageError(
                f"benchmark {benchmark!r} has no tasks",
                f"add task directories under containers/benchmarks/{benchmark}/tasks/",
            )
        return ids
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(
                f"--tasks @{path}: no such file",
                "give a file with one task id a line, e.g. --tasks @tasks.txt",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"--tasks @{path} cannot be read: {exc}", "give a text file, one task id a line"
            ) from None
        ids = [ln.split("#", 1)[0].strip() for ln in raw.splitlines()]
        ids = [i for i in ids if i]
        if not ids:
            raise UsageError(
                f"--tasks @{path} names no task", "write one task id a line into the file"
            )
    else:
        ids = [p.strip() for p in text.split(",") if p.strip()]
        if not ids:
            raise UsageError("--tasks names no task", "e.g. --tasks all, --tasks 1,2,3 or @file")
    check_task_ids(catalog, benchmark, ids)
    return ids


def check_limits(n_concurrent: int, attempts: int) -> None:
    """-n and -k: both at least 1."""
    if n_concurrent < 1:
        raise UsageError(
            f"-n {n_concurrent}: at least one task must run at a time",
            "e.g. -n 4 runs four tasks at once (about one per core for CPU-bound tasks)",
        )
    if attempts < 1:
        raise UsageError(
            f"-k {attempts}: every task needs at least one attempt",
            "-k 1 runs each task once; -k 3 retries transient faults up to twice",
        )


def check_task_ids(catalog, benchmark: str, ids: Sequence[str]) -> None:
    """Every id names a task of the benchmark, once; UsageError naming the ones that do not."""
    if not ids:
        raise UsageError("a batch needs at least one task", "e.g. --tasks all")
    known = catalog.task_ids(benchmark)
    unknown = [t for t in dict.fromkeys(ids) if t not in known]
    if unknown:
        names = ", ".join(repr(t) for t in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        s = "s" if len(unknown) > 1 else ""
        hint = suggest(unknown[0], known)
        if len(unknown) > 1:
            hint = f"{unknown[0]!r}: {hint}"
        raise UsageError(f"unknown task{s} {names} in benchmark {benchmark!r}", hint)
    twice = [t for t, n in Counter(ids).items() if n > 1]
    if twice:
        raise UsageError(
            f"task {twice[0]!r} is listed more than once",
            "name each task once; -k N retries a task whose run hit a transient fault",
        )


def batch_gateway(
    *,
    replay: Path | None = None,
    replay_dir: Path | None = None,
    record: Path | None = None,
    upstream: str | None = None,
    agent: str | None = None,
    benchmark: str | None = None,
) -> GatewayArg:
    """The gateway of each task of a batch, from the run flags.

    --replay-dir DIR: task T replays DIR/T/, DIR/T-<agent>/ or DIR/<bench>/T-<agent>/
    (the layout of tests/fixtures), as bundles find fixtures. --record DIR: task T records into DIR/T/.
    --replay F serves one task (a batch of one). Alone, --upstream passes through.
    """
    if replay_dir is not None:
        if replay is not None or record is not None:
            raise UsageError(
                "--replay-dir excludes --replay and --record",
                "replay per-task fixtures with --replay-dir DIR (DIR/<task_id>/)",
            )
        if not replay_dir.is_dir():
            raise UsageError(
                f"--replay-dir {replay_dir}: no such directory",
                "give a directory holding one fixture a task: DIR/<task_id>/exchanges.jsonl",
            )
        root = replay_dir

        def replay_for(task: str) -> GatewayConfig | None:
            fixture = find_fixture(root, benchmark or "", task, agent or "", single=False)
            if fixture is None:
                raise UsageError(
                    f"--replay-dir {root} has no fixture for task {task!r} ({root / task})",
                    "record it: bakectl run ... --tasks T --record DIR --upstream URL "
                    "(writes DIR/<task_id>/), or leave the task out",
                )
            return GatewayConfig.from_flags(fixture, None, upstream)

        return replay_for
    if record is not None and replay is None:
        if record.suffix == ".jsonl" or record.is_file():
            raise UsageError(
                f"--record {record}: a batch records into a directory",
                "give a directory; task T records into DIR/T/",
            )
        GatewayConfig.from_flags(None, record / "x", upstream)  # the flags, checked once
        base = record

        def record_for(task: str) -> GatewayConfig | None:
            return GatewayConfig.from_flags(None, base / task, upstream)

        return record_for
    return GatewayConfig.from_flags(replay, record, upstream)


def read_batch(path: Path) -> dict:
    """batch.json of a batch directory, checked; UsageError when `path` is not one."""
    f = Path(path) / BATCH_FILE
    hint = "give a directory a batch wrote: <out>/<batch_id> (bakectl run B --agent A --tasks ...)"
    if not f.is_file():
        what = "does not exist" if not Path(path).exists() else "is not a batch run (no batch.json)"
        raise UsageError(f"--resume {path} {what}", hint)
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{f} cannot be read: {exc}", hint) from None
    if not isinstance(doc, dict) or doc.get("kind") != BATCH_KIND:
        raise UsageError(f"{f} is not a {BATCH_KIND} file", hint)
    if doc.get("version") != BATCH_VERSION:
        raise UsageError(
            f"{f} has version {doc.get('version')!r}; this bakectl resumes version {BATCH_VERSION}",
            "resume it with the bakectl that wrote it",
        )
    tasks = doc.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise UsageError(f"{f}: 'tasks' is not a list of task ids", hint)
    for key in ("batch_id", "benchmark", "agent"):
        if not isinstance(doc.get(key), str):
            raise UsageError(f"{f}: {key!r} is missing", hint)
    # Paths are built from these ids: a crafted '..' or NUL must never reach one.
    check_id("benchmark", doc["benchmark"], str(f))
    check_id("agent", doc["agent"], str(f))
    for task in tasks:
        check_id("task", task, str(f))
    return doc


def _read_result(attempt: Path) -> dict | None:
    try:
        data = json.loads((attempt / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a run killed before it wrote one
    return data if isinstance(data, dict) else None


def _result_from_json(data: dict, run_dir: Path) -> TaskResult:
    reward = data.get("reward")
    return TaskResult(
        run_id=str(data.get("run_id") or run_dir.name),
        benchmark=str(data.get("benchmark") or ""),
        task=str(data.get("task") or run_dir.parent.name),
        agent=str(data.get("agent") or ""),
        model=data.get("model"),
        status=str(data.get("status") or "error"),
        reward=float(reward) if isinstance(reward, int | float) else None,
        passed=data.get("status") == "passed",
        message=str(data.get("message") or ""),
        run_dir=run_dir,
        duration_sec=float(data.get("duration_sec") or 0.0),
    )


# -- the record of an attempt ----------------------------------------------------------------


def _write_attempt(result: TaskResult, run: dict) -> None:
    """An attempt that never reached execute (invalid, image build failed): its run.json and
    result.json, so the batch directory says why."""
    d = result.run_dir
    assert d is not None
    d.mkdir(parents=True, exist_ok=True)
    now = _now()
    write_json(
        d / "run.json",
        {
            "run_id": result.run_id,
            "bakectl_version": __version__,
            "started_at": now,
            "finished_at": now,
            "benchmark": result.benchmark,
            "task": result.task,
            "agent": result.agent,
            "model": result.model,
            "images": {},
            "commands": [],
            "timings": {"total": round(result.duration_sec, 3)},
            "exit_codes": {},
            **run,
            "status": result.status,
            "message": result.message,
        },
    )
    data = result.to_json()
    data.pop("run_dir")
    write_json(d / "result.json", data)


def _restate(result: TaskResult, status: str, message: str, **run: Any) -> TaskResult:
    """Change an attempt's status after the fact (interrupted, internal error), on disk too."""
    # An interrupted or crashed attempt was not scored, whatever its verifier got to write.
    result = replace(result, status=status, message=message, passed=False, reward=None)
    d = result.run_dir
    if d is None:
        return result
    d.mkdir(parents=True, exist_ok=True)
    data = result.to_json()
    data.pop("run_dir")
    write_json(d / "result.json", data)
    try:
        doc = json.loads((d / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = None
    if isinstance(doc, dict):
        doc.update(status=status, message=message, **run)
        write_json(d / "run.json", doc)
    else:
        _write_attempt(result, run)
    return result


# -- one task of the batch ---------------------------------------------------------------------


@dataclass
class _Task:
    index: int
    id: str
    next_k: int = 1  # the number of its next attempt
    spec: RunSpec | None = None  # prepared for attempt 1 of this invocation
    invalid: str = ""  # why it cannot run as given
    build_error: str = ""
    build_log: str = ""
    tries: int = 0  # attempts made by this invocation
    final: TaskResult | None = None

    def attempt_spec(self, batch_dir: Path, batch_id: str) -> RunSpec:
        """This task's spec for its next attempt: same images and limits, its own ids and dir.
        Plain data, so a worker thread may run it."""
        assert self.spec is not None
        run_id = _run_id(batch_id, self.id, self.next_k)
        return replace(
            self.spec,
            run_id=run_id,
            names=ops.Names(run_id),
            dir=RunDir(batch_dir / "tasks" / self.id / f"attempt-{self.next_k}"),
            warnings=list(self.spec.warnings),
        )


def _attempt(spec: RunSpec) -> tuple[TaskResult, float]:
    """Run one attempt in a worker thread; whatever happens becomes its result."""
    t0 = time.monotonic()
    try:
        result = execute(spec)
    except Exception as exc:  # a bug in bakectl: this task's error, not the batch's
        result = _crashed(spec, exc, time.monotonic() - t0)
    return result, time.monotonic()


def _crashed(spec: RunSpec, exc: BaseException, seconds: float = 0.0) -> TaskResult:
    """The result of an attempt that raised: `error: internal error: ...`, the traceback
    kept in its directory as internal-error.txt."""
    message = f"internal error: {type(exc).__name__}: {exc}"
    result = TaskResult(
        run_id=spec.run_id,
        benchmark=spec.benchmark.name,
        task=spec.task.id,
        agent=spec.agent.name,
        model=spec.options.model,
        status="error",
        reward=None,
        passed=False,
        message=message,
        run_dir=spec.dir.root,
        duration_sec=seconds,
    )
    try:
        result = _restate(result, "error", message)
        detail = "".join(traceback.format_exception(exc))
        (spec.dir.root / "internal-error.txt").write_text(detail, encoding="utf-8")
    except OSError:
        pass
    return result


# -- images ----------------------------------------------------------------------------------


class _Tee:
    """stderr that also keeps what passes through it (the build's output)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.chunks: list[str] = []

    def write(self, s: str) -> int:
        self.chunks.append(s)
        return self.inner.write(s)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def text(self) -> str:
        return "".join(self.chunks)


@contextmanager
def _captured_stderr() -> Iterator[_Tee]:
    tee = _Tee(sys.stderr)
    sys.stderr = tee  # type: ignore[assignment]  # main thread; no worker runs yet
    try:
        yield tee
    finally:
        sys.stderr = tee.inner


def _build_error(log: str, fallback: str) -> str:
    """The build's own last error line (BuildKit's `ERROR: failed to solve: ...`)."""
    found = _BUILD_ERROR_RE.findall(log)
    return found[-1] if found else fallback


def _build(renderer: Renderer, tasks: list[_Task], note: Callable[[str], None]) -> None:
    """Build every image the tasks need in one call; when that fails, each task's images
    on their own, to find which fail. Sets build_error (and build_log) on those tasks."""
    runnable = [t for t in tasks if t.spec is not None]
    groups: dict[tuple[str, ...], list[_Task]] = {}
    for t in runnable:
        assert t.spec is not None
        groups.setdefault(tuple(x.image for x in t.spec.targets), []).append(t)
    targets = _unique_targets(t.spec for t in runnable if t.spec is not None)
    if not targets:
        return
    error, log = _try_build(renderer, targets)
    if not error:
        return
    if len(groups) > 1:
        note(f"the batch's build failed ({error}); building each task's images on its own")
        for group in groups.values():
            spec = group[0].spec
            assert spec is not None
            error, log = _try_build(renderer, spec.targets)
            for t in group if error else ():
                t.build_error, t.build_log = f"{BUILD_FAILED}: {error}", log
        return
    for t in runnable:
        t.build_error, t.build_log = f"{BUILD_FAILED}: {error}", log


def _unique_targets(specs: Iterable[RunSpec]) -> list[ImageTarget]:
    """The images these runs need, each once (by reference), in order."""
    seen: dict[str, ImageTarget] = {}
    for s in specs:
        for x in s.targets:
            seen.setdefault(x.image, x)
    return list(seen.values())


def _try_build(renderer: Renderer, targets: list[ImageTarget]) -> tuple[str, str]:
    """("", "") when the images are there; else (the build's last error line, its output)."""
    with _captured_stderr() as tee:
        try:
            ensure_images(renderer, targets, build=True)
            return "", ""
        except BakectlError as exc:
            fallback = exc.message
        except Exception as exc:  # a bug: this build's tasks fail, the batch goes on
            fallback = f"internal error: {type(exc).__name__}: {exc}"
    log = tee.text()
    return _build_error(log, fallback), log


def _provenance(renderer: Renderer, benchmark: str, digests: dict[str, str]) -> dict:
    root = renderer.catalog.root
    commit = gitinfo.commit(root)
    return {
        "bakectl_version": __version__,
        "git_commit": commit or None,
        "git_dirty": gitinfo.dirty(root) if commit else False,
        "data_revision": renderer.catalog.benchmark(benchmark).spec.version,
        "image_digests": digests,
    }


# -- stopping ----------------------------------------------------------------------------------


@contextmanager
def _signals_set(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set `cancel` instead of unwinding (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signals.note(signum)  # the entry point says which signal stopped the batch
        cancel.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _kill_running(run_ids: set[str], echo: Callable[[str], None] | None) -> None:
    """docker kill the running containers of these runs (found by their run label)."""
    ps = Step(
        (
            "docker",
            "ps",
            "--filter",
            f"label={ops.RUN_LABEL}",
            "--format",
            '{{.ID}} {{.Label "' + ops.RUN_LABEL + '"}}',
        ),
        mutates=False,
    )
    try:
        res = subprocess.run(
            ps.argv, capture_output=True, text=True, timeout=30, start_new_session=True
        )
    except (OSError, subprocess.TimeoutExpired):
        return
    ids = []
    for line in res.stdout.splitlines():
        cid, _, rid = line.strip().partition(" ")
        if rid in run_ids:
            ids.append(cid)
    if not ids:
        return
    kill = Step(("docker", "kill", *ids))
    if echo is not None:
        echo(f"$ {kill.shell()}")
    try:
        subprocess.run(kill.argv, capture_output=True, timeout=30, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired):
        pass


# -- the batch ---------------------------------------------------------------------------------


def run_rollouts(
    renderer: Renderer,
    benchmark: str,
    task_ids: Sequence[str],
    agent: str,
    *,
    model: str | None = None,
    gateway: GatewayArg = None,
    n_concurrent: int = 1,
    attempts: int = 1,
    out_dir: Path = Path("runs"),
    batch_id: str | None = None,
    resume: Path | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
    build: bool = True,
    timeout_sec: float | None = None,
    progress: Progress | None = None,
    command: Sequence[str] | None = None,
    cancel: threading.Event | None = None,
    dry_run: bool = False,
) -> list[TaskResult]:
    """Run `agent` on each task of `benchmark`, at most `n_concurrent` at a time.

    Returns each task's final result (its last attempt), in input order; every attempt
    stays on disk under <out_dir>/<batch_id>/tasks/<task>/attempt-<k>/. `gateway` is a
    GatewayConfig for every task, or a callable task_id -> GatewayConfig (per-task replay
    fixtures). `on_result` is called (in this thread) with each task's final result.
    `resume` continues the batch directory it names (its batch.json gives the tasks;
    `task_ids` may be empty). Bad input raises UsageError before anything is written.
    Interrupted (Ctrl-C, SIGTERM, `cancel`): raises BatchInterrupted after writing
    batch.json and summary.json.
    """
    check_limits(n_concurrent, attempts)
    check_timeout(timeout_sec)
    catalog = renderer.catalog
    cancel = cancel or threading.Event()
    doc: dict | None = None
    if resume is not None:
        doc = read_batch(resume)
        for key, value in (("benchmark", benchmark), ("agent", agent)):
            if value != doc[key]:
                raise UsageError(
                    f"--resume {resume} is a batch of {key} {doc[key]!r}, not {value!r}",
                    f"resume it with: bakectl run {doc['benchmark']} --agent {doc['agent']} "
                    f"--resume {resume}",
                )
        if task_ids and list(task_ids) != doc["tasks"]:
            raise UsageError(
                "--resume continues the batch's own task list",
                "drop --tasks/--task-id; start a new batch for other tasks",
            )
        if model is not None and model != doc.get("model"):
            raise UsageError(
                f"--model {model} differs from the batch's model {doc.get('model')!r}",
                "drop --model when resuming (a batch runs one model)",
            )
        model = doc.get("model")
        ids = list(doc["tasks"])
        batch_id = doc["batch_id"]
        batch_dir = Path(resume).resolve()
    else:
        ids = list(task_ids)
        catalog.benchmark(benchmark)
        check_task_ids(catalog, benchmark, ids)
        batch_id = batch_id or new_batch_id(benchmark, agent)
        if not _BATCH_ID_RE.match(batch_id):
            raise UsageError(f"batch id {batch_id!r} is not valid", "use [A-Za-z0-9_.-]")
        batch_dir = Path(out_dir).resolve() / batch_id
        if batch_dir.exists() and not dry_run:
            raise UsageError(
                f"batch directory {batch_dir} already exists",
                f"continue it with --resume {batch_dir}, or pick another --out",
            )
    catalog.agent(agent)

    tasks = [_Task(i, t) for i, t in enumerate(ids)]
    kept: list[TaskResult] = []
    for t in tasks:
        done = attempt_dirs(batch_dir / "tasks" / t.id) if doc is not None else []
        if done:
            k, last_dir = done[-1]
            t.next_k = k + 1
            last = _read_result(Path(last_dir))
            if last is not None and last.get("status") in FINAL_STATUSES:
                t.final = _result_from_json(last, Path(last_dir))
                kept.append(t.final)
    todo = [t for t in tasks if t.final is None]

    # Check every task's gateway and prepare it: all before anything is written.
    gateways: dict[str, GatewayConfig | None] = {}
    for t in todo:
        gateways[t.id] = gateway(t.id) if callable(gateway) else gateway
    if (
        isinstance(gateway, GatewayConfig)
        and gateway.mode in ("replay", "record")
        and len(todo) > 1
    ):
        raise UsageError(
            f"--{gateway.mode} {gateway.fixture} is one task's fixture; this batch runs {len(todo)}",
            "give per-task fixtures: --replay-dir DIR (DIR/<task_id>/), or --record DIR",
        )
    for t in todo:
        options = RunOptions(
            model=model,
            gateway=gateways[t.id],
            timeout_sec=timeout_sec,
            out_dir=batch_dir / "tasks" / t.id,
            build=False,
            dry_run=dry_run,
            run_id=_run_id(batch_id, t.id, t.next_k),
            echo=None,
            cancel=cancel,
        )
        try:
            t.spec = prepare(renderer, benchmark, t.id, agent, options)
        except UsageError as exc:
            t.invalid = exc.message + (f" ({exc.hint})" if exc.hint else "")
    specs = [t.spec for t in todo if t.spec is not None]
    all_targets = _unique_targets(specs)
    if dry_run:
        ensure_images(renderer, all_targets, build=build, dry_run=True)
        for t in todo:
            if t.spec is not None:
                print(f"# {benchmark}/{t.id} x {agent}", flush=True)
                execute(t.attempt_spec(batch_dir, batch_id))
            else:
                print(f"# {benchmark}/{t.id}: invalid: {t.invalid}", flush=True)
        return []
    if not build:
        ensure_images(renderer, all_targets, build=False)  # UsageError naming what is missing

    # From here on the batch directory exists and every fault is a task's status.
    progress = progress or Progress(out=Null(), stream=Null(), tty=False)
    old_digests = dict(((doc or {}).get("provenance") or {}).get("image_digests") or {})
    record: dict[str, Any] = {
        "kind": BATCH_KIND,
        "version": BATCH_VERSION,
        "batch_id": batch_id,
        "benchmark": benchmark,
        "agent": agent,
        "model": model,
        "tasks": ids,
        "n_concurrent": n_concurrent,
        "attempts": attempts,
        "command": list(doc["command"]) if doc and doc.get("command") else _command(command),
        "started_at": (doc or {}).get("started_at") or _now(),
        "finished_at": None,
        "provenance": _provenance(renderer, benchmark, old_digests),
    }
    (batch_dir / "tasks").mkdir(parents=True, exist_ok=True)
    write_json(batch_dir / BATCH_FILE, record)

    def finish(t: _Task, result: TaskResult) -> None:
        t.final = result
        progress.finished(result)
        if on_result is not None:
            try:
                on_result(result)
            except Exception as exc:  # the caller's bug must not cost the batch
                progress.note(f"warning: on_result failed: {type(exc).__name__}: {exc}")

    interrupted = False
    try:
        progress.begin(len(tasks), kept)
        for w in dict.fromkeys(w for s in specs for w in s.warnings):
            progress.note(f"warning: {w}")
        try:
            with sigterm_interrupts():
                _build(renderer, todo, progress.note)
        except KeyboardInterrupt:
            interrupted = True
        if not interrupted:
            with _signals_set(cancel):
                _record_provenance(record, specs, old_digests, progress)
                write_json(batch_dir / BATCH_FILE, record)
                for t in todo:
                    if t.invalid or t.build_error:
                        finish(t, _unrun(t, batch_dir, batch_id, benchmark, agent, model))
                runnable = [t for t in todo if t.final is None and t.spec is not None]
                _run_pool(
                    runnable, batch_dir, batch_id, n_concurrent, attempts, progress, cancel, finish
                )
    finally:
        progress.close()
        record["finished_at"] = _now()
        write_json(batch_dir / BATCH_FILE, record)
        _write_summary(batch_dir, progress)
    results = [t.final for t in tasks if t.final is not None]
    if interrupted or cancel.is_set():
        raise BatchInterrupted(results, batch_dir)
    return results


def _record_provenance(
    record: dict, specs: list[RunSpec], old: dict[str, str], progress: Progress
) -> None:
    refs = list(dict.fromkeys(x.image for s in specs for x in s.targets))
    try:
        digests = image_ids(refs)
    except BakectlError:  # provenance is best effort; the results are already written
        digests = {}
    changed = [r for r in digests if r in old and old[r] != digests[r]]
    if changed:
        progress.note(f"warning: image {changed[0]} was rebuilt since this batch began")
    record["provenance"]["image_digests"] = {**old, **digests}


def _unrun(
    t: _Task, batch_dir: Path, batch_id: str, benchmark: str, agent: str, model: str | None
) -> TaskResult:
    """The attempt of a task that cannot run (invalid, its image failed to build), on disk."""
    d = batch_dir / "tasks" / t.id / f"attempt-{t.next_k}"
    result = TaskResult(
        run_id=_run_id(batch_id, t.id, t.next_k),
        benchmark=benchmark,
        task=t.id,
        agent=agent,
        model=model,
        status="invalid" if t.invalid else "error",
        reward=None,
        passed=False,
        message=t.invalid or t.build_error,
        run_dir=d,
        duration_sec=0.0,
    )
    _write_attempt(result, {})
    if t.build_log:
        (d / "build.log").write_text(t.build_log, encoding="utf-8")
    t.next_k += 1
    t.tries += 1
    return result


def _run_pool(
    runnable: list[_Task],
    batch_dir: Path,
    batch_id: str,
    n: int,
    attempts: int,
    progress: Progress,
    cancel: threading.Event,
    finish: Callable[[_Task, TaskResult], None],
) -> None:
    """Run the tasks on n workers (at most n have containers at once), retrying transient
    faults; once `cancel` is set, start nothing and kill what runs."""
    queue: list[tuple[float, _Task]] = [(0.0, t) for t in runnable]  # (not before, task)
    inflight: dict[Future, tuple[_Task, RunSpec]] = {}
    killed_at: float | None = None
    last_kill = 0.0
    if not runnable:
        return
    with ThreadPoolExecutor(max_workers=min(n, len(runnable)), thread_name_prefix="task") as pool:
        while queue or inflight:
            now = time.monotonic()
            if cancel.is_set():
                if killed_at is None:
                    killed_at = now
                    skipped = len(queue)
                    queue.clear()
                    progress.note(
                        f"stopping: {len(inflight)} running task(s) are being stopped and "
                        f"cleaned up; {skipped} not started"
                    )
                if inflight and now - last_kill >= 1.0:
                    _kill_running({s.run_id for _, s in inflight.values()}, progress.command)
                    last_kill = time.monotonic()
            elif len(inflight) < n and queue:
                ready = sorted((q for q in queue if q[0] <= now), key=lambda q: q[1].index)
                for item in ready[: n - len(inflight)]:
                    queue.remove(item)
                    t = item[1]
                    spec = t.attempt_spec(batch_dir, batch_id)
                    t.next_k += 1
                    t.tries += 1
                    inflight[pool.submit(_attempt, spec)] = (t, spec)
            progress.tick(len(inflight))
            if not inflight:
                time.sleep(0.2)  # only retries waiting for their time
                continue
            done, _ = wait(list(inflight), timeout=0.5, return_when=FIRST_COMPLETED)
            for f in done:
                t, spec = inflight.pop(f)
                try:
                    result, ended = f.result()
                except BaseException as exc:  # _attempt catches everything; belt and braces
                    result, ended = _crashed(spec, exc), time.monotonic()
                if killed_at is not None and ended >= killed_at:
                    result = _restate(result, "error", INTERRUPTED)
                    finish(t, result)
                elif (
                    is_transient(result.status, result.message)
                    and t.tries < attempts
                    and not cancel.is_set()
                ):
                    progress.retrying(result, t.tries + 1, attempts)
                    delay = min(RETRY_DELAY * 2 ** (t.tries - 1), RETRY_DELAY_MAX)
                    queue.append((time.monotonic() + delay, t))
                else:
                    finish(t, result)


def _command(command: Sequence[str] | None) -> list[str]:
    if command is not None:
        return list(command)
    return [Path(sys.argv[0]).name or "python", *sys.argv[1:]]


def _write_summary(batch_dir: Path, progress: Progress) -> None:
    try:
        from bakectl.results.report import write_summary
    except ImportError:  # the report module is optional: batch.json and the attempts suffice
        return
    try:
        write_summary(batch_dir)
    except Exception as exc:
        progress.note(f"warning: could not write {batch_dir / 'summary.json'}: {exc}")
