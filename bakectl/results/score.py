"""Score again what a run kept, without running the agent: `bakectl score RUN`.

    results = rescore_path(catalog, Path("runs/<run_id>"))          # or a batch directory
    for r in results: print(r.line())

For each task run directory: a fresh container from the run's eval image (run.json
`images.eval`, by image id when the store still has it, else by ref), `--user 0
--network none`, the run's `artifacts/` mounted read-only and copied over the
workdir (so files the agent deleted stay deleted), the task's CURRENT `tests/`
mounted read-only at /tests (a scorer fix needs no new agent run), and the runtime's
`entrypoint.sh verify`. The new result goes BESIDE the old one, never over it:

    <run_dir>/rescore-<UTC timestamp>/
      result.json   as a run's, plus "rescore_of" (the old status and reward)
      score.json    reward, its source file, the named scores of reward.json, tests hash
      run.json      image, every command, timings, exit code
      verifier/container.log, verifier/logs/

Every container is labelled dev.bakectl.run=<rescore id> and removed when scoring
ends, on errors and Ctrl-C too. `verify_artifacts` is the shared piece: the local
command runner (bakectl.runner.local) scores with it as well.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bakectl import __version__
from bakectl.engine import containers as ops
from bakectl.errors import BakectlError, UsageError
from bakectl.render.hashing import hash_tree
from bakectl.results.rundir import PASS_THRESHOLD, RunDir, attempt_dirs, read_reward, write_json
from bakectl.signals import sigterm_interrupts

ARTIFACTS_MOUNT = "/bakectl/artifacts"
RESCORE_PREFIX = "rescore-"

# Runs as root in the verifier container: replace the workdir's contents with the
# artifacts (a copy, so the scorer may write; deletions the agent made stay made),
# then the runtime's own verify mode.
VERIFY_SCRIPT = (
    'set -eu; w="${BAKECTL_WORKDIR:-/app}"; mkdir -p "$w"; '
    'find "$w" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; '
    f'cp -a {ARTIFACTS_MOUNT}/. "$w"/; '
    f"exec sh {ops.RUNTIME_ENTRYPOINT} verify"
)


# -- the verifier on a directory of artifacts -------------------------------------------------


@dataclass
class Verification:
    reward: float | None = None
    problem: str = ""  # why there is no reward (or an error that stopped scoring)
    error: str = ""  # a fault: the container could not start, timed out
    exit_code: int | None = None
    seconds: float = 0.0


def verify_step(
    names: ops.Names,
    image: str,
    *,
    workdir: str,
    artifacts: Path,
    tests: Path,
    logs: Path,
    cpus: float | None = None,
    memory_mb: int | None = None,
    entrypoint: Path | None = None,
) -> ops.Step:
    """The `docker run` of a verifier over `artifacts`. `entrypoint`: a host copy of the
    runtime's entrypoint.sh, mounted for images that lack it (a bare base image)."""
    mounts = [
        ops.Mount(artifacts.resolve(), ARTIFACTS_MOUNT, readonly=True),
        ops.Mount(tests.resolve(), "/tests", readonly=True),
        ops.Mount(logs.resolve(), "/logs/verifier"),
    ]
    if entrypoint is not None:
        mounts.append(ops.Mount(entrypoint.resolve(), ops.RUNTIME_ENTRYPOINT, readonly=True))
    return ops.container_run(
        names,
        names.verifier,
        image,
        user="0",
        network="none",
        cpus=cpus,
        memory_mb=memory_mb,
        mounts=mounts,
        env=[("BAKECTL_WORKDIR", workdir)],
        entrypoint="sh",
        args=["-c", VERIFY_SCRIPT],
    )


def verify_artifacts(
    x: ops.Executor,
    names: ops.Names,
    image: str,
    *,
    workdir: str,
    artifacts: Path,
    tests: Path,
    rundir: RunDir,
    timeout: float,
    cpus: float | None = None,
    memory_mb: int | None = None,
    entrypoint: Path | None = None,
) -> Verification:
    """Run the verifier over `artifacts`; the container is gone when this returns."""
    v = Verification()
    started = time.monotonic()
    rundir.verifier_logs.mkdir(parents=True, exist_ok=True)
    step = verify_step(
        names,
        image,
        workdir=workdir,
        artifacts=artifacts,
        tests=tests,
        logs=rundir.verifier_logs,
        cpus=cpus,
        memory_mb=memory_mb,
        entrypoint=entrypoint,
    )
    try:
        res = x(step, phase="verifier")
        if not res.ok:
            v.error = f"the verifier container could not start: {res.last_error_line()}"
            return v
        v.exit_code, timed_out = ops.wait_bounded(x, names.verifier, timeout, "verifier")
        if timed_out:
            v.error = f"the verifier timed out after {timeout:g} s"
        x(ops.logs(names.verifier), phase="verifier", output=rundir.verifier_output)
    finally:
        # Also when `docker run` failed half-way, or on Ctrl-C: remove it by name.
        x(ops.remove_containers([names.verifier]), phase="cleanup")
        v.seconds = round(time.monotonic() - started, 3)
    if not v.error:
        v.reward, v.problem = read_reward(rundir.verifier_logs)
    return v


def score_record(logs: Path, reward: float | None, tests: Path) -> dict[str, Any]:
    """score.json: the reward, where it came from, the named scores, which tests made it."""
    source = next((n for n in ("reward.txt", "reward.json") if (logs / n).is_file()), None)
    scores = None
    if source == "reward.json":
        try:
            data = json.loads((logs / source).read_text(errors="replace"))
            scores = data if isinstance(data, dict) else None
        except ValueError:
            scores = None
    return {
        "reward": reward,
        "passed": reward is not None and reward >= PASS_THRESHOLD,
        "source": source,
        "scores": scores,
        "tests_sha256": hash_tree(tests),
    }


def status_of(v: Verification, agent_timed_out: bool, timeout_msg: str = "") -> tuple[str, str]:
    """(status, message), as phases.verdict decides it for container runs."""
    if v.error:
        return "error", v.error
    if v.reward is None:
        code = f" (verifier exit code {v.exit_code})" if v.exit_code else ""
        return "error", v.problem + code
    if agent_timed_out:
        return "timeout", timeout_msg or "the agent timed out"
    return ("passed", "") if v.reward >= PASS_THRESHOLD else ("failed", "")


# -- finding the task runs of a run ----------------------------------------------------------


def _task_run_in(attempt: Path) -> Path | None:
    """An attempt directory is a task run directory, or holds exactly one."""
    if (attempt / "run.json").is_file():
        return attempt
    subs = [d for d in sorted(attempt.iterdir()) if (d / "run.json").is_file()]
    return subs[-1] if subs else None


def task_runs(path: Path, tasks: list[str] | None = None) -> list[Path]:
    """The task run directories of RUN: itself, or each task's last attempt in a batch.

    A batch is `<out>/<batch_id>/batch.json` + `tasks/<task>/attempt-<k>/` (the attempt
    directory is the task run directory, or holds one)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"run {path} does not exist", "give a task run or batch directory")
    if (path / "batch.json").is_file():
        root = path / "tasks"
        found: list[Path] = []
        names = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
        for name in names:
            if tasks and name not in tasks:
                continue
            for _, attempt in reversed(attempt_dirs(root / name)):
                run = _task_run_in(Path(attempt))
                if run is not None:
                    found.append(run)
                    break
        if tasks:
            missing = sorted(set(tasks) - {_read(r / "run.json").get("task", "") for r in found})
            if missing:
                raise UsageError(
                    f"batch {path} has no kept run of task(s) {', '.join(missing)}",
                    f"its tasks: {', '.join(names) or 'none'}",
                )
        if not found:
            raise UsageError(f"batch {path} holds no task run yet", "wait for the batch to run")
        return found
    if (path / "run.json").is_file():
        run = _read(path / "run.json")
        if tasks and str(run.get("task")) not in tasks:
            raise UsageError(
                f"run {path} is task {run.get('task')!r}, not {', '.join(tasks)}",
                "drop --tasks for a single task run",
            )
        return [path]
    raise UsageError(
        f"{path} is not a run directory (no run.json, no batch.json)",
        "give a task run directory <out>/<run_id> or a batch directory <out>/<batch_id>",
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}", "is this a run bakectl wrote?") from None
    return data if isinstance(data, dict) else {}


# -- rescoring --------------------------------------------------------------------------------


@dataclass
class Rescore:
    run_dir: Path
    out_dir: Path | None
    benchmark: str
    task: str
    agent: str
    old_status: str | None
    old_reward: float | None
    status: str = "error"
    reward: float | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return (self.old_status, self.old_reward) != (self.status, self.reward)

    def line(self) -> str:
        """arith/1 x oracle: passed 1 -> failed 0 (changed) -> runs/<id>/rescore-.../"""

        def cell(status: str | None, reward: float | None) -> str:
            return f"{status or '-'}" + (f" {reward:g}" if reward is not None else "")

        out = f"{self.benchmark}/{self.task} x {self.agent}: "
        out += f"{cell(self.old_status, self.old_reward)} -> {cell(self.status, self.reward)}"
        if self.changed:
            out += " (changed)"
        if self.message and self.status not in ("passed", "failed"):
            out += f" [{self.message}]"
        if self.out_dir is not None:
            out += f" -> {self.out_dir}"
        return out


def _rescore_dir(run_dir: Path, now: datetime) -> Path:
    base = RESCORE_PREFIX + now.strftime("%Y%m%dT%H%M%SZ")
    cand, n = run_dir / base, 1
    while cand.exists():
        n += 1
        cand = run_dir / f"{base}-{n}"
    return cand


def _pick_image(x: ops.Executor, images: dict[str, Any], key: str) -> str | None:
    """The exact image that ran (by id) if the store still has it, else its ref."""
    ev = images.get(key) or {}
    for cand in (ev.get("id"), ev.get("ref")):
        if cand and x(ops.image_id(cand), phase="setup", record=False).ok:
            return cand
    return None


def rescore_run(catalog, run_dir: Path, *, echo: TextIO | None = sys.stderr) -> Rescore:
    """Score one task run directory again with the task's current tests/."""
    run_dir = Path(run_dir).resolve()
    run = _read(run_dir / "run.json")
    old = _read(run_dir / "result.json")
    bench_name, task_id = str(run.get("benchmark", "")), str(run.get("task", ""))
    if not bench_name or not task_id:
        raise UsageError(f"{run_dir}/run.json names no benchmark and task", "is this a task run?")
    bench = catalog.benchmark(bench_name)
    task = catalog.task(bench_name, task_id)
    rs = Rescore(
        run_dir=run_dir,
        out_dir=None,
        benchmark=bench_name,
        task=task_id,
        agent=str(run.get("agent", "?")),
        old_status=old.get("status", run.get("status")),
        old_reward=old.get("reward"),
    )
    artifacts = RunDir(run_dir).artifacts
    x = ops.Executor(echo=echo)
    # A local run (bakectl.runner.local) scored in the bare base image, with the
    # runtime's entrypoint mounted from the catalog.
    local = run.get("kind") == "local"
    key = "verifier" if local else "eval"
    entrypoint = catalog.core_dir / "entrypoint.sh" if local else None
    image = _pick_image(x, run.get("images") or {}, key)
    if image is None:
        ref = ((run.get("images") or {}).get(key) or {}).get("ref")
        raise UsageError(
            f"{run_dir}: its eval image {ref or '(not recorded)'} is not in docker's store",
            f"build it again: bakectl build eval {bench_name} --agent {rs.agent}"
            + ("" if bench.shared else f" --task-id {task_id}"),
        )
    if not artifacts.is_dir() or "agent" not in (run.get("exit_codes") or {}):
        raise UsageError(
            f"{run_dir}: its agent never ran, so it kept no artifacts to score",
            "run the task again: bakectl run ...",
        )
    started_at = datetime.now(UTC)
    out = _rescore_dir(run_dir, started_at)
    rid = f"{run.get('run_id') or run_dir.name}-{out.name}"
    names = ops.Names(rid)
    rd = RunDir(out)
    out.mkdir()
    limits = run.get("limits") or {}
    env = task.spec.environment
    v = Verification()
    interrupted = False
    try:
        with sigterm_interrupts():
            v = verify_artifacts(
                x,
                names,
                image,
                workdir=bench.spec.workdir,
                artifacts=artifacts,
                tests=task.tests_dir,
                rundir=rd,
                timeout=task.spec.verifier.timeout_sec,
                cpus=limits.get("cpus") or env.cpus,
                memory_mb=limits.get("memory_mb") or env.memory_mb,
                entrypoint=entrypoint,
            )
    except KeyboardInterrupt:
        interrupted = True
        v.error = "interrupted"
    except BakectlError as exc:
        v.error = exc.message
    timed_out = bool(run.get("agent_timed_out"))
    rs.status, rs.message = status_of(v, timed_out, old.get("message", ""))
    rs.reward = v.reward
    rs.out_dir = out
    result = {
        "run_id": rid,
        "benchmark": bench_name,
        "task": task_id,
        "agent": rs.agent,
        "model": run.get("model"),
        "status": rs.status,
        "reward": rs.reward,
        "passed": rs.status == "passed",
        "message": rs.message,
        "duration_sec": v.seconds,
        "rescore_of": {
            "run_id": run.get("run_id"),
            "status": rs.old_status,
            "reward": rs.old_reward,
        },
    }
    write_json(rd.result_json, result)
    write_json(out / "score.json", score_record(rd.verifier_logs, v.reward, task.tests_dir))
    write_json(
        rd.run_json,
        {
            "run_id": rid,
            "kind": "rescore",
            "rescore_of": run.get("run_id"),
            "bakectl_version": __version__,
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "benchmark": bench_name,
            "task": task_id,
            "agent": rs.agent,
            "images": {"verifier": {"ref": image}},
            "tests": str(task.tests_dir),
            "commands": x.records,
            "timings": {"verifier": v.seconds},
            "exit_codes": {"verifier": v.exit_code},
            "status": rs.status,
            "message": rs.message,
        },
    )
    if interrupted:
        raise KeyboardInterrupt
    return rs


def rescore_path(
    catalog,
    path: Path,
    tasks: list[str] | None = None,
    *,
    echo: TextIO | None = sys.stderr,
    on_row=None,
) -> list[Rescore]:
    """Rescore a task run directory, or every task's last attempt of a batch. In a batch, a
    task that cannot be rescored (its image is gone, its task left the catalog) is an
    error row and the others go on; a single run raises instead."""
    runs = task_runs(path, tasks)
    out: list[Rescore] = []
    for run_dir in runs:
        try:
            rs = rescore_run(catalog, run_dir, echo=echo)
        except UsageError as exc:
            if len(runs) == 1:
                raise
            run = _read(run_dir / "run.json")
            rs = Rescore(
                run_dir=run_dir,
                out_dir=None,
                benchmark=str(run.get("benchmark", "?")),
                task=str(run.get("task", run_dir.name)),
                agent=str(run.get("agent", "?")),
                old_status=run.get("status"),
                old_reward=None,
                message=exc.message,
            )
        out.append(rs)
        if on_row is not None:
            on_row(rs)
    return out
