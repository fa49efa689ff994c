"""Jobs: tasks x one agent, k independent attempts each, at most N at a time, one job dir.

    results = run_rollouts(renderer, "arith", ["1", "2", "3"], "oracle", n_concurrent=2)
    results = run_job(renderer, job_record(...), out_dir=Path("runs"))

Every run is a job (bakectl.runner.job has the layout): a single --task-id is a job of one.
job.json (a JobRecord) holds what was asked, fully resolved, so `--resume JOB` needs no flag.

How a job runs:

- Input is checked first (unknown tasks, flags, fixtures, a model agent with no model
  source, an unreachable engine); bad input raises UsageError before anything is written.
- Every task is prepared and every image built in the calling thread (the Renderer is
  not thread-safe), in one ensure_images call. When that build fails, each task's
  images are built on their own, and only the tasks whose images fail end `error`
  (fault image_build; the build output kept in attempt-<k>/build.log).
- -k N: N independent attempts per task (attempt-1..attempt-N; pass@k reads them).
  N worker threads run attempts: at most N have containers at any time.
- A fault stays in its attempt: an agent timeout, a gateway that stopped, a verifier that
  wrote no reward, even an exception inside bakectl becomes that attempt's status and
  fault, never an aborted job.
- --retries R: an attempt whose fault is transient (Fault.transient, by kind, never by
  message) is tried again, up to R more times; the earlier try stays as attempt-<k>.try-<r>/.
- resume: attempts with a final status (passed, failed, timeout, invalid) are kept;
  error attempts, and attempts never run, run again.
- Ctrl-C / SIGTERM (or `cancel.set()`): nothing new starts; the running attempts'
  containers are killed (`docker kill`, found by their dev.bakectl.run label), each
  attempt's own cleanup then removes its containers, networks and snapshot, and those
  attempts end `error` (fault interrupted). summary.json is written, then
  BatchInterrupted (a KeyboardInterrupt) is raised, carrying the results so far.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from bakectl import signals
from bakectl.catalog.naming import suggest
from bakectl.engine import containers as ops
from bakectl.engine.plan import Step
from bakectl.errors import BakectlError, UsageError
from bakectl.render.renderer import ImageTarget, Renderer
from bakectl.results import index as results_index
from bakectl.results.records import (
    Fault,
    JobRecord,
    ModelSource,
    ResultRecord,
    TaskSource,
    parse_record,
)
from bakectl.results.rundir import RunDir
from bakectl.runner import job as jobs
from bakectl.runner.fixtures import find_fixture
from bakectl.runner.gateway_ctl import GatewayConfig
from bakectl.runner.outcome import AttemptId, this_owner, unrun
from bakectl.runner.progress import Null, Progress
from bakectl.runner.spec import (
    FixtureCorrupt,
    FixtureMismatch,
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
    "BatchInterrupted",
    "Progress",
    "check_limits",
    "model_source_from_flags",
    "run_job",
    "run_rollouts",
]

STATUSES = ("passed", "failed", "timeout", "error", "invalid")
# An attempt with one of these is done; `error` runs again on --resume.
FINAL_STATUSES = frozenset({"passed", "failed", "timeout", "invalid"})
RETRY_DELAY = 2.0  # seconds before a retry; doubled per retry, at most RETRY_DELAY_MAX
RETRY_DELAY_MAX = 30.0
BUILD_FAILED = "image build failed"
_BUILD_ERROR_RE = re.compile(r"^(?:#\d+ )?(?:ERROR|Error|error):\s*(.+?)\s*$", re.M)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM / cancel stopped a job; its finished attempts are on disk."""

    def __init__(self, results: list[TaskResult], batch_dir: Path | None) -> None:
        super().__init__("interrupted")
        self.results = results
        self.batch_dir = batch_dir


# -- input -----------------------------------------------------------------------------------


def check_limits(n_concurrent: int, attempts: int, retries: int = 0) -> None:
    """-n and -k at least 1, --retries at least 0."""
    if n_concurrent < 1:
        raise UsageError(
            f"-n {n_concurrent}: at least one task must run at a time",
            "e.g. -n 4 runs four tasks at once (about one per core for CPU-bound tasks)",
        )
    if attempts < 1:
        raise UsageError(
            f"--attempts {attempts}: every task needs at least one attempt",
            "-k 1 runs each task once; -k 5 runs five independent attempts (pass@k)",
        )
    if retries < 0:
        raise UsageError(
            f"--retries {retries}: cannot be negative",
            "--retries 0 never retries; --retries 2 retries a transient fault twice",
        )


def check_task_ids(catalog, benchmark: str, ids: Sequence[str]) -> None:
    """Every id names a task of the benchmark, once; UsageError naming the ones that do not."""
    if not ids:
        raise UsageError("a job needs at least one task", "e.g. --tasks all")
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
            "name each task once; -k N runs N independent attempts of each",
        )


def model_source_from_flags(
    *,
    replay: Path | None = None,
    replay_dir: Path | None = None,
    record: Path | None = None,
    upstream: str | None = None,
    n_tasks: int = 1,
) -> ModelSource:
    """The model source of a job from the run flags, checked.

    --replay F: one task's fixture. --replay-dir DIR: task T replays DIR/T/, DIR/T-<agent>/
    or DIR/<bench>/T-<agent>/. --record F (one task) records into F; with several tasks,
    task T records into F/T/. Alone, --upstream passes through.
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
        return ModelSource(kind="replay_dir", location=str(replay_dir.resolve()))
    if record is not None and replay is None and n_tasks > 1:
        if record.suffix == ".jsonl" or record.is_file():
            raise UsageError(
                f"--record {record}: a job of several tasks records into a directory",
                "give a directory; task T records into DIR/T/",
            )
        GatewayConfig.from_flags(None, record / "x", upstream)  # the flags, checked once
        return ModelSource(kind="record_dir", location=str(record.resolve()), upstream=upstream)
    config = GatewayConfig.from_flags(replay, record, upstream)
    if config is None:
        return ModelSource()
    if config.mode == "replay" and n_tasks > 1:
        raise UsageError(
            f"--replay {replay} is one task's fixture; this job runs {n_tasks}",
            "give per-task fixtures: --replay-dir DIR (DIR/<task_id>/), or --record DIR",
        )
    location = str(config.fixture) if config.fixture else None
    return ModelSource(kind=config.mode, location=location, upstream=config.upstream)  # type: ignore[arg-type]


def gateway_for(source: ModelSource, benchmark: str, task: str, agent: str) -> GatewayConfig | None:
    """The gateway of one task of a job; UsageError when its fixture is not there."""
    kind = source.kind
    if kind == "none":
        return None
    if kind == "passthrough":
        return GatewayConfig.from_flags(None, None, source.upstream)
    loc = Path(source.location or "")
    if kind == "replay":
        return GatewayConfig.from_flags(loc, None, None)
    if kind == "record":
        return GatewayConfig.from_flags(None, loc, source.upstream)
    if kind == "record_dir":
        return GatewayConfig.from_flags(None, loc / jobs.check_id(task, "task id"), source.upstream)
    fixture = find_fixture(loc, benchmark, task, agent, single=False)
    if fixture is None:
        raise UsageError(
            f"--replay-dir {loc} has no fixture for task {task!r} ({loc / task})",
            "record it: bakectl run ... --tasks T --record DIR --upstream URL "
            "(writes DIR/<task_id>/), or leave the task out",
        )
    return GatewayConfig.from_flags(fixture, None, None)


# -- one attempt of one task -------------------------------------------------------------------


@dataclass
class _Unit:
    """Attempt k of one task: tried up to 1 + retries times."""

    index: int  # the task's place in the job (results come back in that order)
    task: _Task
    k: int
    tries: int = 0  # tries made by this invocation
    earlier: int = 0  # tries kept from before (attempt-<k>.try-<r>/)
    final: TaskResult | None = None

    @property
    def dir(self) -> Path:
        return self.task.job_dir / "tasks" / self.task.id / f"attempt-{self.k}"

    def spec(self) -> RunSpec:
        """This try's spec: the task's images and limits, its own ids and dir. Plain data,
        so a worker thread may run it."""
        t = self.task
        assert t.spec is not None
        rid = jobs.run_id(t.job_id, t.id, self.k, self.earlier + self.tries)
        return replace(
            t.spec,
            run_id=rid,
            names=ops.Names(rid),
            dir=RunDir(self.dir),
            options=replace(t.spec.options, run_id=rid, run_dir=self.dir, attempt=self.k),
            warnings=list(t.spec.warnings),
        )

    def set_aside(self) -> None:
        """Keep an earlier try of this attempt beside it, out of the attempt's place."""
        if self.dir.exists():
            self.earlier += 1
            while (aside := self.dir.with_name(f"{self.dir.name}.try-{self.earlier}")).exists():
                self.earlier += 1
            self.dir.rename(aside)


@dataclass
class _Task:
    index: int
    id: str
    job_id: str
    job_dir: Path
    spec: RunSpec | None = None  # prepared once; each try gets its own ids and dir
    invalid: Fault | None = None  # why it cannot run as given (status invalid)
    fault: Fault | None = None  # why it cannot run here (status error: a corrupt fixture)
    build_error: str = ""
    build_log: str = ""
    units: list[_Unit] = field(default_factory=list)


def _who(u: _Unit, record: JobRecord, run_id: str) -> AttemptId:
    return AttemptId(
        run_id=run_id,
        job_id=record.job_id,
        benchmark=record.source.benchmark,
        task=u.task.id,
        agent=record.agent,
        attempt=u.k,
        agent_version=record.agent_version,
        model=record.model,
    )


def _unrun(u: _Unit, record: JobRecord, status: str, fault: Fault, log: str = "") -> TaskResult:
    """The records of an attempt that cannot run (invalid, its image failed to build)."""
    u.set_aside()
    rid = jobs.run_id(record.job_id, u.task.id, u.k, u.earlier)
    rec = unrun(u.dir, _who(u, record, rid), status, fault)
    if log:
        (u.dir / "build.log").write_text(log, encoding="utf-8")
    return TaskResult.of(rec, u.dir)


def _restate(result: TaskResult, fault: Fault) -> TaskResult:
    """An attempt that ended after Ctrl-C, or raised: `error` with its fault, on disk too.
    Its run.json stays as the run wrote it (or is written, when there is none)."""
    d = result.run_dir
    assert d is not None
    old = result.record
    rec = ResultRecord(
        **{
            **(old.model_dump() if old else {}),
            "run_id": result.run_id,
            "job_id": old.job_id if old else "",
            "benchmark": result.benchmark,
            "task": result.task,
            "agent": result.agent,
            "model": result.model,
            "status": "error",
            "fault": fault,
            "reward": None,
            "rewards": {},
            "passed": False,
            "message": fault.message,
        }
    )
    from bakectl.results.records import write_record

    d.mkdir(parents=True, exist_ok=True)
    if not (d / "run.json").is_file():
        who = AttemptId(rec.run_id, rec.job_id, rec.benchmark, rec.task, rec.agent, rec.attempt)
        unrun(d, who, "error", fault)
    write_record(d / "result.json", rec)
    return TaskResult.of(rec, d)


def _attempt(spec: RunSpec) -> tuple[TaskResult, float]:
    """Run one try in a worker thread; whatever happens becomes its result."""
    t0 = time.monotonic()
    try:
        result = execute(spec)
    except Exception as exc:  # a bug in bakectl: this attempt's error, not the job's
        result = _crashed(spec, exc, time.monotonic() - t0)
    return result, time.monotonic()


def _crashed(spec: RunSpec, exc: BaseException, seconds: float = 0.0) -> TaskResult:
    """The result of a try that raised: fault internal, the traceback kept in its
    directory as internal-error.txt."""
    fault = Fault.of("internal", f"internal error: {type(exc).__name__}: {exc}")
    who = AttemptId(
        run_id=spec.run_id,
        job_id=spec.options.job_id,
        benchmark=spec.benchmark.name,
        task=spec.task.id,
        agent=spec.agent.name,
        attempt=spec.options.attempt,
        agent_version=spec.agent.spec.version,
        model=spec.options.model,
    )
    try:
        spec.dir.root.mkdir(parents=True, exist_ok=True)
        rec = unrun(spec.dir.root, who, "error", fault)
        detail = "".join(traceback.format_exception(exc))
        (spec.dir.root / "internal-error.txt").write_text(detail, encoding="utf-8")
        return TaskResult.of(rec, spec.dir.root)
    except OSError:
        return TaskResult(
            spec.run_id,
            who.benchmark,
            who.task,
            who.agent,
            who.model,
            "error",
            None,
            False,
            fault.message,
            spec.dir.root,
            seconds,
        )


def _read_result(attempt: Path) -> TaskResult | None:
    """An attempt's result.json, or None (a run killed before it wrote one, a damaged file)."""
    try:
        rec = parse_record((attempt / "result.json").read_bytes(), ResultRecord, str(attempt))
    except (OSError, UsageError):
        return None
    return TaskResult.of(rec, attempt)


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
    from bakectl.engine.plan import run_process

    try:
        res = run_process(ps, timeout=30)
    except BakectlError:
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
        run_process(kill, timeout=30)
    except BakectlError:
        pass


# -- the job -----------------------------------------------------------------------------------


def run_rollouts(
    renderer: Renderer,
    benchmark: str,
    task_ids: Sequence[str],
    agent: str,
    *,
    model: str | None = None,
    model_source: ModelSource | None = None,
    n_concurrent: int = 1,
    attempts: int = 1,
    retries: int = 0,
    out_dir: Path = Path("runs"),
    job_id: str | None = None,
    resume: Path | None = None,
    timeout_sec: float | None = None,
    registry: str | None = None,
    **kw: Any,
) -> list[TaskResult]:
    """The library form: run `agent` on each task of `benchmark` as one job.

    Returns every attempt's result, in task order then attempt order; each is on disk
    under <out_dir>/<job_id>/tasks/<task>/attempt-<k>/. `resume`: continue that job
    directory from its job.json (the other request arguments are then ignored).
    """
    if resume is not None:
        return run_job(renderer, jobs.read_job(resume), job_dir=Path(resume), **kw)
    check_limits(n_concurrent, attempts, retries)
    check_timeout(timeout_sec)
    catalog = renderer.catalog
    ag = catalog.agent(agent)
    folder = catalog.folders.get(benchmark)
    record = jobs.job_record(
        job_id=job_id or jobs.new_job_id(benchmark, agent),
        # A -p job records its folder: --resume and score find the tasks there again.
        source=TaskSource(kind="path", location=str(folder.path), benchmark=benchmark)
        if folder is not None
        else TaskSource(kind="catalog", location=str(catalog.root), benchmark=benchmark),
        task_ids=list(task_ids),
        agent=agent,
        agent_version=ag.spec.version,
        model=model,
        model_source=model_source or ModelSource(),
        n_concurrent=n_concurrent,
        attempts=attempts,
        retries=retries,
        agent_timeout_sec=timeout_sec,
        registry=registry,
        no_build=not kw.get("build", True),
        owner=this_owner(),
        **jobs.provenance(catalog.root),
    )
    return run_job(renderer, record, out_dir=out_dir, **kw)


def check_engine_once(dry_run: bool) -> None:
    """An engine that does not answer is found here, once, before a job writes anything."""
    if dry_run:
        return
    from bakectl.engine.docker import check_engine

    check_engine()


def run_job(
    renderer: Renderer,
    record: JobRecord,
    *,
    out_dir: Path = Path("runs"),
    job_dir: Path | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
    build: bool = True,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    dry_run: bool = False,
    echo: TextIO | None = None,
) -> list[TaskResult]:
    """Run the job `record` describes: a new one into <out_dir>/<job_id>/, or the job in
    `job_dir` (resume: its final attempts are kept). Bad input raises UsageError before
    anything is written. Interrupted (Ctrl-C, SIGTERM, `cancel`): raises BatchInterrupted."""
    check_limits(record.n_concurrent, record.attempts, record.retries)
    check_timeout(record.agent_timeout_sec)
    catalog = renderer.catalog
    benchmark, agent = record.source.benchmark, record.agent
    catalog.benchmark(benchmark)
    ag = catalog.agent(agent)
    check_task_ids(catalog, benchmark, record.task_ids)
    if ag.spec.needs_model and record.model_source.kind == "none":
        raise UsageError(
            f"agent {agent!r} needs a model, and this run has no model source",
            "replay a fixture (--replay F, --replay-dir DIR), or record one with "
            "--record DIR --upstream URL; --upstream URL alone passes through",
        )
    resuming = job_dir is not None
    if job_dir is None:
        job_dir = Path(out_dir).resolve() / jobs.check_id(record.job_id, "job id")
        if job_dir.exists() and not dry_run:
            raise UsageError(
                f"job directory {job_dir} already exists",
                f"continue it: bakectl run --resume {jobs.display(job_dir)}; or pick another --out",
            )
    job_dir = Path(job_dir).resolve()
    cancel = cancel or threading.Event()
    build = build and not record.no_build

    tasks = [_Task(i, t, record.job_id, job_dir) for i, t in enumerate(record.task_ids)]
    kept: list[TaskResult] = []
    todo: list[_Unit] = []
    for t in tasks:
        for k in range(1, record.attempts + 1):
            u = _Unit(t.index, t, k)
            t.units.append(u)
            last = _read_result(u.dir) if resuming else None
            if last is not None and last.status in FINAL_STATUSES:
                u.final = last
                kept.append(last)
            else:
                todo.append(u)
    pending = [t for t in tasks if any(u.final is None for u in t.units)]

    # Check every task's gateway and prepare it: all before anything is written.
    gateways = {t.id: gateway_for(record.model_source, benchmark, t.id, agent) for t in pending}
    first_invalid: UsageError | None = None
    for t in pending:
        options = RunOptions(
            model=record.model,
            gateway=gateways[t.id],
            timeout_sec=record.agent_timeout_sec,
            out_dir=job_dir / "tasks" / t.id,
            build=False,
            dry_run=dry_run,
            run_id=jobs.run_id(record.job_id, t.id, 1),
            echo=echo,
            cancel=cancel,
            job_id=record.job_id,
        )
        try:
            t.spec = prepare(renderer, benchmark, t.id, agent, options)
        except FixtureCorrupt as exc:
            t.fault = Fault.of("fixture_corrupt", exc.message)
        except FixtureMismatch:
            raise  # the flags are wrong, not the task: nothing runs
        except UsageError as exc:
            why = exc.message + (f" ({exc.hint})" if exc.hint else "")
            t.invalid = Fault.of("task_invalid", why)
            first_invalid = first_invalid or exc
    if first_invalid is not None and all(t.invalid is not None for t in pending):
        raise first_invalid  # no task of the job can run as asked: bad input, nothing written
    specs = [t.spec for t in pending if t.spec is not None]
    all_targets = _unique_targets(specs)
    if dry_run:
        ensure_images(renderer, all_targets, build=build, dry_run=True)
        for t in pending:
            if t.spec is not None:
                print(f"# {benchmark}/{t.id} x {agent}", flush=True)
                execute(t.units[0].spec())
            else:
                why = (t.invalid or t.fault).message  # type: ignore[union-attr]
                print(f"# {benchmark}/{t.id}: cannot run: {why}", flush=True)
        return []
    check_engine_once(dry_run)
    if not build:
        ensure_images(renderer, all_targets, build=False)  # UsageError naming what is missing

    # From here on the job directory exists and every fault is an attempt's status.
    if resuming:
        (job_dir / "tasks").mkdir(parents=True, exist_ok=True)
    else:
        jobs.open_job(job_dir.parent, record)
    progress = progress or Progress(out=Null(), stream=Null(), tty=False)

    def finish(u: _Unit, result: TaskResult) -> None:
        u.final = result
        if result.record is not None and result.run_dir is not None:
            # The attempt is complete on disk: the report may read it from the index.
            results_index.note(
                job_dir, result.run_dir, result.run_dir / "result.json", result.record
            )
        progress.finished(result)
        if on_result is not None:
            try:
                on_result(result)
            except Exception as exc:  # the caller's bug must not cost the job
                progress.note(f"warning: on_result failed: {type(exc).__name__}: {exc}")

    interrupted = False
    try:
        progress.begin(len(tasks) * record.attempts, kept)
        for w in dict.fromkeys(w for s in specs for w in s.warnings):
            progress.note(f"warning: {w}")
        try:
            with sigterm_interrupts():
                _build(renderer, pending, progress.note)
        except KeyboardInterrupt:
            interrupted = True
        if not interrupted:
            with _signals_set(cancel):
                runnable: list[_Unit] = []
                for u in todo:
                    t = u.task
                    if t.invalid is not None:
                        finish(u, _unrun(u, record, "invalid", t.invalid))
                    elif t.fault is not None:
                        finish(u, _unrun(u, record, "error", t.fault))
                    elif t.build_error:
                        fault = Fault.of("image_build", t.build_error)
                        finish(u, _unrun(u, record, "error", fault, t.build_log))
                    else:
                        runnable.append(u)
                _run_pool(runnable, record, progress, cancel, finish)
    finally:
        progress.close()
        write_job_summary(job_dir, progress)
    results = [u.final for t in tasks for u in t.units if u.final is not None]
    if interrupted or cancel.is_set():
        raise BatchInterrupted(results, job_dir)
    return results


def _run_pool(
    runnable: list[_Unit],
    record: JobRecord,
    progress: Progress,
    cancel: threading.Event,
    finish: Callable[[_Unit, TaskResult], None],
) -> None:
    """Run the attempts on n workers (at most n have containers at once), retrying
    transient faults; once `cancel` is set, start nothing and kill what runs."""
    n, retries = record.n_concurrent, record.retries
    queue: list[tuple[float, _Unit]] = [(0.0, u) for u in runnable]  # (not before, attempt)
    inflight: dict[Future, tuple[_Unit, RunSpec]] = {}
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
                        f"stopping: {len(inflight)} running attempt(s) are being stopped and "
                        f"cleaned up; {skipped} not started"
                    )
                if inflight and now - last_kill >= 1.0:
                    _kill_running({s.run_id for _, s in inflight.values()}, progress.command)
                    last_kill = time.monotonic()
            elif len(inflight) < n and queue:
                ready = sorted(
                    (q for q in queue if q[0] <= now), key=lambda q: (q[1].index, q[1].k)
                )
                for item in ready[: n - len(inflight)]:
                    queue.remove(item)
                    u = item[1]
                    u.set_aside()  # an error attempt of an earlier invocation, or a retried try
                    spec = u.spec()
                    u.tries += 1
                    inflight[pool.submit(_attempt, spec)] = (u, spec)
            progress.tick(len(inflight))
            if not inflight:
                time.sleep(0.05)  # only retries waiting for their time
                continue
            done, _ = wait(list(inflight), timeout=0.5, return_when=FIRST_COMPLETED)
            for f in done:
                u, spec = inflight.pop(f)
                try:
                    result, ended = f.result()
                except BaseException as exc:  # _attempt catches everything; belt and braces
                    result, ended = _crashed(spec, exc), time.monotonic()
                fault = result.fault
                if killed_at is not None and ended >= killed_at:
                    if not (fault is not None and fault.kind == "interrupted"):
                        result = _restate(result, Fault.of("interrupted", "interrupted"))
                    finish(u, result)
                elif (
                    fault is not None
                    and fault.transient
                    and u.tries <= retries
                    and not cancel.is_set()
                ):
                    progress.retrying(result, u.tries + 1, retries + 1)
                    delay = min(RETRY_DELAY * 2 ** (u.tries - 1), RETRY_DELAY_MAX)
                    queue.append((time.monotonic() + delay, u))
                else:
                    finish(u, result)


def write_job_summary(job_dir: Path, progress: Progress | None = None) -> None:
    """summary.json, by the readers' summarize (bakectl.results.report)."""
    try:
        from bakectl.results.report import write_summary

        write_summary(job_dir)
    except Exception as exc:  # the attempts are on disk; `bakectl report` writes it again
        note = progress.note if progress else lambda m: print(f"bakectl: {m}", file=sys.stderr)
        note(f"warning: could not write {job_dir / 'summary.json'}: {exc}")
